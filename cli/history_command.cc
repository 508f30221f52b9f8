#include "cli/history_command.h"

#include <fmt/format.h>

#include <cstdlib>

#include "common/terminal_text.h"
#include "harness/analysis/exit_codes.h"
#include "harness/analysis/run_record.h"

namespace coder::cli {
namespace {

// A SQLite history must exist to be read (a typo must not create an empty one); a PostgreSQL one is
// the server's to know. The message shows the location without its passwords.
CLI::Validator ExistingHistory() {
  return CLI::Validator(
      [](std::string& location) -> std::string {
        if (harness::IsPostgresLocation(location)) return {};
        if (CLI::ExistingFile(location).empty()) return {};
        return "no history at " + TerminalSafe(harness::DisplayLocation(location));
      },
      "HISTORY");
}

// CLI::Range lets NaN through (every comparison with it is false).
CLI::Validator Confidence() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !(value >= 0.5 && value <= 0.9999))
          return "a confidence from 0.5 to 0.9999, found " + TerminalSafe(text);
        return {};
      },
      "[0.5 - 0.9999]");
}

}  // namespace

HistoryCommand::HistoryCommand(CLI::App& diag)
    : history_(diag.add_subcommand("history", "A history of runs across CI jobs: has a failure stopped recurring?")),
      ingest_(history_->add_subcommand("ingest", "Store the runs of JSON or JSON-lines reports (each run once)")),
      check_(history_->add_subcommand(
          "check",
          "Has a fingerprint or an outcome stopped recurring since a commit or a date? Exit 0 stopped, "
          "1 still recurring, 4 not enough evidence yet")),
      show_(history_->add_subcommand(
          "show", "A trend table per commit, day or runner: runs, outcomes, fingerprint rates, latency, RSS")) {
  history_->require_subcommand(1);
  auto& in = ingest_config_;
  ingest_->add_option("--db", in.db, "The history: a SQLite file (created when missing) or a postgresql:// URI")
      ->required();
  ingest_->add_option("reports", in.reports, "Reports written by coder diag shutdown --json or --jsonl, or merged")
      ->required()
      ->check(CLI::ExistingFile);
  ingest_->add_option("--commit", in.origin.commit,
                      "The commit the runs tested (default: $GITHUB_SHA, $CI_COMMIT_SHA)");
  ingest_->add_option("--branch", in.origin.branch, "Its branch (default: $GITHUB_REF_NAME, $CI_COMMIT_REF_NAME)");
  ingest_->add_option("--runner", in.origin.runner, "The machine (default: $RUNNER_NAME, $CI_RUNNER_DESCRIPTION)");
  ingest_->add_option("--ci-run-id", in.origin.ci_run_id, "The CI run (default: $GITHUB_RUN_ID, $CI_PIPELINE_ID)");
  ingest_->add_option("--job-url", in.origin.job_url, "A link to the job (default: the GitHub run's URL, $CI_JOB_URL)");
  ingest_->add_option("--time", in.origin.at,
                      "When the runs ran, RFC 3339 UTC (default: the report's meta.started_at; for JSON lines, now)");

  auto& ch = check_config_;
  check_->add_option("--db", ch.db, "The history: a SQLite file or a postgresql:// URI")
      ->required()
      ->check(ExistingHistory());
  auto* fingerprint = check_->add_option("--fingerprint", fingerprint_, "The fingerprint whose runs are counted");
  auto* outcome = check_->add_option("--outcome", outcome_, "Or the outcome (killed-by-watchdog, crashed, ...)");
  fingerprint->excludes(outcome);
  check_
      ->add_option("--since", ch.since,
                   "The fix: a commit (a prefix of its hash; its first ingested run) or a time (YYYY-MM-DD, RFC 3339)")
      ->required();
  check_->add_option("--variant", variant_, "Count only this variant's runs");
  check_->add_option("--branch", branch_, "Count only the runs of this branch (as ingested)");
  check_->add_option("--confidence", ch.confidence, "Of the intervals and the test")
      ->check(Confidence())
      ->capture_default_str();

  auto& sh = show_config_;
  show_->add_option("--db", sh.db, "The history: a SQLite file or a postgresql:// URI")
      ->required()
      ->check(ExistingHistory());
  show_->add_option("--by", show_by_, "A bucket per commit, day (UTC) or runner")
      ->check(CLI::IsMember({"commit", "day", "runner"}))
      ->capture_default_str();
  show_->add_option("--since", sh.since,
                    "Only runs since a commit (a prefix of its hash) or a time (YYYY-MM-DD, "
                    "RFC 3339); default: the whole history");
  show_->add_option("--variant", show_variant_, "Only this variant's runs");
  show_->add_option("--branch", show_branch_, "Only the runs of this branch (as ingested)");
  show_->add_option("--fingerprint", sh.trend.fingerprints,
                    "The fingerprints whose rates are shown (repeatable; default: the four most frequent)");
  show_->add_option("--last", sh.trend.last, "The most buckets shown, the latest (0: all)")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  show_->add_option("--plot", sh.plot, "Draw the rates and latencies over the buckets to a .png or .svg file");
  show_->add_flag("--json", sh.json, "The trend as JSON instead of a table");
  show_->add_option("--confidence", sh.trend.confidence, "Of the intervals")
      ->check(Confidence())
      ->capture_default_str();
}

int HistoryCommand::Run() const {
  if (ingest_->parsed()) return harness::RunHistoryIngest(ingest_config_);
  if (show_->parsed()) {
    harness::HistoryShowConfig config = show_config_;
    config.trend.by = *harness::TrendByFromString(show_by_);
    if (!show_variant_.empty()) config.variant = show_variant_;
    if (!show_branch_.empty()) config.branch = show_branch_;
    return harness::RunHistoryShow(config);
  }
  harness::HistoryCheckConfig config = check_config_;
  if (fingerprint_.empty() == outcome_.empty()) {
    fmt::print(stderr, "coder diag history check: give --fingerprint or --outcome\n");
    return harness::kDiagUsage;
  }
  if (!outcome_.empty()) {
    if (!harness::OutcomeFromString(outcome_)) {
      fmt::print(stderr, "coder diag history check: --outcome {}: not an outcome (clean, slow, ...)\n", outcome_);
      return harness::kDiagUsage;
    }
    config.selector = {harness::RecurrenceSelector::Kind::kOutcome, outcome_};
  } else {
    config.selector = {harness::RecurrenceSelector::Kind::kFingerprint, fingerprint_};
  }
  if (!variant_.empty()) config.variant = variant_;
  if (!branch_.empty()) config.branch = branch_;
  return harness::RunHistoryCheck(config);
}

}  // namespace coder::cli
