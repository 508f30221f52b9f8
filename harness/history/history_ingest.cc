#include "harness/history/history_ingest.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>

#include "common/file_util.h"
#include "common/time_format.h"
#include "harness/report/report_view.h"

namespace coder::harness {
namespace {

Result<ReportFileRuns> ReadJsonLines(const std::filesystem::path& path, const std::string& text) {
  ReportFileRuns out;
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    ++line_number;
    if (end == std::string::npos) {
      // The harness ends every line it writes: a last line without its newline was cut by a failed write.
      return Error{
          fmt::format("{} line {}: cut off (no end of line): the report is incomplete", path.string(), line_number)};
    }
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded())
      return Error{fmt::format("{} line {}: not valid JSON (cut off or corrupt)", path.string(), line_number)};
    auto run = RunRecord::FromJson(json);
    if (!run) return Error{fmt::format("{} line {}: not a run record", path.string(), line_number)};
    out.runs.push_back(std::move(*run));
  }
  return out;
}

}  // namespace

Result<ReportFileRuns> ReadReportFileRuns(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  if (!text) return text.error();
  auto json = nlohmann::json::parse(*text, nullptr, false);
  // A document is one object with a schema; anything else is read as JSON lines, one run a line (a file
  // of one run record also parses as one object, without a schema).
  if (json.is_discarded() || !json.is_object() || !json.contains("schema")) return ReadJsonLines(path, *text);
  auto report = ReadWholeReport(json);
  if (!report) return Error{fmt::format("{}: {}", path.string(), report.error().message)};
  ReportFileRuns out;
  out.started_at = report->document.meta.started_at;
  out.runs = report->runs.runs();
  return out;
}

RunOrigin OriginFromEnvironment(RunOrigin given, const std::function<const char*(const char*)>& env) {
  auto get = [&](const char* name) -> std::string {
    const char* value = env ? env(name) : std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
  };
  auto first = [&](std::string& field, std::initializer_list<const char*> names) {
    for (const char* name : names) {
      if (!field.empty()) return;
      field = get(name);
    }
  };
  first(given.commit, {"GITHUB_SHA", "CI_COMMIT_SHA"});
  first(given.branch, {"GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"});
  first(given.runner, {"RUNNER_NAME", "CI_RUNNER_DESCRIPTION"});
  first(given.ci_run_id, {"GITHUB_RUN_ID", "CI_PIPELINE_ID"});
  if (given.job_url.empty()) {
    const std::string server = get("GITHUB_SERVER_URL"), repository = get("GITHUB_REPOSITORY"),
                      run = get("GITHUB_RUN_ID");
    if (!server.empty() && !repository.empty() && !run.empty())
      given.job_url = fmt::format("{}/{}/actions/runs/{}", server, repository, run);
    else given.job_url = get("CI_JOB_URL");
  }
  // Commits are compared by prefix, in lower case.
  for (char& c : given.commit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return given;
}

Result<IngestCounts> IngestReportFile(HistoryStore& store, const std::filesystem::path& path, RunOrigin origin) {
  auto report = ReadReportFileRuns(path);
  if (!report) return report.error();
  if (origin.at.empty()) origin.at = report->started_at;
  if (origin.at.empty()) origin.at = Rfc3339Utc(std::chrono::system_clock::now(), true);
  auto counts = store.Ingest(origin, report->runs);
  if (!counts) return Error{fmt::format("{}: {}", path.string(), counts.error().message)};
  return counts;
}

}  // namespace coder::harness
