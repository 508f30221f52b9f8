// `coder diag merge` over arbitrary report files: the input is up to four JSON documents separated by
// NUL bytes (which JSON text cannot hold). What MergeReports accepts must be what RunDiagMerge and the
// report writers can use: every run a valid record of a listed variant, renumbered uniquely, each
// record surviving its JSON round trip, and the merge of the merge the same runs.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.h"
#include "harness/analysis/run_record.h"
#include "harness/experiment/diag_merge.h"
#include "harness/report/merge.h"

namespace {

using coder::harness::RunRecord;
using nlohmann::json;

size_t RunsOf(const json& report) {
  const auto it = report.find("runs");
  return it != report.end() && it->is_array() ? it->size() : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<json> reports;
  while (reports.size() < 4) {
    const size_t nul = rest.find('\0');
    auto doc = json::parse(rest.substr(0, nul), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return 0;  // RunDiagMerge stops at "is not JSON"
    reports.push_back(std::move(doc));
    if (nul == std::string_view::npos) break;
    rest.remove_prefix(nul + 1);
  }

  const auto merged = coder::harness::MergeReports(reports);
  if (!merged) {
    FUZZ_CHECK(!merged.error().message.empty(), "an error without a message");
    return 0;
  }
  const json& m = *merged;
  FUZZ_CHECK(m.is_object() && m.value("schema", "") == "coder.diag.shutdown/v1", m.dump());
  FUZZ_CHECK(m["variants"].is_array() && m["runs"].is_array() && m["meta"].is_object(), "merged report shape");
  (void)m.dump();  // the report is written as text

  size_t expected_runs = 0;
  for (const json& r : reports) expected_runs += RunsOf(r);
  FUZZ_CHECK(m["runs"].size() == expected_runs,
             std::to_string(expected_runs) + " runs in, " + std::to_string(m["runs"].size()) + " merged");

  // What RunDiagMerge does next must succeed: every variant a spec, every run a record.
  std::set<std::string> names;
  for (const json& v : m["variants"]) {
    const auto spec = coder::harness::ReadReportedSpec(v.value("spec", json()));
    FUZZ_CHECK(static_cast<bool>(spec), "a merged variant without a valid spec: " + v.dump());
    FUZZ_CHECK(names.insert(spec->name).second, "variant listed twice: " + spec->name);
  }
  std::map<std::string, std::set<int>> indexes;
  for (const json& run : m["runs"]) {
    const auto record = RunRecord::FromJson(run);
    FUZZ_CHECK(record.has_value(), "a merged run is not a valid run record: " + run.dump());
    FUZZ_CHECK(names.count(record->variant) == 1, "a run of an unlisted variant: " + record->variant);
    FUZZ_CHECK(indexes[record->variant].insert(record->index).second, "index repeated in " + record->variant);
    FUZZ_CHECK(run["source"].is_number_unsigned() && run["source"].get<size_t>() < reports.size(), run.dump());
    // The record as the report writes it reads back as the same record, also through text.
    const auto again = RunRecord::FromJson(record->ToJson());
    FUZZ_CHECK(again && *again == *record, "record does not survive ToJson/FromJson: " + run.dump());
    const auto through_text = RunRecord::FromJson(json::parse(record->ToJson().dump()));
    FUZZ_CHECK(through_text && *through_text == *record, "record does not survive its text: " + run.dump());
  }
  for (const auto& [name, seen] : indexes)
    FUZZ_CHECK(!seen.empty() && *seen.begin() == 0 && *seen.rbegin() == static_cast<int>(seen.size()) - 1,
               "indexes of " + name + " are not 0..n-1");

  // Merging the merged report alone keeps its variants and runs.
  const auto again = coder::harness::MergeReports({m});
  FUZZ_CHECK(again.ok(), "the merged report does not merge: " + again.error().message);
  FUZZ_CHECK((*again)["runs"].size() == m["runs"].size() && (*again)["variants"].size() == m["variants"].size(),
             "re-merging changed the report");
  return 0;
}
