#include "harness/report/merge.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "harness/analysis/run_record.h"
#include "harness/analysis/stats.h"
#include "harness/report/report_document.h"

namespace coder::harness {
namespace {

using nlohmann::json;

constexpr std::string_view kSchema = kReportSchemaV1;

std::string Which(size_t i, size_t n) { return fmt::format("report {} of {}", i + 1, n); }

bool HasLabels(const json& spec) { return spec.contains("labels") && !spec["labels"].is_null(); }

std::string DifferingKeys(const json& a, const json& b) {
  std::set<std::string> keys;
  for (const auto& [k, _] : a.items()) keys.insert(k);
  for (const auto& [k, _] : b.items()) keys.insert(k);
  std::string out;
  for (const std::string& k : keys)
    if (!a.contains(k) || !b.contains(k) || a[k] != b[k]) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// The built-in server's argv[0] is the coder binary that ran it, whose absolute path differs between
// CI checkouts of one commit: for such a variant, the command is the rest of argv. A report written
// before variants carried labels has none, and the labels follow from the command anyway: they are
// compared only when both specs have them.
json ComparableSpec(const json& spec, const json& other) {
  json out = spec;
  if (!HasLabels(spec) || !HasLabels(other)) out.erase("labels");
  const auto builtin = out.find("builtin_server");
  const auto argv = out.find("argv");
  if (builtin != out.end() && builtin->is_boolean() && builtin->get<bool>() && argv != out.end() && argv->is_array() &&
      !argv->empty())
    argv->erase(argv->begin());
  return out;
}

struct MergedVariant {
  json spec;
  VariantSpec parsed;
  size_t first_input = 0;
  std::vector<RunRecord> runs;
};

struct Merger {
  const std::vector<json>& reports;
  std::vector<MergedVariant> variants;  // in order of first appearance
  json runs = json::array();

  MergedVariant* Find(const std::string& name) {
    for (MergedVariant& v : variants)
      if (v.parsed.name == name) return &v;
    return nullptr;
  }

  // `document` is reports[i] as ReadReportDocument read it: its specs are valid.
  Status AddVariants(size_t i, const ReportDocument& document, std::set<std::string>& listed) {
    const json& entries = reports[i]["variants"];
    for (size_t k = 0; k < document.variants.size(); ++k) {
      const json* spec = &entries[k]["spec"];
      const VariantSpec* parsed = &document.variants[k].spec;
      listed.insert(parsed->name);
      if (MergedVariant* known = Find(parsed->name)) {
        const json a = ComparableSpec(known->spec, *spec), b = ComparableSpec(*spec, known->spec);
        if (a != b)
          return Error{fmt::format(
              "variant \"{}\" has different specs in {} and {} ({} differ): only runs of the same "
              "command can be merged",
              parsed->name, Which(known->first_input, reports.size()), Which(i, reports.size()), DifferingKeys(a, b))};
        if (!HasLabels(known->spec) && HasLabels(*spec)) {
          known->spec["labels"] = (*spec)["labels"];
          known->parsed.labels = parsed->labels;
        }
        continue;
      }
      variants.push_back({.spec = *spec, .parsed = *parsed, .first_input = i});
    }
    return Ok{};
  }

  // Renumbers per variant: the runs of input i follow those of earlier inputs, by original index.
  Result<size_t> AddRuns(size_t i, const std::set<std::string>& listed) {
    const json& report = reports[i];
    const auto it = report.find("runs");
    if (it == report.end() || it->is_null()) return size_t{0};
    if (!it->is_array()) return Error{Which(i, reports.size()) + ": \"runs\" is not an array"};
    std::vector<RunRecord> records;
    for (size_t k = 0; k < it->size(); ++k) {
      auto record = RunRecord::FromJson((*it)[k]);
      if (!record) return Error{fmt::format("{}: runs[{}] is not a valid run record", Which(i, reports.size()), k)};
      if (!listed.count(record->variant))
        return Error{fmt::format("{}: runs[{}] is of variant \"{}\", which that report does not list",
                                 Which(i, reports.size()), k, record->variant)};
      records.push_back(std::move(*record));
    }
    // New index = runs of the variant from earlier inputs + rank of the original index in this input.
    std::map<std::string, std::vector<size_t>> order;
    for (size_t k = 0; k < records.size(); ++k) order[records[k].variant].push_back(k);
    std::vector<int> new_index(records.size());
    for (auto& [name, positions] : order) {
      std::stable_sort(positions.begin(), positions.end(),
                       [&](size_t a, size_t b) { return records[a].index < records[b].index; });
      const size_t offset = Find(name)->runs.size();
      for (size_t rank = 0; rank < positions.size(); ++rank)
        new_index[positions[rank]] = static_cast<int>(offset + rank);
    }
    for (size_t k = 0; k < records.size(); ++k) {
      json run = (*it)[k];
      run["source"] = i;
      run["source_index"] = records[k].index;
      run["index"] = new_index[k];
      records[k].index = new_index[k];
      runs.push_back(std::move(run));
    }
    // The summaries see each variant's runs in document order, as a direct report's would.
    const size_t count = records.size();
    for (RunRecord& r : records) Find(r.variant)->runs.push_back(std::move(r));
    return count;
  }
};

Status CheckSchema(const json& report, size_t i, size_t n) {
  if (!report.is_object()) return Error{Which(i, n) + ": not a JSON object, so not a coder diag shutdown report"};
  const auto it = report.find("schema");
  if (it == report.end() || !it->is_string())
    return Error{fmt::format("{}: no \"schema\" string, so not a {} report", Which(i, n), kSchema)};
  if (it->get<std::string>() != kSchema)
    return Error{fmt::format("{}: schema \"{}\" is not {}, which this version reads", Which(i, n),
                             it->get<std::string>(), kSchema)};
  return Ok{};
}

std::string StringOf(const json& m, const char* key) {
  const auto it = m.find(key);
  return it != m.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// What the inputs' metas add up to, one input at a time.
struct MetaTotals {
  std::string started_at;    ///< the earliest
  double wall_seconds = 0;   ///< the longest
  bool interrupted = false;  ///< whether any was
  int exit_code = 0;         ///< the highest
  std::set<std::string> versions;
  bool same_options = true;              ///< whether every input's options are report 1's
  std::string per_input;                 ///< each input's run count, comma-separated
  std::vector<std::string> input_notes;  ///< each input's notes, prefixed with its report's number

  /// Adds input `i`, whose meta is `m` (an object) and whose runs numbered `run_count`; `first` is report 1's meta.
  void Add(size_t i, const json& m, const json& first, size_t run_count) {
    if (const std::string s = StringOf(m, "started_at"); !s.empty() && (started_at.empty() || s < started_at))
      started_at = s;  // RFC 3339 UTC strings of one format sort as their times do
    if (auto it = m.find("wall_seconds"); it != m.end() && it->is_number())
      wall_seconds = std::max(wall_seconds, it->get<double>());
    if (auto it = m.find("interrupted"); it != m.end() && it->is_boolean()) interrupted |= it->get<bool>();
    if (auto it = m.find("exit_code"); it != m.end() && it->is_number_integer())
      exit_code = std::max(exit_code, it->get<int>());
    if (const std::string v = StringOf(m, "coder_version"); !v.empty()) versions.insert(v);
    if (m.value("options", json::object()) != first.value("options", json::object())) same_options = false;
    per_input += fmt::format("{}{}", i ? ", " : "", run_count);
    if (auto it = m.find("notes"); it != m.end() && it->is_array())
      for (const json& note : *it)
        if (note.is_string()) input_notes.push_back(fmt::format("report {}: {}", i + 1, note.get<std::string>()));
  }
};

/// The merged report's notes: how it was merged, what of report 1's meta stands for all, then every input's own.
std::vector<std::string> MergedNotes(const std::vector<json>& reports, const MetaTotals& totals) {
  std::vector<std::string> notes{
      fmt::format("merged {} reports; runs from each, in order: {}", reports.size(), totals.per_input)};
  if (totals.versions.size() > 1) {
    std::string list;
    for (const std::string& v : totals.versions) list += (list.empty() ? "" : ", ") + v;
    notes.push_back(
        fmt::format("the reports were written by different coder versions ({}); coder_version is report 1's", list));
  }
  if (!totals.same_options) notes.push_back("the reports were run with different options; meta.options is report 1's");
  const bool had_budget = std::any_of(reports.begin(), reports.end(), [](const json& r) {
    const auto it = r.find("budget");
    return it != r.end() && !it->is_null();
  });
  if (had_budget)
    notes.push_back(
        "budget dropped: runs from different machines or shards share no clock, so their RSS timelines "
        "cannot be summed; each report's own budget still holds for its machine");
  notes.insert(notes.end(), totals.input_notes.begin(), totals.input_notes.end());
  return notes;
}

json MergeMeta(const std::vector<json>& reports, const std::vector<size_t>& run_counts) {
  const json empty = json::object();
  auto meta_of = [&](size_t i) -> const json& {
    const auto it = reports[i].find("meta");
    return it != reports[i].end() && it->is_object() ? *it : empty;
  };
  const json& first = meta_of(0);
  MetaTotals totals;
  for (size_t i = 0; i < reports.size(); ++i) totals.Add(i, meta_of(i), first, run_counts[i]);

  const auto command_line = first.find("command_line");
  const auto options = first.find("options");
  return json{
      {"coder_version", StringOf(first, "coder_version")},
      {"started_at", totals.started_at},
      {"wall_seconds", totals.wall_seconds},
      {"command_line", command_line != first.end() && command_line->is_array() ? *command_line : json::array()},
      {"options", options != first.end() && options->is_object() ? *options : json::object()},
      {"interrupted", totals.interrupted},
      {"exit_code", totals.exit_code},
      {"notes", MergedNotes(reports, totals)},
  };
}

}  // namespace

Result<json> MergeReports(const std::vector<json>& reports) {
  if (reports.empty()) return Error{"no reports to merge"};
  Merger merger{.reports = reports};
  std::vector<size_t> run_counts;
  for (size_t i = 0; i < reports.size(); ++i) {
    if (auto ok = CheckSchema(reports[i], i, reports.size()); !ok) return ok.error();
    // Strict, as every reader of a report is: a bad key is named, never read as absent.
    const auto document = ReadReportDocument(reports[i]);
    if (!document) return Error{fmt::format("{}: {}", Which(i, reports.size()), document.error().message)};
    std::set<std::string> listed;
    if (auto ok = merger.AddVariants(i, *document, listed); !ok) return ok.error();
    auto added = merger.AddRuns(i, listed);
    if (!added) return added.error();
    run_counts.push_back(*added);
  }
  json variants = json::array();
  for (const MergedVariant& v : merger.variants)
    variants.push_back({{"spec", v.spec}, {"summary", SummarizeVariant(v.parsed, v.runs).ToJson()}});
  return json{
      {"schema", kSchema},
      {"meta", MergeMeta(reports, run_counts)},
      {"variants", std::move(variants)},
      {"runs", std::move(merger.runs)},
      {"budget", nullptr},
      {"comparisons", nullptr},
      {"gate", nullptr},
  };
}

}  // namespace coder::harness
