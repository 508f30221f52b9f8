#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_dump.h"
#include "common/result.h"
#include "harness/analysis/run_record.h"
#include "harness/analysis/stats.h"
#include "harness/report/report_document.h"
#include "harness/report/report_sections.h"
#include "harness/report/run_store.h"

namespace coder::harness {

// ---- Formatting helpers (pure functions; thread-safe) ----

/// Binary units for humans: below 1 KiB exact bytes ("512B"); KiB and MiB with one decimal below 100
/// ("9.5MiB", "12.3KiB") and none from 100 ("512KiB"); GiB and TiB with two decimals below 10
/// ("7.60GiB"), one below 100 ("17.0GiB"), none from 100.
std::string FormatBytes(uint64_t bytes);
/// A millisecond measurement through coder::FormatDuration: "1.20ms", "850µs", "10.004s".
std::string FormatMs(double ms);
/// Terminal columns a UTF-8 string occupies, counting one per code point ("µs" is 2). Enough for
/// the text these reports print (no wide or combining characters).
size_t DisplayWidth(std::string_view utf8);
using coder::DumpJson;  // a target's log lines can hold any bytes

// ---- Summary table ----

/// A fixed-width plain-text table for terminals and CI logs (ASCII except µ in durations), one row per
/// variant in the given order. Columns: variant, gate ("gated", "baseline" or "-"), runs, outcomes
/// (non-zero counts, most severe first: "4 timeout-fingerprint, 1 slow"), latency min/p50/p95/p99/max,
/// ready p50, tree peak RSS p50/max, dominant step ("websocket-wait 10.000s", its mean), fingerprints
/// ("5 websocket-shutdown-timeout"; last because it is the only unbounded column). A value that was
/// not measured is "-"; a latency statistic that censored values (watchdog kills) reach is a lower
/// bound, written ">= 30.005s", and a note under the table says so. Column widths come from the content,
/// so a row of the built-in matrix without fingerprints fits in about 150 columns.
///
/// Then, when any variant has a fixed tail, a block naming it per variant ("stops cluster at 3.002s
/// (8 of 10 runs within 21.0ms)").
///
/// The dominant step column only when `sections.dominant_step`; then, when `sections.held_slots`, a
/// block listing per variant with findings the wait-group slots its timeout lines named ("none named"
/// if none, for a `builtin_server` variant only: another target's variant without slots is left out). Every cell is
/// TerminalSafe. Every line ends with '\n'; no trailing spaces. A ratio for humans: "12.3x", "0.98x", and "1/8337x" far
/// below 1 (a decimal would be all zeros).
std::string FormatRatio(double ratio);

std::string RenderSummaryTable(const std::vector<VariantSummary>& summaries, const ReportSections& sections);
/// With the sections ChooseSections picks for these summaries alone.
std::string RenderSummaryTable(const std::vector<VariantSummary>& summaries);

// ---- JSON report ----

/// The whole report as JSON, schema `meta.schema` (documented in docs/report-schema.md):
/// {"schema", "meta", "variants": [{"spec", "summary"}...], "runs": [...]}. Variants keep the order
/// of `variants`; each summary is matched by name (null if `summaries` has none for it). `runs` are
/// written in the given order, all of them. Pure function.
nlohmann::json ReportJson(const ReportMeta& meta, const std::vector<VariantSpec>& variants,
                          const std::vector<VariantSummary>& summaries, const std::vector<RunRecord>& runs);

/// The spec as it appears in the report: {"name", "argv", "builtin_server", "gated", "baseline",
/// "known_timeout_ms" (null when unknown), "labels" (an object of strings, {} when none)}.
nlohmann::json VariantSpecJson(const VariantSpec& spec);

/// Writes `report` (indented, newline-terminated) atomically with coder::WriteFileAtomically, mode
/// 0644: a reader sees the previous file or the whole new one. The Error names the path.
Status WriteReportJson(const std::filesystem::path& path, const nlohmann::json& report);
/// The same document from its outline (everything but `runs`) and its runs, which are read one at a
/// time and written as they are read, so the file can be larger than memory. The text is what
/// WriteReportJson writes for the whole document.
Status WriteReportJson(const std::filesystem::path& path, const nlohmann::json& outline, const RunSource& runs);

// ---- JSON lines, one run per line ----

/// Whether `path` names one of this process's own descriptors (/dev/stdout, /dev/stderr, /dev/fd/N,
/// /proc/self/fd/N): the only symbolic links the JSON lines file may be opened through.
bool IsOwnDescriptorPath(const std::filesystem::path& path);

/// An append-only JSON-lines file of run records: every line is exactly one RunRecord::ToJson()
/// object (no header line, no trailer), so `jq -c` or any line reader consumes it as is.
///
/// Each Append is written straight to the descriptor with write(2) (no user-space buffer) before it
/// returns, so a record is in the file once Append returns even if the harness is SIGKILLed right
/// after; it is not fsync'ed (it survives the process, not a machine crash). Thread-safe: appends are
/// serialised by a mutex and never interleave. The descriptor closes with the object.
class JsonlWriter {
 public:
  /// Creates or truncates `path` (mode 0644, O_APPEND, close-on-exec). A symbolic link at `path` is an
  /// Error (never written through), except one of this process's own descriptors (IsOwnDescriptorPath),
  /// which is appended to and never truncated. The Error names the path and the reason (a missing or
  /// unwritable directory, a directory at that path).
  static Result<std::unique_ptr<JsonlWriter>> Open(const std::filesystem::path& path);
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;
  ~JsonlWriter();

  /// Appends one line. On a write error the Error names the path; a partial line may then be left,
  /// which readers skip as unparseable.
  Status Append(const RunRecord& record);
  const std::filesystem::path& path() const { return path_; }

 private:
  JsonlWriter(std::filesystem::path path, int fd, bool regular) : path_(std::move(path)), fd_(fd), regular_(regular) {}

  const std::filesystem::path path_;
  std::mutex mu_;
  const int fd_;
  const bool regular_;  // a regular file, whose torn last line can be cut off
};

}  // namespace coder::harness
