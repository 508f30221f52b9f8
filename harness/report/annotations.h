#pragma once

#include <string>
#include <string_view>

#include "harness/report/report_document.h"
#include "harness/report/run_store.h"

namespace coder::harness {

/// The report's findings as GitHub Actions workflow commands, one per line, for the caller to print
/// to stdout when GithubActions():
///   ::error title=coder diag shutdown%3A VARIANT::MESSAGE    findings that fail the gate
///   ::warning title=coder diag shutdown%3A VARIANT::MESSAGE  findings that do not (baseline variants,
///                                                            kinds not in --fail-on)
/// Findings of one variant, kind and verdict are grouped into one line ("3 runs (#0, #1, #4): FIRST
/// MESSAGE"), because GitHub shows only the first ten annotations of each level per step and twenty
/// identical lines would hide the rest. Budget and regression notes the gate did not report (a report
/// without a gate, or one whose budget or comparisons say more) become warnings: "memory budget" with
/// the measured and projected peaks, and one per regressed comparison. Empty when there is nothing to
/// say. Escaping as GitHub's toolkit does it: `%`, CR and LF in messages; also `:` and `,` in
/// properties; other control characters become spaces, bytes that are not UTF-8 U+FFFD. Pure function; thread-safe.
std::string RenderGithubAnnotations(const ReportDocument& report, const RunSource& runs);

/// True when the environment says this runs in GitHub Actions (GITHUB_ACTIONS=true).
bool GithubActions();

/// GitHub's escaping of a workflow command's message (`property` false) or property value (true).
std::string EscapeGithubCommand(std::string_view text, bool property);

}  // namespace coder::harness
