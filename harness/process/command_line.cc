#include "harness/process/command_line.h"

#include <fmt/format.h>

#include <cstring>

namespace coder::harness {

Result<std::vector<std::string>> SplitCommandLine(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      const size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos) return Error{fmt::format("unterminated ' in: {}", text)};
      word.append(text.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
    } else if (c == '"') {
      in_word = true;
      size_t j = i + 1;
      for (; j < text.size() && text[j] != '"'; ++j) {
        if (text[j] == '\\' && j + 1 < text.size() && std::strchr("\"\\$`", text[j + 1]) != nullptr) ++j;
        word.push_back(text[j]);
      }
      if (j >= text.size()) return Error{fmt::format("unterminated \" in: {}", text)};
      i = j;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return Error{fmt::format("trailing backslash in: {}", text)};
      word.push_back(text[++i]);
      in_word = true;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

}  // namespace coder::harness
