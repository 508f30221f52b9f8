#include "harness/report/report_sections.h"

#include "harness/report/report_view.h"

namespace coder::harness {

ReportSections ChooseSections(const nlohmann::json& report) {
  ReportSections s;
  for (const VariantView& v : ReportVariants(report)) {
    if (!v.summary) continue;
    if (const auto* slots = Member(*v.summary, "held_slots"); slots && slots->is_object() && !slots->empty())
      s.held_slots = true;
    if (const auto* step = Member(*v.summary, "dominant_step"); step && step->is_object()) s.dominant_step = true;
  }
  const nlohmann::json* options = nullptr;
  if (const auto* meta = Member(report, "meta")) options = Member(*meta, "options");
  const bool open_loop = options && NumberMember(*options, "arrival_interval_ms").has_value();
  bool asked = false;
  if (const auto* budget = Member(report, "budget"); budget && budget->is_object())
    asked = NumberMember(*budget, "budget_bytes").has_value() || NumberMember(*budget, "assume_rss_bytes").has_value();
  s.memory = open_loop || asked;
  return s;
}

nlohmann::json SummariesDocument(const std::vector<VariantSummary>& summaries) {
  nlohmann::json variants = nlohmann::json::array();
  for (const VariantSummary& s : summaries)
    variants.push_back({{"spec", {{"name", s.variant}, {"gated", s.gated}, {"baseline", s.baseline}}},
                        {"summary", s.ToJson()}});
  return {{"variants", std::move(variants)}};
}

}  // namespace coder::harness
