#include "harness/report/report.h"

#include <utility>

#include "common/file_util.h"

namespace coder::harness {

using nlohmann::json;

json VariantSpecJson(const VariantSpec& spec) {
  return json{
      {"name", spec.name},
      {"argv", spec.argv},
      {"builtin_server", spec.builtin_server},
      {"gated", spec.gated},
      {"baseline", spec.baseline},
      {"known_timeout_ms", spec.known_timeout_ms ? json(*spec.known_timeout_ms) : json(nullptr)},
  };
}

json ReportJson(const ReportMeta& meta, const std::vector<VariantSpec>& variants,
                const std::vector<VariantSummary>& summaries, const std::vector<RunRecord>& runs) {
  json variant_list = json::array();
  for (const VariantSpec& spec : variants) {
    json summary = nullptr;
    for (const VariantSummary& s : summaries) {
      if (s.variant == spec.name) {
        summary = s.ToJson();
        break;
      }
    }
    variant_list.push_back({{"spec", VariantSpecJson(spec)}, {"summary", std::move(summary)}});
  }
  json run_list = json::array();
  for (const RunRecord& r : runs) run_list.push_back(r.ToJson());
  return json{
      {"schema", meta.schema},
      {"meta",
       {
           {"coder_version", meta.coder_version},
           {"started_at", meta.started_at},
           {"wall_seconds", meta.wall_seconds},
           {"command_line", meta.command_line},
           {"options", meta.options.is_null() ? json::object() : meta.options},
           {"interrupted", meta.interrupted},
           {"exit_code", meta.exit_code},
           {"notes", meta.notes},
       }},
      {"variants", std::move(variant_list)},
      {"runs", std::move(run_list)},
  };
}

Status WriteReportJson(const std::filesystem::path& path, const json& report) {
  return WriteFileAtomically(path, DumpJson(report, 2) + "\n", 0644);
}

}  // namespace coder::harness
