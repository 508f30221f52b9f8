#include "harness/history/history_ingest.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>

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

std::optional<std::string> CanonicalUtc(std::string_view text) {
  auto number = [&](size_t from, size_t n) -> std::optional<int> {
    if (from + n > text.size()) return std::nullopt;
    int value = 0;
    for (size_t i = from; i < from + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  if (!year || !month || !day || text[4] != '-' || text[7] != '-') return std::nullopt;
  // The clock's nanoseconds overflow past 2262, and nothing ran before 1970: a year outside is a typo.
  if (*year < 1970 || *year > 2200) return std::nullopt;
  std::tm fields{};
  fields.tm_year = *year - 1900;
  fields.tm_mon = *month - 1;
  fields.tm_mday = *day;
  int millis = 0;
  long offset_seconds = 0;
  if (text.size() != 10) {
    auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
    if (text[10] != 'T' || !hour || !minute || !second || text[13] != ':' || text[16] != ':') return std::nullopt;
    fields.tm_hour = *hour;
    fields.tm_min = *minute;
    fields.tm_sec = *second;
    size_t at = 19;
    if (at < text.size() && text[at] == '.') {
      size_t digits = 0;
      for (++at; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])); ++at, ++digits)
        if (digits < 3) millis = millis * 10 + (text[at] - '0');
      if (digits == 0) return std::nullopt;
      for (; digits < 3; ++digits) millis *= 10;
    }
    if (at + 1 == text.size() && text[at] == 'Z') {
    } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
      auto oh = number(at + 1, 2), om = number(at + 4, 2);
      if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
      offset_seconds = (text[at] == '+' ? 1 : -1) * (*oh * 3600L + *om * 60L);
    } else {
      return std::nullopt;
    }
  }
  // timegm normalises out-of-range fields (February 30 becomes March 2): an impossible time is one that
  // does not come back as given.
  const std::tm given = fields;
  const time_t seconds = timegm(&fields);
  if (seconds == static_cast<time_t>(-1) || fields.tm_year != given.tm_year || fields.tm_mon != given.tm_mon ||
      fields.tm_mday != given.tm_mday || fields.tm_hour != given.tm_hour || fields.tm_min != given.tm_min ||
      fields.tm_sec != given.tm_sec)
    return std::nullopt;
  const auto utc = std::chrono::system_clock::from_time_t(seconds - offset_seconds) + std::chrono::milliseconds(millis);
  return Rfc3339Utc(utc, true);
}

Result<IngestOutcome> IngestReportFile(HistoryStore& store, const std::filesystem::path& path, RunOrigin origin) {
  IngestOutcome outcome;
  auto report = ReadReportFileRuns(path);
  if (!report) {
    outcome.refused = report.error();
    return outcome;
  }
  if (origin.at.empty() && !report->started_at.empty()) {
    auto at = CanonicalUtc(report->started_at);
    if (!at) {
      outcome.refused = Error{
          fmt::format("{}: meta.started_at: not an RFC 3339 time, found \"{}\"", path.string(), report->started_at)};
      return outcome;
    }
    origin.at = *at;
  }
  if (origin.at.empty()) origin.at = Rfc3339Utc(std::chrono::system_clock::now(), true);
  auto counts = store.Ingest(origin, report->runs);
  if (!counts) return Error{fmt::format("{}: {}", path.string(), counts.error().message)};
  outcome.counts = *counts;
  return outcome;
}

}  // namespace coder::harness
