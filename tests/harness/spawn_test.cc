// SpawnChild's promises seen from outside, on real children (`sleep`, `/bin/true`): what the target
// inherits (signal mask and dispositions, descriptors, process group) and how a failed exec is reported.
#include "harness/process/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "harness/process/proc_fs.h"
#include "tests/harness/harness_test_util.h"
#include "tests/support/wait.h"

namespace coder::harness {
namespace {

using namespace testing;

/// `field` of /proc/<pid>/status ("SigBlk", "SigIgn", ...) as written there, or "" when absent.
std::string StatusField(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", field.size() + 1));
  }
  return "";
}

/// The open descriptors of `pid` and what each names (readlink of /proc/<pid>/fd/N).
std::map<int, std::string> OpenDescriptors(pid_t pid) {
  std::map<int, std::string> out;
  const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::error_code ec;
    out[std::stoi(entry.path().filename().string())] = std::filesystem::read_symlink(entry.path(), ec).string();
  }
  return out;
}

LaunchSpec Sleeper() {
  LaunchSpec spec;
  spec.argv = {"sleep", "60"};
  spec.stop_plan = {{StopAction::kKill, 5s}};
  return spec;
}

/// Blocks `blocked` in the calling thread and ignores `ignored` process-wide while it lives.
class SignalStateOverride {
 public:
  SignalStateOverride(std::initializer_list<int> blocked, std::initializer_list<int> ignored) {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : blocked) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
    for (int sig : ignored) {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      sigaction(sig, &ign, &old_actions_[sig]);
    }
  }
  ~SignalStateOverride() {
    for (auto& [sig, action] : old_actions_) sigaction(sig, &action, nullptr);
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

 private:
  sigset_t old_mask_{};
  std::map<int, struct sigaction> old_actions_;
};

TEST(SpawnTest, ChildHasAnEmptySignalMaskAndDefaultDispositionsWhateverTheHarnessBlocksOrIgnores) {
  std::unique_ptr<ChildProcess> child;
  {
    SignalStateOverride state({SIGTERM, SIGINT, SIGUSR1, SIGCHLD}, {SIGHUP, SIGUSR2, SIGPIPE, SIGQUIT});
    child = StartOrFail(Sleeper());
  }
  ASSERT_TRUE(child);
  // Start returns once execve has succeeded: the status is sleep's own.
  EXPECT_EQ(StatusField(child->pid(), "SigBlk"), "0000000000000000");
  EXPECT_EQ(StatusField(child->pid(), "SigIgn"), "0000000000000000");
}

pid_t g_harness_pid = 0;
std::atomic<bool> g_handler_ran_in_child{false};

void RecordWhereTheHandlerRan(int) {
  if (getpid() != g_harness_pid) g_handler_ran_in_child = true;
}

TEST(SpawnTest, NoHarnessSignalHandlerRunsInTheChildBeforeExec) {
  // Until its setpgid the child is in the harness's group, so a signal to that group (a terminal's ^C)
  // reaches it while it still runs in the harness's memory, where a harness handler must never run.
  // This test's process leads its own group, so the flood reaches only it and such children.
  if (getpgrp() != getpid()) {
    ASSERT_EQ(setpgid(0, 0), 0);
  }
  g_harness_pid = getpid();
  struct sigaction handler {
  }, old{};
  handler.sa_handler = RecordWhereTheHandlerRan;
  handler.sa_flags = SA_RESTART;
  sigemptyset(&handler.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &handler, &old), 0);
  std::atomic<bool> done{false};
  std::thread flood([&] {
    while (!done) kill(0, SIGUSR1);
  });
  LaunchSpec spec;
  spec.argv = {"/bin/true"};
  for (int i = 0; i < 500 && !g_handler_ran_in_child; ++i) {
    // A signal the child had pending when its mask was emptied may kill it before or after execve.
    auto child = ChildProcess::Start(spec);
    ASSERT_TRUE(child.ok()) << child.error().message;
  }
  done = true;
  flood.join();
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_FALSE(g_handler_ran_in_child);
}

TEST(SpawnTest, SpawningLeavesTheCallersSignalMaskAsItWas) {
  SignalStateOverride state({SIGUSR1}, {});
  sigset_t before, after;
  pthread_sigmask(SIG_SETMASK, nullptr, &before);
  auto child = StartOrFail(Sleeper());
  ASSERT_TRUE(child);
  pthread_sigmask(SIG_SETMASK, nullptr, &after);
  for (int sig = 1; sig < NSIG; ++sig) EXPECT_EQ(sigismember(&after, sig), sigismember(&before, sig)) << sig;
}

TEST(SpawnTest, ChildLeadsItsOwnProcessGroup) {
  auto child = StartOrFail(Sleeper());
  ASSERT_TRUE(child);
  EXPECT_EQ(getpgid(child->pid()), child->pid());
  EXPECT_NE(getpgid(child->pid()), getpgrp());
}

TEST(SpawnTest, ChildInheritsNoDescriptorButItsStdio) {
  // Descriptors opened without O_CLOEXEC, as a library or another thread might: the child must not get them.
  const int leaky_file = open("/dev/null", O_RDONLY);
  int leaky_pipe[2];
  ASSERT_GE(leaky_file, 0);
  ASSERT_EQ(pipe(leaky_pipe), 0);
  auto child = StartOrFail(Sleeper());
  close(leaky_file);
  close(leaky_pipe[0]);
  close(leaky_pipe[1]);
  ASSERT_TRUE(child);

  // The spawn returns once the child's execve has replaced its memory, and the kernel closes the
  // O_CLOEXEC descriptors a moment later, before it names the task after the new program: the ASan
  // suite once saw the fourth one in between. The name says the exec is complete.
  ASSERT_TRUE(test_support::Eventually(
      [&] { return ReadSmallFile("/proc/" + std::to_string(child->pid()) + "/comm").value_or("") == "sleep\n"; },
      test_support::In(10s)));
  auto fds = OpenDescriptors(child->pid());
  ASSERT_EQ(fds.size(), 3u);
  EXPECT_EQ(fds[0], "/dev/null");
  EXPECT_EQ(fds[1].rfind("pipe:", 0), 0u) << fds[1];
  EXPECT_EQ(fds[2].rfind("pipe:", 0), 0u) << fds[2];
  EXPECT_NE(fds[1], fds[2]);
}

/// A program ResolveExecutable accepts but execve refuses, or one it refuses itself; `make` creates it
/// under `dir` and returns its argv.
struct Unexecutable {
  const char* name;
  std::function<std::vector<std::string>(const std::filesystem::path& dir)> make;
  std::string reason;  // the strerror text the Error ends with
};

std::vector<Unexecutable> UnexecutablePrograms() {
  namespace fs = std::filesystem;
  return {
      {"a directory", [](const fs::path& dir) { return std::vector<std::string>{dir.string()}; }, "Is a directory"},
      {"a file without an execute bit",
       [](const fs::path& dir) {
         std::ofstream(dir / "plain") << "#!/bin/sh\n";
         chmod((dir / "plain").c_str(), 0644);
         return std::vector<std::string>{(dir / "plain").string()};
       },
       "Permission denied"},
      {"a script whose interpreter is missing",
       [](const fs::path& dir) {
         std::ofstream(dir / "script") << "#!/nonexistent/interpreter\n";
         chmod((dir / "script").c_str(), 0755);
         return std::vector<std::string>{(dir / "script").string()};
       },
       "No such file or directory"},
      {"an argument longer than the kernel takes",
       [](const fs::path&) {
         return std::vector<std::string>{"/bin/true", std::string(256 << 10, 'x')};
       },
       "Argument list too long"},
  };
}

TEST(SpawnTest, ProgramThatCannotBeExecutedIsAnErrorNamingItAndErrnoAndLeavesNoZombie) {
  const auto dir = std::filesystem::temp_directory_path() / ("coder-spawn-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  for (const auto& program : UnexecutablePrograms()) {
    SCOPED_TRACE(program.name);
    LaunchSpec spec;
    spec.argv = program.make(dir);
    const auto children_before = ReadChildren(getpid());
    auto child = ChildProcess::Start(spec);
    ASSERT_FALSE(child.ok());
    EXPECT_EQ(child.error().message, "cannot execute " + spec.argv[0] + ": " + program.reason);
    EXPECT_EQ(ReadChildren(getpid()), children_before);  // a failed child was reaped
  }
  std::filesystem::remove_all(dir);
}

TEST(SpawnTest, ExecOfAFileOpenForWritingIsAnErrorNamingItAndErrno) {
  // ResolveExecutable cannot see this: only execve refuses (ETXTBSY), so the errno comes from the child.
  const auto file = std::filesystem::temp_directory_path() / ("coder-busy-" + std::to_string(getpid()));
  std::filesystem::copy_file("/bin/true", file, std::filesystem::copy_options::overwrite_existing);
  chmod(file.c_str(), 0755);
  const int writer = open(file.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  LaunchSpec spec;
  spec.argv = {file.string()};
  const auto children_before = ReadChildren(getpid());
  auto child = ChildProcess::Start(spec);
  close(writer);
  std::filesystem::remove(file);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.error().message, "cannot execute " + file.string() + ": Text file busy");
  EXPECT_EQ(ReadChildren(getpid()), children_before);
}

}  // namespace
}  // namespace coder::harness
