#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/terminal_text.h"
#include "harness/report/report.h"

namespace coder::harness {

struct TableColumn {
  std::string header;
  bool right_aligned = false;
  std::string group;  ///< columns with the same non-empty group share a "--- group ---" label above
};

/// A plain-text table whose columns are sized to their content. Two spaces between columns, one inside a group, so a
/// group's numbers read as one block.
class TextTable {
 public:
  explicit TextTable(std::vector<TableColumn> columns) : columns_(std::move(columns)) {}
  /// Cells may hold a target's text (held slots, step names): each is made TerminalSafe.
  void AddRow(std::vector<std::string> cells) {
    for (std::string& cell : cells) cell = TerminalSafe(cell);
    rows_.push_back(std::move(cells));
  }

  std::string Render(std::string_view indent = "", bool headers = true) const {
    std::vector<size_t> width(columns_.size());
    for (size_t c = 0; c < columns_.size(); ++c) {
      width[c] = headers ? DisplayWidth(columns_[c].header) : 0;
      for (const auto& row : rows_) width[c] = std::max(width[c], DisplayWidth(row[c]));
    }
    std::string out;
    if (headers && HasGroups()) out += GroupLine(width, indent);
    if (headers) out += Line(width, indent, [&](size_t c) { return columns_[c].header; });
    for (const auto& row : rows_) out += Line(width, indent, [&](size_t c) { return row[c]; });
    return out;
  }

 private:
  bool InGroupWithPrevious(size_t c) const {
    return c > 0 && !columns_[c].group.empty() && columns_[c].group == columns_[c - 1].group;
  }
  size_t Separator(size_t c) const { return c == 0 ? 0 : InGroupWithPrevious(c) ? 1 : 2; }
  bool HasGroups() const {
    return std::any_of(columns_.begin(), columns_.end(), [](const TableColumn& c) { return !c.group.empty(); });
  }

  template <class Cell>
  std::string Line(const std::vector<size_t>& width, std::string_view indent, Cell cell) const {
    std::string line(indent);
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string text = cell(c);
      const std::string pad(width[c] - DisplayWidth(text), ' ');
      line.append(Separator(c), ' ');
      line += columns_[c].right_aligned ? pad + text : text + pad;
    }
    return TrimRight(std::move(line));
  }

  // Widens a column when its group label does not fit (with one dash on each side for a group of several).
  std::string GroupLine(std::vector<size_t>& width, std::string_view indent) const {
    std::string line(indent);
    for (size_t c = 0; c < columns_.size();) {
      line.append(Separator(c), ' ');
      size_t end = c + 1;
      while (end < columns_.size() && InGroupWithPrevious(end)) ++end;
      if (columns_[c].group.empty()) {
        line.append(width[c], ' ');
      } else if (end == c + 1) {
        // A group of one needs no dashes to show its extent.
        const std::string& label = columns_[c].group;
        width[c] = std::max(width[c], DisplayWidth(label));
        const std::string pad(width[c] - DisplayWidth(label), ' ');
        line += columns_[c].right_aligned ? pad + label : label + pad;
      } else {
        const std::string label = " " + columns_[c].group + " ";
        size_t span = 0;
        for (size_t k = c; k < end; ++k) span += width[k] + (k > c ? Separator(k) : 0);
        if (span < label.size() + 2) {
          width[end - 1] += label.size() + 2 - span;
          span = label.size() + 2;
        }
        const size_t left = (span - label.size()) / 2;
        line += std::string(left, '-') + label + std::string(span - label.size() - left, '-');
      }
      c = end;
    }
    return TrimRight(std::move(line));
  }

  static std::string TrimRight(std::string line) {
    line.erase(line.find_last_not_of(' ') + 1);
    return line + "\n";
  }

  std::vector<TableColumn> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace coder::harness
