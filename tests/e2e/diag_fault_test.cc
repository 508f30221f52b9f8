// `coder diag shutdown` under faults: misbehaving targets in random mixes, the harness killed at random
// points, and a hostile environment (unwritable or full report paths, targets that cannot run).
// The long soak of the same driver is scripts/soak.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <thread>

#include "harness/process/proc_fs.h"
#include "tests/e2e/coder_server.h"
#include "tests/e2e/fault_soak.h"
#include "tests/e2e/process_scan.h"
#include "tests/e2e/report_files.h"
#include "tests/harness/harness_test_util.h"
#include "tests/helpers/sanitizers.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;

// The sanitizer builds run these tests too. The memory bound and the short delays are claims about the
// release build: under a sanitizer (ASan's quarantine keeps freed memory resident, TSan runs several
// times slower) the delays are stretched and the memory bound is not checked.
constexpr bool kSanitized = sanitizer::kAddress || sanitizer::kThread;

soak::Timing TestTiming() {
  soak::Timing t;
  if (kSanitized) {
    t.ready_timeout *= 3;
    t.kill_after *= 3;
    t.slow_threshold *= 3;
    // Between the known timeouts of 1 s (up to 1.25 s) and 2 s (from 1.98 s), whatever the load adds.
    t.slow_exit = std::chrono::milliseconds(1500);
    t.ready_timeout_per_flood_mib *= 3;
  }
  return t;
}

std::string Target(const std::string& args) { return std::string(CALIBRATED_TARGET_PATH) + " " + args; }

/// Whether a calibrated target whose command line holds `tag` is running (has exec'd: its argv[0] is the
/// target's path).
bool TargetRunning(const std::string& tag) {
  for (pid_t pid : ProcessesWith(tag)) {
    const auto cmdline = harness::ReadSmallFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmdline && cmdline->substr(0, cmdline->find('\0')) == CALIBRATED_TARGET_PATH) return true;
  }
  return false;
}

// ---- random mixes ----

TEST(FaultSoakTest, RandomMixesAreClassifiedRightLeaveNothingBehindAndKeepEveryRun) {
  soak::SoakOptions options;
  options.seed = 20261124;
  options.runs = 30;
  options.max_flood_bytes = 16 * kMiB;  // the 300 MB flood has its own test; scripts/soak draws up to it
  options.timing = TestTiming();
  if (kSanitized) options.harness_rss_limit_bytes = ~uint64_t{0};
  std::ostringstream log;
  options.log = &log;
  const auto report = soak::RunSoak(options);
  EXPECT_TRUE(report.ok()) << report.Summary() << log.str();
  EXPECT_GE(report.runs, 30);
}

TEST(FaultSoakTest, HarnessMemoryStaysBoundedWhileTargetsFloodHundredsOfMegabytes) {
  TempDir dir;
  // 300 MB of plain lines, and 100 MB of lines the harness parses as shutdown steps.
  const auto r = RunDiag(
      {"--runs", "1", "--parallel", "2", "--ready-timeout", "60s", "--jsonl", (dir.path() / "runs.jsonl").string(),
       "--target", "flood=" + Target("--flood-bytes 300000000"), "--target",
       "steps=" + Target("--flood-bytes 100000000 --flood-line "
                         "'[info] shutdown step done  step=flood took=1ms took_ms=1 completed=1'")},
      kSanitized ? 600s : 120s);
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 0") << r.output;
  // ru_maxrss of the harness (with the targets it reaped, a few MiB each).
  if (!kSanitized) {
    EXPECT_LT(static_cast<uint64_t>(r.exit->max_rss_kib) * 1024, 100 * kMiB);
  }
  const auto runs = ReadJsonLines(dir.path() / "runs.jsonl");
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) {
    EXPECT_EQ(run["outcome"], "clean") << run.dump().substr(0, 2000);
    EXPECT_LE(run["steps"].size(), 256u);
    EXPECT_GT(run["log_dropped_bytes"].get<uint64_t>(), 90'000'000u);
  }
}

// ---- the harness killed at random points ----

struct KillCase {
  int signal;
  uint64_t seed;
};

class DiagKilledTest : public ::testing::TestWithParam<KillCase> {};

TEST_P(DiagKilledTest, LeavesNoTargetAnIntactJsonlAndForInterruptsAPartialReport) {
  soak::KillOptions options;
  options.signal = GetParam().signal;
  options.seed = GetParam().seed;
  options.timing = TestTiming();
  const auto report = soak::RunKillRound(options);
  EXPECT_TRUE(report.problems.empty()) << report.Summary();
}

INSTANTIATE_TEST_SUITE_P(RandomPoints, DiagKilledTest,
                         ::testing::Values(KillCase{SIGINT, 1}, KillCase{SIGINT, 2}, KillCase{SIGTERM, 1},
                                           KillCase{SIGTERM, 2}, KillCase{SIGKILL, 1}, KillCase{SIGKILL, 2}),
                         [](const ::testing::TestParamInfo<KillCase>& param_info) {
                           return harness::SignalName(param_info.param.signal).substr(3) + "Seed" +
                                  std::to_string(param_info.param.seed);
                         });

TEST(DiagKilledAtAPointTest, AnInterruptWhileATargetIsNotReadyRecordsNoRunForIt) {
  // The target closes its output at once: the harness gives its exit a moment before calling it never
  // ready. An interrupt in that moment kills it, and that death is not a measurement.
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const std::string tag = "interrupt-before-ready-" + std::to_string(::getpid());
  auto diag = LaunchCoder({"diag", "shutdown", "--runs", "1", "--ready-log", "Started HTTP listener at ", "--json",
                           report.string(), "--target", "t=" + Target("--close-stdout --tag " + tag)});
  ASSERT_TRUE(diag);
  // The target itself, past its execve: coder's keeper (a fork that never execs), and under TSan a
  // target between fork and execve, carry coder's argv with the tag too, and a signal as early as the
  // keeper's arrives before coder handles it. /proc notifies nobody, so look again.
  ASSERT_TRUE(harness::testing::Eventually([&] { return TargetRunning(tag); }, In(30s))) << diag->Output();
  ASSERT_TRUE(diag->Signal(SIGINT).ok());
  const auto exit = diag->WaitUntil(In(30s));
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->Describe(), "exit 130") << diag->Output();
  const json j = ReadJson(report);
  ASSERT_TRUE(j.is_object()) << diag->Output();
  EXPECT_EQ(j["runs"].size(), 0u) << j["runs"].dump();
  EXPECT_TRUE(ProcessesWith(tag).empty());
}

// ---- a hostile environment ----

/// A tmpfs mounted for one test and detached after it. Needs root (CAP_SYS_ADMIN): the test is skipped
/// without it.
class TmpfsMount {
 public:
  TmpfsMount(const std::filesystem::path& at, unsigned long flags, const std::string& options) : at_(at) {
    std::filesystem::create_directories(at);
    if (::mount("tmpfs", at.c_str(), "tmpfs", flags, options.c_str()) == 0) mounted_ = true;
    else error_ = std::strerror(errno);
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path at_;
  bool mounted_ = false;
  std::string error_;
};

/// Fills a file system until it has no space left.
void Fill(const std::filesystem::path& dir) {
  std::ofstream out(dir / "filler", std::ios::binary);
  const std::string block(4096, 'f');
  while (out.write(block.data(), block.size())) {
  }
}

std::vector<std::string> ReportFlags() { return {"--json", "--jsonl", "--junit", "--markdown"}; }

TEST(DiagBadEnvironmentTest, ReportsInAMissingDirectoryAreUsageErrorsNamingThePath) {
  for (const auto& flag : ReportFlags()) {
    const auto r = RunDiag({"--runs", "1", flag, "/no/such/dir/report", "--target", "t=" + Target("")}, 20s);
    ASSERT_TRUE(r.exit) << flag;
    EXPECT_EQ(r.exit->Describe(), "exit 2") << r.output;
    EXPECT_THAT(r.output, HasSubstr(flag + " /no/such/dir/report: the directory /no/such/dir does not exist"));
  }
}

TEST(DiagBadEnvironmentTest, ReportsInAReadOnlyDirectoryAreUsageErrorsBeforeAnyRun) {
  TempDir dir;
  const auto ro = dir.path() / "ro";
  std::optional<TmpfsMount> mount;
  std::string cause = "Permission denied";
  if (::geteuid() == 0) {
    // Root writes through any mode bits; only a read-only file system stops it.
    mount.emplace(ro, MS_RDONLY, "size=64k");
    if (!mount->mounted()) GTEST_SKIP() << "cannot mount a read-only tmpfs: " << mount->error();
    cause = "Read-only file system";
  } else {
    std::filesystem::create_directories(ro);
    std::filesystem::permissions(ro, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  }
  for (const auto& flag : ReportFlags()) {
    const auto path = (ro / "report").string();
    const auto r = RunDiag({"--runs", "1", flag, path, "--target", "t=" + Target("--tag ro-test")}, 20s);
    ASSERT_TRUE(r.exit) << flag;
    EXPECT_EQ(r.exit->Describe(), "exit 2") << r.output;
    EXPECT_THAT(r.output, HasSubstr(flag + " " + path + ": cannot write in " + ro.string() + ": " + cause));
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("[1/1]"))) << "a run started";
  }
}

TEST(DiagBadEnvironmentTest, AReportPathThatIsADirectoryOrADeviceIsAUsageError) {
  TempDir dir;
  const auto as_dir = RunDiag({"--runs", "1", "--json", dir.path().string(), "--target", "t=" + Target("")}, 20s);
  ASSERT_TRUE(as_dir.exit);
  EXPECT_EQ(as_dir.exit->Describe(), "exit 2");
  EXPECT_THAT(as_dir.output, HasSubstr("--json " + dir.path().string() + ": is a directory"));
  // Written atomically, a report replaces what is at its path: never a device (as root, /dev/full would
  // have become a regular file).
  const auto as_device = RunDiag({"--runs", "1", "--json", "/dev/full", "--target", "t=" + Target("")}, 20s);
  ASSERT_TRUE(as_device.exit);
  EXPECT_EQ(as_device.exit->Describe(), "exit 2");
  EXPECT_THAT(as_device.output, HasSubstr("--json /dev/full: not a regular file"));
  struct stat st {};
  ASSERT_EQ(::stat("/dev/full", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  const auto twice = RunDiag({"--runs", "1", "--json", (dir.path() / "r").string(), "--jsonl",
                              (dir.path() / "r").string(), "--target", "t=" + Target("")},
                             20s);
  ASSERT_TRUE(twice.exit);
  EXPECT_EQ(twice.exit->Describe(), "exit 2");
  EXPECT_THAT(twice.output, HasSubstr("given for two reports"));
}

TEST(DiagBadEnvironmentTest, AJsonlOnAFullDeviceFailsAtOnceAndTheJsonReportKeepsEveryRun) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto r =
      RunDiag({"--runs", "3", "--jsonl", "/dev/full", "--json", report.string(), "--target", "t=" + Target("")});
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 3") << r.output;
  // Said when the first run ends, not only at the end.
  const auto first_error = r.output.find("writing JSON lines file /dev/full: No space left on device; the runs go on");
  ASSERT_NE(first_error, std::string::npos) << r.output;
  EXPECT_LT(first_error, r.output.find("[2/3]")) << r.output;
  EXPECT_THAT(r.output, HasSubstr("3 of 3 runs are missing from the JSON lines file"));
  const json j = ReadJson(report);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j["runs"].size(), 3u);
  EXPECT_EQ(j["meta"]["exit_code"], 3);
}

class DiagFullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_.emplace(disk_, 0, "size=16k");
    if (!mount_->mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << mount_->error();
  }
  TempDir dir_;
  std::filesystem::path disk_ = dir_.path() / "disk";
  std::optional<TmpfsMount> mount_;
};

TEST_F(DiagFullDiskTest, AJsonReportThatCannotBeWrittenExitsThreeAndTheJsonlKeepsEveryRun) {
  Fill(disk_);
  const auto jsonl = dir_.path() / "runs.jsonl";
  const auto r = RunDiag({"--runs", "4", "--json", (disk_ / "report.json").string(), "--jsonl", jsonl.string(),
                          "--target", "t=" + Target("")});
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 3") << r.output;
  EXPECT_THAT(r.output, HasSubstr((disk_ / "report.json").string()));
  EXPECT_THAT(r.output, HasSubstr("No space left on device"));
  EXPECT_EQ(ReadJsonLines(jsonl).size(), 4u);
  // No half-written temporary is left on the full disk.
  for (const auto& entry : std::filesystem::directory_iterator(disk_)) EXPECT_EQ(entry.path().filename(), "filler");
}

TEST_F(DiagFullDiskTest, AJsonlThatFillsTheDiskKeepsWholeLinesAndTheJsonReportEveryRun) {
  const auto report = dir_.path() / "report.json";
  const auto jsonl = disk_ / "runs.jsonl";
  // Each record holds its log tail, here a 2 KB ready line: 16 KiB fill up part-way through.
  const std::string ready(2000, 'r');
  const auto r = RunDiag({"--runs", "40", "--ready-log", "^rrrr", "--jsonl", jsonl.string(), "--json", report.string(),
                          "--target", "t=" + Target("--ready-line " + ready)});
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 3") << r.output;
  EXPECT_THAT(r.output, HasSubstr("writing JSON lines file " + jsonl.string() + ": No space left on device"));
  std::string torn;
  const auto lines = ReadJsonLines(jsonl, &torn);
  EXPECT_EQ(torn, "") << "a torn line was left";
  EXPECT_GT(lines.size(), 0u);
  EXPECT_LT(lines.size(), 40u);
  for (const auto& line : lines) EXPECT_FALSE(line.is_discarded());
  const json j = ReadJson(report);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j["runs"].size(), 40u);
}

/// `coder diag shutdown ARGS` with its stdout and stderr redirected by a shell (`>/dev/full`, `>&-`).
CoderRun RunDiagRedirected(const std::vector<std::string>& args, const std::string& redirections) {
  std::string command = std::string("exec ") + CODER_BINARY_PATH + " diag shutdown";
  for (const auto& a : args) command += " '" + a + "'";
  harness::LaunchSpec spec;
  spec.argv = {"/bin/sh", "-c", command + " " + redirections};
  return test_support::RunToEnd(std::move(spec), 60s);
}

TEST(DiagBadEnvironmentTest, ASummaryThatCannotBeWrittenToStdoutExitsThreeAndTheReportsSaySo) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto r =
      RunDiagRedirected({"--runs", "2", "--json", report.string(), "--target", "t=" + Target("")}, ">/dev/full");
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 3") << r.output;
  EXPECT_THAT(r.output, HasSubstr("writing the summary table to stdout: No space left on device"));
  const json j = ReadJson(report);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["meta"]["exit_code"], 3);
  // With stderr full too there is nobody to tell, but the harness must still end normally, not abort.
  const auto silent = RunDiagRedirected({"--runs", "1", "--target", "t=" + Target("")}, ">/dev/full 2>/dev/full");
  ASSERT_TRUE(silent.exit);
  EXPECT_EQ(silent.exit->Describe(), "exit 3");
}

TEST(DiagBadEnvironmentTest, AClosedStdoutDoesNotSendTheSummaryIntoAReport) {
  TempDir dir;
  const auto jsonl = dir.path() / "runs.jsonl";
  const auto r = RunDiagRedirected({"--runs", "2", "--jsonl", jsonl.string(), "--target", "t=" + Target("")}, ">&-");
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 0") << r.output;
  std::string torn;
  const auto lines = ReadJsonLines(jsonl, &torn);
  EXPECT_EQ(torn, "");
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) EXPECT_FALSE(line.is_discarded());
}

TEST(DiagBadEnvironmentTest, TargetsThatCannotBeExecutedAreUsageErrorsNamingPathAndCause) {
  TempDir dir;
  const auto plain = dir.path() / "not-executable";
  std::ofstream(plain) << "#!/bin/sh\nexit 0\n";
  std::filesystem::permissions(plain, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  for (const auto& [path, cause] :
       std::vector<std::pair<std::string, std::string>>{{"/no/such/server", "no such file or directory"},
                                                        {plain.string(), "permission denied"},
                                                        {dir.path().string(), "is a directory"}}) {
    const auto r = RunDiag({"--runs", "1", "--target", "t=" + path}, 20s);
    ASSERT_TRUE(r.exit);
    EXPECT_EQ(r.exit->Describe(), "exit 2") << r.output;
    EXPECT_THAT(r.output, HasSubstr("target t: cannot execute " + path + ": "));
    std::string lower = r.output;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    EXPECT_THAT(lower, HasSubstr(cause)) << r.output;
  }
}

TEST(DiagBadEnvironmentTest, ATargetTheKernelCannotExecuteFailsToStartEveryRunWithTheCause) {
  // The cause comes back from the vforked child through the memory vfork shares; ThreadSanitizer
  // replaces vfork with fork, so under it the cause cannot arrive. Release and ASan builds check it.
  if (sanitizer::kThread) GTEST_SKIP() << "ThreadSanitizer turns vfork into fork";
  TempDir dir;
  const auto garbage = dir.path() / "garbage";
  std::ofstream(garbage) << "this is not a program\n";
  std::filesystem::permissions(garbage, std::filesystem::perms::owner_all);
  const auto report = dir.path() / "report.json";
  const auto r = RunDiag({"--runs", "2", "--json", report.string(), "--target", "t=" + garbage.string()}, 30s);
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 2u) << r.output;
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["outcome"], "failed-to-start");
    EXPECT_THAT(run["detail"].get<std::string>(), HasSubstr("Exec format error"));
  }
}

TEST(DiagBadEnvironmentTest, ATargetThatClosesItsOutputIsNeverReadyAtOnceNotAfterTheTimeout) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  // A 10-minute ready timeout: waiting it out would fail the test by its own deadline.
  const auto r = RunDiag({"--runs", "2", "--ready-timeout", "10m", "--ready-log", "Started HTTP listener at ", "--json",
                          report.string(), "--target", "t=" + Target("--close-stdout")},
                         50s);
  ASSERT_TRUE(r.exit) << "still waiting: " << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 2u) << r.output;
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["outcome"], "never-ready");
    EXPECT_THAT(run["detail"].get<std::string>(),
                HasSubstr("closed its stdout and stderr without printing the ready line"));
  }
}

/// `coder diag shutdown ARGS` with no PATH in its environment at all (env -u PATH).
CoderRun RunDiagWithoutPath(const std::vector<std::string>& args) {
  harness::LaunchSpec spec;
  spec.argv = {"/usr/bin/env", "-u", "PATH", CODER_BINARY_PATH, "diag", "shutdown"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  return test_support::RunToEnd(std::move(spec), 30s);
}

// With PATH unset a bare name is looked up where execvp looks, /bin:/usr/bin, by the up-front check and
// by every launch alike. Before, the check searched /usr/local/bin:/usr/bin:/bin and passed, then every
// launch searched the current directory: exit 1 with every run failed-to-start.
TEST(DiagBadEnvironmentTest, WithPathUnsetABareNameRunsOrIsAUsageErrorBeforeAnyRun) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto r = RunDiagWithoutPath({"--runs", "2", "--ready-log", "^ready$", "--json", report.string(), "--", "sh",
                                     "-c", "echo ready; exec /bin/sleep 30"});
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 0") << r.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 2u) << r.output;
  for (const auto& run : j["runs"]) EXPECT_EQ(run["outcome"], "clean") << run.dump();

  // Not in /bin or /usr/bin: a usage error naming the directories searched, and no run.
  const auto missing = RunDiagWithoutPath({"--runs", "2", "--json", report.string(), "--", "calibrated_target"});
  ASSERT_TRUE(missing.exit) << missing.output;
  EXPECT_EQ(missing.exit->Describe(), "exit 2") << missing.output;
  EXPECT_THAT(missing.output,
              HasSubstr("cannot execute calibrated_target: not found in PATH (unset, so /bin:/usr/bin)"));
}

// Before, the target ran with {dir} empty and the built-in server with a relative --config-dir, and the
// runs were reported clean.
TEST(DiagBadEnvironmentTest, AnUnusableTempDirFailsEachRunNeedingAPrivateDirWithTheCause) {
  TempDir dir;
  std::vector<std::pair<std::filesystem::path, std::string>> tmpdirs = {
      {dir.path() / "missing", "No such file or directory"}};
  std::optional<TmpfsMount> mount;
  if (::geteuid() == 0) {
    mount.emplace(dir.path() / "ro", MS_RDONLY, "size=64k");
    if (mount->mounted()) tmpdirs.emplace_back(dir.path() / "ro", "Read-only file system");
  }
  const auto report = dir.path() / "report.json";
  const std::vector<std::vector<std::string>> targets = {{"--target", "t=" + Target("--tag {dir}")},
                                                         {/* the built-in server, both gateway variants */}};
  for (const auto& [tmpdir, cause] : tmpdirs) {
    for (const auto& target : targets) {
      std::vector<std::string> args = {"--runs", "2", "--json", report.string()};
      args.insert(args.end(), target.begin(), target.end());
      const auto r = RunDiag(args, {{"TMPDIR", tmpdir.string()}}, 20s);
      ASSERT_TRUE(r.exit) << r.output;
      EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
      const json j = ReadJson(report);
      ASSERT_EQ(j["runs"].size(), target.empty() ? 4u : 2u) << r.output;
      for (const auto& run : j["runs"]) {
        EXPECT_EQ(run["outcome"], "failed-to-start") << tmpdir;
        EXPECT_THAT(run["detail"].get<std::string>(),
                    HasSubstr("cannot create the run's private directory in " + tmpdir.string() + ": " + cause));
      }
    }
  }
}

}  // namespace
}  // namespace coder::e2e
