#include "harness/analysis/run_output.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/terminal_text.h"
#include "harness/analysis/hang_verdict.h"

namespace coder::harness {
namespace {

constexpr size_t kMaxShownLineBytes = 400;

// Cut at a code-point boundary so the U+FFFD pass leaves the text as it was.
std::string CutLine(std::string text) {
  if (text.size() <= kMaxShownLineBytes) return text;
  size_t cut = kMaxShownLineBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  const size_t more = text.size() - cut;
  text.resize(cut);
  return text + fmt::format(" ... [{} more bytes]", more);
}

std::string RunName(const RunRecord& r) { return fmt::format("{} #{}", TerminalSafe(r.variant), r.index); }

}  // namespace

bool EchoesOutputWhenItEnds(Outcome o) {
  return o == Outcome::kFailedToStart || o == Outcome::kCrashed || o == Outcome::kNeverReady;
}

bool ShowsOutputBeforeAHang(Outcome o) {
  return o == Outcome::kKilledByWatchdog || o == Outcome::kTimeoutFingerprint || o == Outcome::kSlow ||
         o == Outcome::kCrashed;
}

std::vector<std::string> LastOutputLines(const RunRecord& r, size_t max_lines, bool with_times) {
  std::vector<std::string> out;
  if (!r.log) {
    const size_t first = r.log_tail.size() > max_lines ? r.log_tail.size() - max_lines : 0;
    for (size_t i = first; i < r.log_tail.size(); ++i)
      out.push_back((with_times ? "        | " : "| ") + TerminalSafe(CutLine(r.log_tail[i])));
    return out;
  }
  const auto& lines = r.log->lines;
  const size_t first = lines.size() > max_lines ? lines.size() - max_lines : 0;
  for (size_t i = first; i < lines.size(); ++i) {
    const LogLine& l = lines[i];
    const std::string tagged =
        fmt::format("{}| {}", l.stream == 2 ? "stderr" : "stdout", TerminalSafe(CutLine(l.text)));
    out.push_back(with_times ? fmt::format("{:+.3f}s {}", l.t_ms / 1e3, tagged) : tagged);
  }
  return out;
}

std::string LogClockPhrase(const RunRecord& r) {
  if (!r.log) return "untimed (no log in the record)";
  return r.log->clock == LogClock::kSignal ? "from the stop signal" : "from the launch (never signalled)";
}

std::optional<std::string> FailedRunEcho::OnRunFinished(const RunRecord& r) {
  if (!EchoesOutputWhenItEnds(r.outcome)) return std::nullopt;
  {
    std::lock_guard lock(mu_);
    if (!echoed_.insert(r.variant).second) return std::nullopt;
  }
  const auto lines = LastOutputLines(r, kLines, false);
  const uint64_t total = r.log_lines;
  std::string head = fmt::format("coder diag shutdown: {} {}", RunName(r), ToString(r.outcome));
  if (!r.detail.empty()) head += fmt::format(" ({})", TerminalSafe(r.detail));
  if (lines.empty()) return head + "; it printed nothing\n";
  std::string out =
      head + (lines.size() < total ? fmt::format("; its last {} of {} lines of output:\n", lines.size(), total)
                                   : fmt::format("; its output:\n"));
  for (const std::string& line : lines) out += "  " + line + "\n";
  return out;
}

void FirstHangPerVariant::Add(const RunRecord& run) {
  if (!ShowsOutputBeforeAHang(run.outcome)) return;
  auto [it, added] = first_.try_emplace(run.variant, run);
  if (!added && run.index < it->second.index) it->second = run;
}

std::vector<const RunRecord*> FirstHangPerVariant::InOrder(const std::vector<std::string>& variant_order) const {
  std::vector<const RunRecord*> shown;
  for (const std::string& variant : variant_order)
    if (auto it = first_.find(variant); it != first_.end()) shown.push_back(&it->second);
  return shown;
}

std::string HangOutputNotes(const std::vector<std::string>& variant_order, const std::vector<RunRecord>& runs,
                            size_t max_lines) {
  FirstHangPerVariant hangs;
  for (const RunRecord& r : runs) hangs.Add(r);
  return HangOutputNotes(variant_order, hangs, max_lines);
}

std::string HangOutputNotes(const std::vector<std::string>& variant_order, const FirstHangPerVariant& hangs,
                            size_t max_lines) {
  const auto shown = hangs.InOrder(variant_order);
  if (shown.empty()) return "";
  std::string out = "\nLast output before the stop went wrong, first such run per variant:\n";
  for (const RunRecord* r : shown) {
    out += fmt::format("  {} {}{}, times {}:\n", RunName(*r), ToString(r->outcome),
                       r->detail.empty() ? "" : " (" + TerminalSafe(r->detail) + ")", LogClockPhrase(*r));
    const auto lines = LastOutputLines(*r, max_lines, true);
    if (lines.empty()) out += "    (no output)\n";
    for (const std::string& line : lines) out += "    " + line + "\n";
    if (r->hang)
      for (const std::string& line : WhereItHungLines(*r->hang, r->stacks)) out += "    " + TerminalSafe(line) + "\n";
  }
  return out;
}

}  // namespace coder::harness
