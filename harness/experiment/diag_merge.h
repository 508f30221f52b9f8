#pragma once

#include <map>
#include <string>
#include <vector>

#include "harness/experiment/diag_report.h"

namespace coder::harness {

/// `coder diag merge` inputs: report files from several machines or CI shards, and what to write.
struct MergeConfig {
  std::vector<std::filesystem::path> inputs;
  ReportOptions report;  ///< analyse_budget is forced off: runs of different machines share no clock
};

/// Reads and merges the reports (MergeReports), then reports the merged experiment exactly as
/// `coder diag shutdown` would: table, comparisons, gate, JSON/JUnit/Markdown. Returns its exit code, or
/// 2 when an input cannot be read or does not merge, or when one report is given twice (one file by two
/// paths, or two files with the same meta.started_at and the same runs): its runs would count double.
int RunDiagMerge(const MergeConfig& config, const std::vector<std::string>& command_line);

/// The labels a variant's command states, for a spec read from a report written before variants carried
/// labels: a built-in server's from its argv (builtin::LabelsFromArgv), a user's target `target=NAME`.
std::map<std::string, std::string> LabelsFromCommand(const VariantSpec& spec);

/// The inverse of VariantSpecJson, strict as the report reader is (ReadVariantSpec: a missing or
/// mistyped key is an Error naming it). A spec without `labels` (a report written before variants
/// carried them) gets the labels its command states (LabelsFromCommand).
Result<VariantSpec> ReadReportedSpec(const nlohmann::json& spec);

}  // namespace coder::harness
