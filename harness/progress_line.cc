#include "harness/report.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace coder::harness {
namespace {

constexpr size_t kDefaultTerminalWidth = 80;

size_t TerminalWidth(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return kDefaultTerminalWidth;
}

// A line as wide as the terminal makes it wrap (and "\r" then rewrites only the last row), so cut
// one column short, at a code-point boundary.
std::string CutToWidth(std::string text, size_t columns) {
  size_t width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (++width > columns) {
      text.resize(i);
      break;
    }
  }
  return text;
}

// "gateway=on order=patched #2: clean in 1.20ms"
std::string RunSummary(const RunRecord& r) {
  std::string out = fmt::format("{} #{}: {}", r.variant, r.index, ToString(r.outcome));
  if (r.latency_ms) out += " in " + FormatMs(*r.latency_ms);
  return out;
}

}  // namespace

ProgressLine::ProgressLine(int fd, bool is_terminal, size_t total_runs)
    : fd_(fd), is_terminal_(is_terminal), total_(total_runs) {}

void ProgressLine::RunFinished(const RunRecord& r) {
  std::lock_guard lock(mu_);
  ++done_;
  ++outcomes_[r.outcome];
  const std::string progress = fmt::format("[{}/{}]", done_, total_);
  if (!is_terminal_) {
    std::string line = progress + " " + RunSummary(r);
    if (r.tree_peak_rss_bytes > 0) line += ", peak RSS " + FormatBytes(r.tree_peak_rss_bytes);
    if (r.outcome != Outcome::kClean && !r.detail.empty()) line += " (" + r.detail + ")";
    WriteAll(line + "\n");
    return;
  }
  std::string counts;
  for (const auto& [outcome, n] : outcomes_) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, ToString(outcome));
  const std::string line = fmt::format("{} {} | last {}", progress, counts, RunSummary(r));
  WriteAll("\r\x1b[K" + CutToWidth(line, TerminalWidth(fd_) - 1));
  line_open_ = true;
}

void ProgressLine::Finish() {
  std::lock_guard lock(mu_);
  if (!line_open_) return;
  WriteAll("\n");
  line_open_ = false;
}

void ProgressLine::WriteAll(std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd_, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace coder::harness
