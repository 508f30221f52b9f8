#include "harness/report/report.h"

#include <fmt/format.h>

#include <random>
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
      {"labels", spec.labels},
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

Status WriteReportJson(const std::filesystem::path& path, const json& outline, const RunSource& runs) {
  // The outline is dumped with a marker where `runs` goes (keys keep their sorted order), and the runs
  // are written in its place one by one, indented as the whole document's dump would indent them. The
  // marker holds a random nonce, so no string of the outline (a target's argv) can be taken for it.
  const std::string marker =
      fmt::format("\x01coder-runs-{:08x}{:08x}\x01", std::random_device{}(), std::random_device{}());
  const std::string dumped_marker = DumpJson(json(marker));
  json with_marker = outline;
  with_marker["runs"] = marker;
  const std::string text = DumpJson(with_marker, 2);
  const size_t at = text.find(dumped_marker);
  if (at == std::string::npos)
    return Error{fmt::format("writing {}: the report outline lost its runs marker", path.string())};
  auto file = AtomicFileWriter::Open(path, 0644);
  if (!file) return file.error();
  if (auto ok = file->Write(std::string_view(text).substr(0, at)); !ok) return ok;
  size_t written = 0;
  auto ok = runs.ForEach([&](const RunRecord& r) -> Status {
    std::string run = DumpJson(r.ToJson(), 2);
    std::string indented = written++ == 0 ? "[\n    " : ",\n    ";
    for (char c : run) {
      indented += c;
      if (c == '\n') indented += "    ";
    }
    return file->Write(indented);
  });
  if (!ok) return Error{fmt::format("writing {}: {}", path.string(), ok.error().message)};
  if (auto done = file->Write(written == 0 ? "[]" : "\n  ]"); !done) return done;
  if (auto done = file->Write(std::string_view(text).substr(at + dumped_marker.size())); !done) return done;
  if (auto done = file->Write("\n"); !done) return done;
  return file->Commit();
}

}  // namespace coder::harness
