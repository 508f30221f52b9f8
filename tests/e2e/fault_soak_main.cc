// fault_soak: the long fault-injection soak of `coder diag shutdown` (scripts/soak). The fast subset of
// the same driver runs in coder_e2e_tests (tests/e2e/diag_fault_test.cc).
#include <fmt/format.h>
#include <signal.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <random>

#include "tests/e2e/fault_soak.h"

int main(int argc, char** argv) {
  using namespace coder::e2e::soak;
  CLI::App app(
      "Fault-injection soak: random mixes of misbehaving targets through coder diag shutdown, then the "
      "harness itself killed at random points");
  SoakOptions options;
  options.log = &std::cout;
  uint64_t seed = 0;
  int kill_rounds = 10;
  uint64_t max_flood_mib = options.max_flood_bytes >> 20;
  uint64_t rss_limit_mib = options.harness_rss_limit_bytes >> 20;
  app.add_option("--runs", options.runs, "Target runs in total")->capture_default_str()->check(CLI::PositiveNumber);
  auto* seed_option = app.add_option("--seed", seed, "Seed of the random mixes (default: a random one, printed)");
  app.add_option("--kill-rounds", kill_rounds, "Rounds of each of SIGINT, SIGTERM and SIGKILL to the harness")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-flood-mib", max_flood_mib, "Largest flood a target prints")->capture_default_str();
  app.add_option("--rss-limit-mib", rss_limit_mib, "The harness's peak RSS must stay under this")
      ->capture_default_str();
  app.add_option("--coder", options.coder, "The coder binary")->capture_default_str();
  app.add_option("--target", options.target, "The calibrated target binary")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  options.seed = seed_option->count() > 0 ? seed : std::random_device{}();
  options.max_flood_bytes = max_flood_mib << 20;
  options.harness_rss_limit_bytes = rss_limit_mib << 20;
  std::cout << fmt::format("fault soak: seed {}, {} runs (scripts/soak --seed {} --runs {} reproduces the mixes)\n",
                           options.seed, options.runs, options.seed, options.runs)
            << std::flush;
  const auto start = std::chrono::steady_clock::now();
  const SoakReport report = RunSoak(options);
  std::cout << "\n" << report.Summary();

  int kill_problems = 0;
  int rounds = 0;
  for (int round = 0; round < kill_rounds; ++round) {
    for (int sig : {SIGINT, SIGTERM, SIGKILL}) {
      KillOptions kill;
      kill.seed = options.seed + static_cast<uint64_t>(round);
      kill.signal = sig;
      kill.coder = options.coder;
      kill.target = options.target;
      const KillReport k = RunKillRound(kill);
      ++rounds;
      if (!k.problems.empty()) ++kill_problems;
      std::cout << (k.problems.empty() ? "ok   " : "FAIL ") << k.Summary() << std::flush;
    }
  }
  if (rounds > 0)
    std::cout << fmt::format("\nharness killed at random points: {} rounds, {} with problems (seeds {}..{})\n", rounds,
                             kill_problems, options.seed, options.seed + static_cast<uint64_t>(kill_rounds) - 1);
  std::cout << fmt::format("total wall time {:.1f}s\n",
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  const bool ok = report.ok() && kill_problems == 0;
  std::cout << (ok ? "PASS"
                   : fmt::format("FAIL: reproduce with scripts/soak --seed {} --runs {}", options.seed, options.runs))
            << std::endl;
  return ok ? 0 : 1;
}
