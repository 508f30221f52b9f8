#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "harness/analysis/budget.h"
#include "harness/analysis/compare.h"
#include "harness/analysis/gate.h"
#include "harness/analysis/recurrence.h"
#include "harness/analysis/run_record.h"
#include "harness/analysis/stats.h"

namespace coder::harness {

/// The one report model. The harness fills a ReportDocument once; the JSON file is its serialisation
/// (ReportDocumentJson), and reading a file back (ReadReportDocument) is strict: a required key that is
/// missing or of another type is an Error that names it. The runs are not in the document: they stream
/// from a RunSource (harness/report/run_store.h), so a report can be larger than memory.
///
/// The schema is versioned (docs/report-schema.md maps every member to its key). Keys are added within a
/// version (a reader ignores keys it does not know, and reads a key added within the version as absent
/// in an older file); renaming, removing or changing the meaning of one makes a new version.
inline constexpr std::string_view kReportSchemaV1 = "coder.diag.shutdown/v1";

struct ReportMeta {
  std::string schema = std::string(kReportSchemaV1);
  std::string coder_version;
  std::string started_at;  ///< RFC 3339 UTC, e.g. "2026-11-24T04:19:37.265Z"
  double wall_seconds = 0;
  std::vector<std::string> command_line;
  nlohmann::json options = nlohmann::json::object();  ///< the effective options, as the CLI records them
  bool interrupted = false;
  int exit_code = 0;
  std::vector<std::string> notes;
  bool operator==(const ReportMeta&) const = default;
};

/// One planned variant and what its runs summed to (no summary only if the harness produced none).
struct ReportVariant {
  VariantSpec spec;
  std::optional<VariantSummary> summary;
};

/// One variant's runs analysed as a schedule of their own.
struct VariantBudget {
  std::string variant;
  BudgetAnalysis measured;
  std::optional<BudgetAnalysis> projected;
};

/// The overlapping-tail memory analysis (`budget`).
struct ReportBudget {
  std::optional<uint64_t> budget_bytes;      ///< --memory-budget
  std::optional<uint64_t> assume_rss_bytes;  ///< --assume-rss
  BudgetAnalysis measured;                   ///< all runs as they ran
  std::optional<BudgetAnalysis> projected;   ///< the same schedule, every target at assume_rss_bytes
  std::vector<VariantBudget> variants;
};

/// What decided the exit code (`gate`).
struct ReportGate {
  std::set<FindingKind> fail_on;
  int exit_code = 0;
  std::vector<Finding> findings;
};

/// One `--history` check: has `selector` stopped recurring in `variant` since `since`?
struct HistoryVerdict {
  std::string selector;  ///< "fingerprint" or "outcome"
  std::string name;      ///< the fingerprint or the outcome
  std::string variant;
  std::string since;     ///< as given: a commit prefix or a time
  std::string since_at;  ///< the time it names (canonical UTC)
  RecurrenceCheck check;
  std::string sentence;  ///< RecurrenceSentence: the verdict as one sentence
};

/// What `--history` did (docs/history.md): the runs it ingested and its checks.
struct ReportHistory {
  std::string location;  ///< the history, a URI without its password
  uint64_t added = 0;    ///< runs this report added to it
  uint64_t already = 0;  ///< runs it held already
  std::vector<HistoryVerdict> verdicts;
};

/// "stopped", "still-recurring", "not-enough-evidence".
std::string_view ToString(RecurrenceVerdict verdict);

/// The report without its runs. A plain value type.
struct ReportDocument {
  ReportMeta meta;
  std::vector<ReportVariant> variants;  ///< in the order they were planned
  std::optional<ReportBudget> budget;   ///< when the memory was analysed
  /// One per non-baseline variant with a baseline; absent without a baseline (or in a merged report,
  /// until the merging tool recomputes them).
  std::optional<std::vector<Comparison>> comparisons;
  std::optional<ReportGate> gate;        ///< absent in a merged report until recomputed
  std::optional<ReportHistory> history;  ///< with --history

  /// The variant named `name`, or nullptr.
  const ReportVariant* FindVariant(std::string_view name) const;
};

/// The document as JSON, without `runs` (the outline WriteReportJson streams the runs into): every key
/// of docs/report-schema.md, an absent value as null. Pure function.
nlohmann::json ReportDocumentJson(const ReportDocument& document);

/// Reads a report's outline (any `runs` key is ignored: see ReadReportRuns). Strict: `schema` must be
/// kReportSchemaV1 (another version is an Error saying which this harness reads), and a required key
/// missing, null where the schema does not allow it, or of another type is an Error naming its path and
/// what was expected ("variants[1].summary.latency_ms.p50: a number or null, found a string"). Keys
/// added within v1 may be absent (docs/report-schema.md lists them). Unknown keys are ignored.
/// ReadReportDocument(ReportDocumentJson(d)) gives back d. Pure function; thread-safe.
Result<ReportDocument> ReadReportDocument(const nlohmann::json& report);

/// One variant's `spec` object, read as ReadReportDocument reads it (errors name "spec.KEY"). A spec
/// written before variants carried labels reads with none. Pure function; thread-safe.
Result<VariantSpec> ReadVariantSpec(const nlohmann::json& spec);

/// A report's `runs`, each read with RunRecord::FromJson; an entry that is not a valid run record is an
/// Error naming it ("runs[4]: ..."). A missing `runs` is an Error; an empty one is no runs.
Result<std::vector<RunRecord>> ReadReportRuns(const nlohmann::json& report);

}  // namespace coder::harness
