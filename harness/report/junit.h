#pragma once

#include <string>
#include <string_view>

#include "harness/report/report_document.h"
#include "harness/report/run_store.h"

namespace coder::harness {

/// The report document (docs/report-schema.md, with `budget`, `comparisons` and `gate` when present)
/// as JUnit XML, in the common subset Jenkins, GitLab and the GitHub test-report actions read:
///
///   <testsuites name="coder diag shutdown" tests= failures= errors= time=>
///     <testsuite name="coder diag shutdown" ...> <properties> schema, coder_version, exit_code, verdict...
///       <testcase classname="coder.diag.shutdown" name="VARIANT" time="sum of its shutdown latencies, s">
///         <properties> latency_p50_ms, ready_p50_ms, tree_peak_rss_max_bytes, outcome_NAME, p95_ratio ...
///         <failure message= type=> when the variant has failing findings (gated, and of a kind in the
///           gate's fail_on): counts of outcomes and fingerprints, and every failing finding in the body
///         <system-out> the summary in words; for a baseline, that it is reported and never gated
///       <testcase name="VARIANT #INDEX"> one per run with a failing finding, right after its variant:
///         failure message = the run's detail, type = the finding kinds; its log tail in <system-out>
///       <testcase name="budget"> when `budget` is present and ChooseSections shows memory (or the gate
///         has a budget finding): every budget finding goes here, a variant's own schedule's too (not
///         to the variant's case); fails
///         when one of them fails the gate (without a gate: when a measured or projected peak, of all
///         variants or of one in `budget.variants`, is over budget); message = the failing findings,
///         each naming its variant, then the peaks of all variants together, measured and projected,
///         against the budget; <system-out> adds Little's law and one line per `budget.variants` entry
///       <testcase name="harness"> with an <error> only when the run was interrupted or the harness
///         failed (exit 3), so a partial report never reads as green
///
/// Always well-formed XML 1.0 whatever the report holds: text and attributes are escaped, bytes that
/// are not UTF-8 and characters XML 1.0 forbids (control characters other than tab, LF, CR; U+FFFE,
/// U+FFFF) become U+FFFD; no CDATA is used, so a log line holding "]]>" is plain escaped text. Message
/// attributes are cut to 1000 bytes (the element body has the whole text). Pure function; thread-safe.
///
/// `runs` are the document's runs, read as needed: at most
/// kMaxRunCases failing runs of a variant get a case of their own (the variant's case says how many
/// more the JSON report holds), so the XML stays readable and bounded whatever the run count.
std::string RenderJunit(const ReportDocument& report, const RunSource& runs);
inline constexpr size_t kMaxRunCases = 100;

/// `text` escaped for XML 1.0 character data (`attribute` false) or a double-quoted attribute value
/// (`attribute` true; tab, LF and CR become character references there so parsers keep them).
std::string XmlEscape(std::string_view text, bool attribute);

}  // namespace coder::harness
