#include "harness/report/report_sections.h"

namespace coder::harness {

ReportSections ChooseSections(const ReportDocument& report) {
  ReportSections s;
  for (const ReportVariant& v : report.variants) {
    if (!v.summary) continue;
    if (!v.summary->held_slots.empty()) s.held_slots = true;
    if (v.summary->dominant_step) s.dominant_step = true;
  }
  const nlohmann::json& options = report.meta.options;
  const bool open_loop =
      options.is_object() && options.contains("arrival_interval_ms") && options["arrival_interval_ms"].is_number();
  const bool asked = report.budget && (report.budget->budget_bytes || report.budget->assume_rss_bytes);
  s.memory = open_loop || asked;
  return s;
}

ReportDocument SummariesDocument(const std::vector<VariantSummary>& summaries) {
  ReportDocument d;
  for (const VariantSummary& s : summaries)
    d.variants.push_back({VariantSpec{.name = s.variant, .gated = s.gated, .baseline = s.baseline}, s});
  return d;
}

}  // namespace coder::harness
