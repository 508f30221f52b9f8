#include "harness/report/report_document.h"

#include <fmt/format.h>

#include <limits>
#include <map>
#include <utility>

#include "harness/report/report.h"

namespace coder::harness {
namespace {

using nlohmann::json;

// ---- Writing ----

json GateDocumentJson(const ReportGate& gate) { return GateJson(gate.fail_on, gate.findings, gate.exit_code); }

json BudgetDocumentJson(const ReportBudget& b) {
  json out = BudgetJson(b.budget_bytes, b.assume_rss_bytes, b.measured, b.projected);
  json variants = json::array();
  for (const VariantBudget& v : b.variants)
    variants.push_back({{"variant", v.variant},
                        {"measured", v.measured.ToJson()},
                        {"projected", v.projected ? v.projected->ToJson() : json(nullptr)}});
  out["variants"] = std::move(variants);
  return out;
}

json RateJson(const Proportion& p, const RateInterval& interval) {
  return {{"hits", p.hits}, {"runs", p.runs}, {"lower", interval.lower}, {"upper", interval.upper}};
}

json HistoryDocumentJson(const ReportHistory& h) {
  json verdicts = json::array();
  for (const HistoryVerdict& v : h.verdicts) {
    const RecurrenceCheck& c = v.check;
    verdicts.push_back({{"selector", v.selector},
                        {"name", v.name},
                        {"variant", v.variant},
                        {"since", v.since},
                        {"since_at", v.since_at},
                        {"verdict", ToString(c.verdict)},
                        {"before", RateJson(c.before, c.before_interval)},
                        {"after", RateJson(c.since, c.since_interval)},
                        {"p_value", c.p_value},
                        {"confidence", c.confidence},
                        {"more_clean_runs", c.more_clean_runs ? json(*c.more_clean_runs) : json(nullptr)},
                        {"sentence", v.sentence}});
  }
  return {{"location", h.location}, {"added", h.added}, {"already", h.already}, {"verdicts", std::move(verdicts)}};
}

// ---- Reading ----

// Thrown inside the reader only, caught by ReadReportDocument: the reader is a tree of small functions,
// and every one of them can meet a bad key.
struct SchemaError {
  std::string message;
};

std::string Found(const json& v) {
  if (v.is_null()) return "null";
  const std::string_view type = v.type_name();
  return fmt::format("{} {}", type.front() == 'a' || type.front() == 'o' ? "an" : "a", type);
}

[[noreturn]] void Fail(const std::string& path, std::string_view expected, const json& found) {
  throw SchemaError{fmt::format("{}: {}, found {}", path, expected, Found(found))};
}

[[noreturn]] void Missing(const std::string& path, std::string_view expected) {
  throw SchemaError{fmt::format("{}: {}, missing", path, expected)};
}

std::string Key(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}
std::string Index(const std::string& path, size_t i) { return fmt::format("{}[{}]", path, i); }

/// One object of the document, at `path`: its members are read through it, each error naming the
/// member's path.
class Node {
 public:
  Node(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) Fail(path_.empty() ? "the report" : path_, "an object", j_);
  }

  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view key) const { return Key(path_, key); }

  /// The member, which must be present (it may be null).
  const json& Required(std::string_view key, std::string_view expected) const {
    const auto it = j_.find(key);
    if (it == j_.end()) Missing(PathOf(key), expected);
    return *it;
  }
  /// The member, or nullptr when absent (a key added within the version) or null.
  const json* Added(std::string_view key) const {
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  Node Object(std::string_view key) const { return Node(Required(key, "an object"), PathOf(key)); }
  std::optional<Node> ObjectOrNull(std::string_view key) const {
    const json& v = Required(key, "an object or null");
    if (v.is_null()) return std::nullopt;
    if (!v.is_object()) Fail(PathOf(key), "an object or null", v);
    return Node(v, PathOf(key));
  }
  std::string String(std::string_view key) const {
    const json& v = Required(key, "a string");
    if (!v.is_string()) Fail(PathOf(key), "a string", v);
    return v.get<std::string>();
  }
  bool Bool(std::string_view key) const {
    const json& v = Required(key, "a boolean");
    if (!v.is_boolean()) Fail(PathOf(key), "a boolean", v);
    return v.get<bool>();
  }
  double Number(std::string_view key) const { return NumberAt(Required(key, "a number"), PathOf(key)); }
  std::optional<double> NumberOrNull(std::string_view key) const {
    const json& v = Required(key, "a number or null");
    if (v.is_null()) return std::nullopt;
    if (!v.is_number()) Fail(PathOf(key), "a number or null", v);
    return v.get<double>();
  }
  uint64_t Count(std::string_view key) const { return CountAt(Required(key, "a non-negative integer"), PathOf(key)); }
  std::optional<uint64_t> CountOrNull(std::string_view key) const {
    const json& v = Required(key, "a non-negative integer or null");
    if (v.is_null()) return std::nullopt;
    return CountAt(v, PathOf(key));
  }
  int Int(std::string_view key) const {
    const json& v = Required(key, "an integer");
    if (!v.is_number_integer() || v.get<int64_t>() < std::numeric_limits<int>::min() ||
        v.get<int64_t>() > std::numeric_limits<int>::max())
      Fail(PathOf(key), "an integer", v);
    return v.get<int>();
  }
  std::vector<std::string> Strings(std::string_view key) const {
    const json& v = Required(key, "an array of strings");
    return StringsAt(v, PathOf(key));
  }
  /// The elements of the array member, each with its path.
  std::vector<std::pair<const json*, std::string>> Array(std::string_view key) const {
    const json& v = Required(key, "an array");
    if (!v.is_array()) Fail(PathOf(key), "an array", v);
    std::vector<std::pair<const json*, std::string>> out;
    for (size_t i = 0; i < v.size(); ++i) out.emplace_back(&v[i], Index(PathOf(key), i));
    return out;
  }
  /// A name → count object.
  std::map<std::string, size_t> Counts(std::string_view key) const {
    const Node counts = Object(key);
    std::map<std::string, size_t> out;
    for (const auto& [name, v] : counts.j_.items()) out.emplace(name, CountAt(v, counts.PathOf(name)));
    return out;
  }

  static double NumberAt(const json& v, const std::string& path) {
    if (!v.is_number()) Fail(path, "a number", v);
    return v.get<double>();
  }
  static uint64_t CountAt(const json& v, const std::string& path) {
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
      Fail(path, "a non-negative integer", v);
    return v.get<uint64_t>();
  }
  static std::vector<std::string> StringsAt(const json& v, const std::string& path) {
    if (!v.is_array()) Fail(path, "an array of strings", v);
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) Fail(Index(path, i), "a string", v[i]);
      out.push_back(v[i].get<std::string>());
    }
    return out;
  }

  const json& raw() const { return j_; }

 private:
  const json& j_;
  std::string path_;
};

VariantSpec ReadSpec(const Node& n) {
  VariantSpec spec;
  spec.name = n.String("name");
  spec.argv = n.Strings("argv");
  spec.builtin_server = n.Bool("builtin_server");
  spec.gated = n.Bool("gated");
  spec.baseline = n.Bool("baseline");
  if (auto t = n.NumberOrNull("known_timeout_ms")) spec.known_timeout_ms = *t;
  if (const json* labels = n.Added("labels")) {  // added within v1 (issue 13)
    const Node l(*labels, n.PathOf("labels"));
    for (const auto& [key, value] : labels->items()) {
      if (!value.is_string()) Fail(l.PathOf(key), "a string", value);
      spec.labels.emplace(key, value.get<std::string>());
    }
  }
  return spec;
}

Distribution ReadDistribution(const Node& n) {
  Distribution d;
  d.n = n.Count("n");
  double* stats[] = {&d.min, &d.p50, &d.p95, &d.p99, &d.max, &d.mean};
  const char* names[] = {"min", "p50", "p95", "p99", "max", "mean"};
  for (size_t i = 0; i < std::size(names); ++i) {
    const auto v = n.NumberOrNull(names[i]);
    if (d.n > 0 && !v) Fail(n.PathOf(names[i]), "a number (n > 0)", n.raw()[names[i]]);
    *stats[i] = v.value_or(0);
  }
  // Added within v1 (issue 11): absent in older files means nothing censored.
  if (const json* c = n.Added("censored")) d.censored = Node::CountAt(*c, n.PathOf("censored"));
  if (const json* lb = n.Added("lower_bounds")) d.lower_bounds = Node::StringsAt(*lb, n.PathOf("lower_bounds"));
  return d;
}

FixedTail ReadFixedTail(const Node& n) {
  return FixedTail{.ms = n.Number("ms"),
                   .low_ms = n.Number("low_ms"),
                   .high_ms = n.Number("high_ms"),
                   .window_ms = n.Number("window_ms"),
                   .runs = n.Count("runs"),
                   .of = n.Count("of")};
}

VariantSummary ReadSummary(const Node& n, const VariantSpec& spec) {
  VariantSummary s;
  s.variant = n.String("variant");
  s.gated = n.Bool("gated");
  s.baseline = n.Bool("baseline");
  s.builtin_server = spec.builtin_server;
  s.runs = n.Count("runs");
  const Node outcomes = n.Object("outcomes");
  for (const auto& [name, count] : outcomes.raw().items()) {
    const auto outcome = OutcomeFromString(name);
    if (!outcome) throw SchemaError{fmt::format("{}: an outcome name, found \"{}\"", outcomes.PathOf(name), name)};
    const uint64_t c = Node::CountAt(count, outcomes.PathOf(name));
    if (c > 0) s.outcomes[*outcome] = c;
  }
  s.findings = n.Count("findings");
  s.latency_ms = ReadDistribution(n.Object("latency_ms"));
  s.ready_ms = ReadDistribution(n.Object("ready_ms"));
  s.tree_peak_rss_bytes = ReadDistribution(n.Object("tree_peak_rss_bytes"));
  s.kernel_peak_rss_bytes = ReadDistribution(n.Object("kernel_peak_rss_bytes"));
  s.fingerprints = n.Counts("fingerprints");
  if (auto step = n.ObjectOrNull("dominant_step"))
    s.dominant_step = StepTiming{step->String("name"), step->Number("ms")};
  s.held_slots = n.Counts("held_slots");
  if (const json* tail = n.Added("fixed_tail")) s.fixed_tail = ReadFixedTail(Node(*tail, n.PathOf("fixed_tail")));
  if (const json* traffic = n.Added("traffic"); traffic && !traffic->is_null()) {  // added within v1 (issue 14)
    s.traffic = TrafficSummary::FromJson(*traffic);
    if (!s.traffic) Fail(n.PathOf("traffic"), "a traffic summary (docs/report-schema.md)", *traffic);
  }
  return s;
}

BudgetAnalysis ReadBudgetAnalysis(const Node& n) {
  BudgetAnalysis b;
  b.peak_total_bytes = n.Count("peak_total_bytes");
  b.peak_total_at_ms = n.Number("peak_total_at_ms");
  b.peak_tail_bytes = n.Count("peak_tail_bytes");
  b.time_over_budget_ms = n.Number("time_over_budget_ms");
  b.over_budget = n.Bool("over_budget");
  b.mean_live = n.Number("mean_live");
  b.arrival_rate_per_s = n.Number("arrival_rate_per_s");
  b.mean_lifetime_ms = n.Number("mean_lifetime_ms");
  b.mean_tail_ms = n.Number("mean_tail_ms");
  b.tail_share = n.Number("tail_share");
  b.window_ms = n.Number("window_ms");
  for (const auto& [point, path] : n.Array("timeline")) {
    if (!point->is_array() || point->size() != 4) Fail(path, "an array [t_ms, total_bytes, tail_bytes, live]", *point);
    const uint64_t live = Node::CountAt((*point)[3], Index(path, 3));
    if (live > static_cast<uint64_t>(std::numeric_limits<int>::max()))
      Fail(Index(path, 3), "a live count", (*point)[3]);
    b.timeline.push_back({Node::NumberAt((*point)[0], Index(path, 0)), Node::CountAt((*point)[1], Index(path, 1)),
                          Node::CountAt((*point)[2], Index(path, 2)), static_cast<int>(live)});
  }
  return b;
}

std::optional<BudgetAnalysis> ReadBudgetAnalysisOrNull(const Node& n, std::string_view key) {
  if (auto a = n.ObjectOrNull(key)) return ReadBudgetAnalysis(*a);
  return std::nullopt;
}

ReportBudget ReadBudget(const Node& n) {
  ReportBudget b;
  b.budget_bytes = n.CountOrNull("budget_bytes");
  b.assume_rss_bytes = n.CountOrNull("assume_rss_bytes");
  b.measured = ReadBudgetAnalysis(n.Object("measured"));
  b.projected = ReadBudgetAnalysisOrNull(n, "projected");
  if (n.Added("variants"))
    for (const auto& [v, path] : n.Array("variants")) {
      const Node vn(*v, path);
      b.variants.push_back(
          {vn.String("variant"), ReadBudgetAnalysis(vn.Object("measured")), ReadBudgetAnalysisOrNull(vn, "projected")});
    }
  return b;
}

std::optional<RatioEstimate> ReadRatio(const Node& n, std::string_view key) {
  const auto r = n.ObjectOrNull(key);
  if (!r) return std::nullopt;
  RatioEstimate e;
  // An infinite end is written as null (JSON has no infinity).
  constexpr double kInf = std::numeric_limits<double>::infinity();
  e.ratio = r->NumberOrNull("ratio").value_or(kInf);
  e.ci_low = r->NumberOrNull("ci_low").value_or(kInf);
  e.ci_high = r->NumberOrNull("ci_high").value_or(kInf);
  e.method = r->String("method");
  if (const json* bound = r->Added("bound")) {  // added within v1 (issue 11)
    if (!bound->is_string()) Fail(r->PathOf("bound"), "a string", *bound);
    using Bound = RatioEstimate::Bound;
    bool known = false;
    for (Bound b : {Bound::kEstimate, Bound::kLowerBound, Bound::kUpperBound, Bound::kIndeterminate})
      if (ToString(b) == bound->get<std::string>()) {
        e.bound = b;
        known = true;
      }
    if (!known) Fail(r->PathOf("bound"), "estimate, lower_bound, upper_bound or indeterminate", *bound);
  }
  return e;
}

Comparison ReadComparison(const Node& n) {
  Comparison c;
  c.variant = n.String("variant");
  c.baseline = n.String("baseline");
  c.p50_ratio = ReadRatio(n, "p50_ratio");
  c.p95_ratio = ReadRatio(n, "p95_ratio");
  c.timeout_rate = n.Number("timeout_rate");
  c.baseline_timeout_rate = n.Number("baseline_timeout_rate");
  c.peak_rss_ratio = n.NumberOrNull("peak_rss_ratio");
  c.suite_stops = n.Int("suite_stops");
  c.suite_shutdown_seconds = n.Number("suite_shutdown_seconds");
  c.baseline_suite_shutdown_seconds = n.Number("baseline_suite_shutdown_seconds");
  // Added within v1 (issue 11).
  if (n.Added("suite_shutdown_lower_bound")) c.suite_shutdown_lower_bound = n.Bool("suite_shutdown_lower_bound");
  if (n.Added("baseline_suite_shutdown_lower_bound"))
    c.baseline_suite_shutdown_lower_bound = n.Bool("baseline_suite_shutdown_lower_bound");
  c.regression = n.Bool("regression");
  return c;
}

FindingKind ReadFindingKind(const json& v, const std::string& path) {
  if (!v.is_string()) Fail(path, "a finding kind", v);
  const auto kind = FindingKindFromString(v.get<std::string>());
  if (!kind) throw SchemaError{fmt::format("{}: a finding kind, found \"{}\"", path, v.get<std::string>())};
  return *kind;
}

ReportGate ReadGate(const Node& n) {
  ReportGate g;
  for (const auto& [kind, path] : n.Array("fail_on")) g.fail_on.insert(ReadFindingKind(*kind, path));
  g.exit_code = n.Int("exit_code");
  for (const auto& [f, path] : n.Array("findings")) {
    const Node fn(*f, path);
    Finding finding{.variant = fn.String("variant"),
                    .kind = ReadFindingKind(fn.Required("kind", "a finding kind"), fn.PathOf("kind")),
                    .message = fn.String("message"),
                    .gated = fn.Bool("gated")};
    const json& run = fn.Required("run", "an integer or null");
    if (!run.is_null()) finding.run = fn.Int("run");
    g.findings.push_back(std::move(finding));
  }
  return g;
}

RecurrenceVerdict ReadRecurrenceVerdict(const Node& n) {
  const std::string text = n.String("verdict");
  for (RecurrenceVerdict v :
       {RecurrenceVerdict::kStopped, RecurrenceVerdict::kStillRecurring, RecurrenceVerdict::kNotEnoughEvidence})
    if (ToString(v) == text) return v;
  throw SchemaError{fmt::format("{}: a verdict (stopped, still-recurring, not-enough-evidence), found \"{}\"",
                                n.PathOf("verdict"), text)};
}

void ReadRate(const Node& n, Proportion& p, RateInterval& interval) {
  p.hits = n.Count("hits");
  p.runs = n.Count("runs");
  interval.lower = n.Number("lower");
  interval.upper = n.Number("upper");
}

ReportHistory ReadHistory(const Node& n) {
  ReportHistory h;
  h.location = n.String("location");
  h.added = n.Count("added");
  h.already = n.Count("already");
  for (const auto& [v, path] : n.Array("verdicts")) {
    const Node vn(*v, path);
    HistoryVerdict verdict{.selector = vn.String("selector"),
                           .name = vn.String("name"),
                           .variant = vn.String("variant"),
                           .since = vn.String("since"),
                           .since_at = vn.String("since_at")};
    RecurrenceCheck& c = verdict.check;
    c.verdict = ReadRecurrenceVerdict(vn);
    ReadRate(vn.Object("before"), c.before, c.before_interval);
    ReadRate(vn.Object("after"), c.since, c.since_interval);
    c.p_value = vn.Number("p_value");
    c.confidence = vn.Number("confidence");
    c.more_clean_runs = vn.CountOrNull("more_clean_runs");
    verdict.sentence = vn.String("sentence");
    h.verdicts.push_back(std::move(verdict));
  }
  return h;
}

ReportMeta ReadMeta(const Node& n, std::string schema) {
  ReportMeta m;
  m.schema = std::move(schema);
  m.coder_version = n.String("coder_version");
  m.started_at = n.String("started_at");
  m.wall_seconds = n.Number("wall_seconds");
  m.command_line = n.Strings("command_line");
  m.options = n.Object("options").raw();
  m.interrupted = n.Bool("interrupted");
  m.exit_code = n.Int("exit_code");
  m.notes = n.Strings("notes");
  return m;
}

ReportDocument ReadDocument(const json& report) {
  const Node root(report, "");
  const json& schema = root.Required("schema", "a string");
  if (!schema.is_string()) Fail("schema", "a string", schema);
  if (schema.get<std::string>() != kReportSchemaV1)
    throw SchemaError{fmt::format("schema: \"{}\" is not a version this harness reads (it reads \"{}\")",
                                  schema.get<std::string>(), kReportSchemaV1)};
  ReportDocument d;
  d.meta = ReadMeta(root.Object("meta"), schema.get<std::string>());
  for (const auto& [v, path] : root.Array("variants")) {
    const Node vn(*v, path);
    ReportVariant variant{.spec = ReadSpec(vn.Object("spec"))};
    if (auto summary = vn.ObjectOrNull("summary")) variant.summary = ReadSummary(*summary, variant.spec);
    d.variants.push_back(std::move(variant));
  }
  // Added within v1 (issue 4): each absent or null when not computed.
  if (const json* b = root.Added("budget")) d.budget = ReadBudget(Node(*b, "budget"));
  if (root.Added("comparisons")) {
    d.comparisons.emplace();
    for (const auto& [c, path] : root.Array("comparisons")) d.comparisons->push_back(ReadComparison(Node(*c, path)));
  }
  if (const json* g = root.Added("gate")) d.gate = ReadGate(Node(*g, "gate"));
  // Added within v1 (issue 16).
  if (const json* h = root.Added("history")) d.history = ReadHistory(Node(*h, "history"));
  return d;
}

}  // namespace

std::string_view ToString(RecurrenceVerdict verdict) {
  switch (verdict) {
    case RecurrenceVerdict::kStopped: return "stopped";
    case RecurrenceVerdict::kStillRecurring: return "still-recurring";
    case RecurrenceVerdict::kNotEnoughEvidence: return "not-enough-evidence";
  }
  return "?";
}

const ReportVariant* ReportDocument::FindVariant(std::string_view name) const {
  for (const ReportVariant& v : variants)
    if (v.spec.name == name) return &v;
  return nullptr;
}

json ReportDocumentJson(const ReportDocument& d) {
  std::vector<VariantSpec> specs;
  std::vector<VariantSummary> summaries;
  for (const ReportVariant& v : d.variants) {
    specs.push_back(v.spec);
    if (v.summary) summaries.push_back(*v.summary);
  }
  json report = ReportJson(d.meta, specs, summaries, {});
  report.erase("runs");
  report["budget"] = d.budget ? BudgetDocumentJson(*d.budget) : json(nullptr);
  if (d.comparisons) {
    json list = json::array();
    for (const Comparison& c : *d.comparisons) list.push_back(c.ToJson());
    report["comparisons"] = std::move(list);
  } else {
    report["comparisons"] = nullptr;
  }
  report["gate"] = d.gate ? GateDocumentJson(*d.gate) : json(nullptr);
  report["history"] = d.history ? HistoryDocumentJson(*d.history) : json(nullptr);
  return report;
}

Result<ReportDocument> ReadReportDocument(const json& report) {
  try {
    return ReadDocument(report);
  } catch (const SchemaError& e) {
    return Error{e.message};
  } catch (const json::exception& e) {  // a value out of a getter's range, which the checks above should catch
    return Error{fmt::format("the report: {}", e.what())};
  }
}

Result<VariantSpec> ReadVariantSpec(const json& spec) {
  try {
    return ReadSpec(Node(spec, "spec"));
  } catch (const SchemaError& e) {
    return Error{e.message};
  } catch (const json::exception& e) {
    return Error{fmt::format("spec: {}", e.what())};
  }
}

Result<std::vector<RunRecord>> ReadReportRuns(const json& report) {
  if (!report.is_object()) return Error{"the report: an object, found " + Found(report)};
  const auto it = report.find("runs");
  if (it == report.end()) return Error{"runs: an array, missing"};
  if (!it->is_array()) return Error{"runs: an array, found " + Found(*it)};
  std::vector<RunRecord> runs;
  runs.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    auto run = RunRecord::FromJson((*it)[i]);
    if (!run) return Error{fmt::format("runs[{}]: not a run record (docs/report-schema.md, \"Run record\")", i)};
    runs.push_back(std::move(*run));
  }
  return runs;
}

}  // namespace coder::harness
