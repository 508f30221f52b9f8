#include "harness/experiment/diag_merge.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "common/file_util.h"
#include "harness/analysis/exit_codes.h"
#include "harness/builtin/builtin_server.h"
#include "harness/report/merge.h"
#include "harness/report/report_document.h"
#include "harness/report/report_view.h"

namespace coder::harness {
namespace {

// One report given twice, as one file or as two copies, would count its runs twice: the reason, or empty.
std::string SameReport(const std::filesystem::path& a_path, const nlohmann::json& a,
                       const std::filesystem::path& b_path, const nlohmann::json& b) {
  std::error_code ec;
  if (std::filesystem::equivalent(a_path, b_path, ec) && !ec)
    return fmt::format("{} and {} are the same file: a report can be merged once", a_path.string(), b_path.string());
  if (!a.is_object() || !b.is_object()) return "";
  const auto started = [](const nlohmann::json& r) {
    const auto meta = r.find("meta");
    return meta != r.end() && meta->is_object() ? meta->value("started_at", nlohmann::json()) : nlohmann::json();
  };
  const auto runs = [](const nlohmann::json& r) { return r.value("runs", nlohmann::json()); };
  if (started(a) != started(b) || runs(a) != runs(b)) return "";
  return fmt::format("{} and {} are the same report (started at {}, the same runs): a report can be merged once",
                     a_path.string(), b_path.string(), started(a).is_string() ? started(a).get<std::string>() : "?");
}

}  // namespace

std::map<std::string, std::string> LabelsFromCommand(const VariantSpec& spec) {
  return spec.builtin_server ? builtin::LabelsFromArgv(spec.argv)
                             : std::map<std::string, std::string>{{kTargetLabel, spec.name}};
}

Result<VariantSpec> ReadReportedSpec(const nlohmann::json& spec) {
  auto read = ReadVariantSpec(spec);
  if (read && !spec.contains("labels")) read->labels = LabelsFromCommand(*read);
  return read;
}

int RunDiagMerge(const MergeConfig& config, const std::vector<std::string>& command_line) {
  std::vector<nlohmann::json> reports;
  for (const auto& path : config.inputs) {
    auto text = ReadFile(path);
    if (!text) {
      fmt::print(stderr, "coder diag merge: {}\n", text.error().message);
      return kDiagUsage;
    }
    auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      fmt::print(stderr, "coder diag merge: {} is not JSON\n", path.string());
      return kDiagUsage;
    }
    reports.push_back(std::move(j));
  }
  for (size_t i = 0; i < reports.size(); ++i) {
    for (size_t k = i + 1; k < reports.size(); ++k) {
      if (const std::string same = SameReport(config.inputs[i], reports[i], config.inputs[k], reports[k]);
          !same.empty()) {
        fmt::print(stderr, "coder diag merge: {}\n", same);
        return kDiagUsage;
      }
    }
  }
  auto merged = MergeReports(reports);
  if (!merged) {
    fmt::print(stderr, "coder diag merge: {}\n", merged.error().message);
    return kDiagUsage;
  }
  // The merged report is read back as any report is, strictly: what MergeReports wrote must be a valid
  // document (a failure here is the harness's own bug, exit 3).
  auto read = ReadWholeReport(*merged);
  if (!read) {
    fmt::print(stderr, "coder diag merge: the merged report: {}\n", read.error().message);
    return kDiagHarnessFailed;
  }
  const ReportDocument* document = &read->document;
  Experiment e;
  // The specs were read strictly with the document; read again for the labels an older report lacks.
  for (const nlohmann::json& v : (*merged)["variants"]) e.variants.push_back(*ReadReportedSpec(v["spec"]));
  // A merge reads its inputs whole (MergeReports), so its runs are in memory already.
  e.runs = std::make_shared<InMemoryRuns>(std::move(read->runs));
  e.meta = document->meta;
  e.meta.command_line = command_line;
  e.meta.interrupted = false;
  e.meta.exit_code = 0;
  ReportOptions options = config.report;
  options.analyse_budget = false;
  // A merge of partial reports is a complete verdict over what was measured; say that some were partial.
  if (document->meta.interrupted) e.meta.notes.push_back("some merged reports were interrupted (partial)");
  return ReportExperiment(std::move(e), options);
}

}  // namespace coder::harness
