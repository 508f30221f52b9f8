// Where a hung run hangs, from /proc without ptrace: its threads' kernel state, its open sockets, the
// verdict and the report's "where it hung" lines. Real sockets and threads of this test process.
#include "harness/measure/hang_snapshot.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <thread>

#include "harness/analysis/hang_json.h"
#include "harness/analysis/hang_verdict.h"
#include "harness/experiment/hang_capture.h"
#include "harness/process/proc_net.h"
#include "harness/process/socket_inventory.h"
#include "harness/process/thread_states.h"
#include "tests/support/loopback.h"

namespace coder::harness {
namespace {

using ::testing::HasSubstr;

/// A listener on an ephemeral loopback port, a client connected to it and the accepted end.
struct LoopbackPair {
  LoopbackPair() {
    listener = test_support::ListenOnLoopback(AF_INET, port);
    EXPECT_GE(listener, 0);
    client = test_support::ConnectToLoopback(AF_INET, port);
    EXPECT_GE(client, 0);
    served = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(served, 0);
  }
  ~LoopbackPair() {
    for (int fd : {listener, client, served}) ::close(fd);
  }
  int listener = -1, client = -1, served = -1;
  uint16_t port = 0;
};

const OpenSocket* ByFd(const std::vector<OpenSocket>& sockets, int fd) {
  auto it = std::find_if(sockets.begin(), sockets.end(), [&](const OpenSocket& s) { return s.fd == fd; });
  return it == sockets.end() ? nullptr : &*it;
}

TEST(SocketInventoryTest, ListsEachSocketWithItsStateAndEndpointsListenersFirst) {
  LoopbackPair pair;
  int unix_pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, unix_pair), 0);
  ASSERT_EQ(::write(pair.client, "abc", 3), 3);
  const SocketInventory inv = SocketsOf({::getpid()}, 1000);
  ASSERT_FALSE(inv.sockets.empty());
  EXPECT_EQ(inv.sockets.front().state, "LISTEN");
  const std::string port = std::to_string(pair.port);
  const OpenSocket* listener = ByFd(inv.sockets, pair.listener);
  ASSERT_NE(listener, nullptr);
  EXPECT_EQ(listener->protocol, "tcp");
  EXPECT_EQ(listener->local, "127.0.0.1:" + port);
  EXPECT_EQ(listener->remote, "");
  const OpenSocket* served = ByFd(inv.sockets, pair.served);
  ASSERT_NE(served, nullptr);
  EXPECT_EQ(served->state, "ESTABLISHED");
  EXPECT_EQ(served->local, "127.0.0.1:" + port);
  const OpenSocket* client = ByFd(inv.sockets, pair.client);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(served->remote, client->local);
  EXPECT_EQ(served->rx_queue, 3u) << "what the client sent and nobody read";
  const OpenSocket* unix_end = ByFd(inv.sockets, unix_pair[0]);
  ASSERT_NE(unix_end, nullptr);
  EXPECT_EQ(unix_end->protocol, "unix");
  EXPECT_EQ(unix_end->state, "CONNECTED");
  ::close(unix_pair[0]);
  ::close(unix_pair[1]);
}

TEST(SocketInventoryTest, KeepsAtMostTheLimitAndCountsTheRest) {
  LoopbackPair pair;
  const SocketInventory all = SocketsOf({::getpid()}, 1000);
  const SocketInventory two = SocketsOf({::getpid()}, 2);
  ASSERT_GE(all.sockets.size(), 3u);
  EXPECT_EQ(two.sockets.size(), 2u);
  EXPECT_EQ(two.omitted, all.sockets.size() - 2 + all.omitted);
  EXPECT_TRUE(SocketsOf({}, 10).sockets.empty());
}

TEST(SocketInventoryTest, ParsesUnixRowsWithListenersAbstractNamesAndPathsWithSpaces) {
  const auto rows = ParseUnixTable(
      "Num       RefCount Protocol Flags    Type St Inode Path\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 27043 /run/my server.sock\n"
      "0000000000000000: 00000003 00000000 00000000 0001 03 27044 @abstract\n"
      "0000000000000000: 00000003 00000000 00000000 0001 03 27045\n"
      "garbage\n");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].state, "LISTEN");
  EXPECT_EQ(rows[0].path, "/run/my server.sock");
  EXPECT_EQ(rows[1].state, "CONNECTED");
  EXPECT_EQ(rows[1].path, "@abstract");
  EXPECT_EQ(rows[2].inode, 27045u);
  EXPECT_EQ(rows[2].path, "");
}

TEST(ThreadStatesTest, ABlockedThreadIsSeenInItsSystemCall) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  std::promise<pid_t> tid;
  std::thread reader([&] {
    tid.set_value(::gettid());
    char c;
    (void)::read(fds[0], &c, 1);
  });
  const pid_t reader_tid = tid.get_future().get();
  // Until the reader is inside read(2), /proc shows it running: wait for the state, with a deadline.
  ProcessThreads p;
  const ThreadState* seen = nullptr;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < deadline;) {
    p = ThreadsOf(::getpid(), 1000);
    auto it =
        std::find_if(p.threads.begin(), p.threads.end(), [&](const ThreadState& t) { return t.tid == reader_tid; });
    if (it != p.threads.end() && it->state == 'S') {
      seen = &*it;
      break;
    }
    std::this_thread::yield();
  }
  ASSERT_NE(seen, nullptr) << "the reader never slept";
  EXPECT_EQ(p.threads.front().tid, ::getpid()) << "the leader first";
  EXPECT_FALSE(p.name.empty());
  // /proc/PID/syscall needs ptrace rights; without them only the state and wchan tell.
  if (!seen->syscall.empty()) {
    EXPECT_EQ(seen->syscall, "read");
  }
  EXPECT_NE(ThreadWait(*seen), "running");
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  reader.join();
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(ThreadsOf(::getpid(), 1).threads.size(), 1u);
  EXPECT_TRUE(ThreadsOf(0x7ffffff0, 10).threads.empty()) << "a process that does not exist";
}

TEST(ThreadStatesTest, SyscallTextIsNamed) {
  EXPECT_EQ(SyscallOfProcText("running\n"), "running");
  EXPECT_EQ(SyscallOfProcText("-1 0x7ffd 0x0\n"), "in kernel");
  EXPECT_EQ(SyscallOfProcText(""), "");
#if defined(__x86_64__)
  EXPECT_EQ(SyscallOfProcText("202 0x1 0x80 0x0 0x0 0x0 0x0 0x7ffd 0x7f00\n"), "futex");
  EXPECT_EQ(SyscallName(232), "epoll_wait");
#endif
  EXPECT_EQ(SyscallName(100000), "syscall 100000");
}

HangSnapshot Snapshot() {
  HangSnapshot h;
  h.at_ms = 2500;
  h.taken_at = "watchdog";
  h.sockets = {
      {.pid = 10, .fd = 3, .inode = 1, .protocol = "tcp", .state = "LISTEN", .local = "127.0.0.1:8080"},
      {.pid = 10,
       .fd = 7,
       .inode = 2,
       .protocol = "tcp",
       .state = "ESTABLISHED",
       .local = "127.0.0.1:8080",
       .remote = "127.0.0.1:51234"},
      // A server talking to its own worker: both ends in the tree, not what holds the stop.
      {.pid = 10,
       .fd = 8,
       .inode = 3,
       .protocol = "tcp",
       .state = "ESTABLISHED",
       .local = "127.0.0.1:40000",
       .remote = "127.0.0.1:40001"},
      {.pid = 11,
       .fd = 4,
       .inode = 4,
       .protocol = "tcp",
       .state = "ESTABLISHED",
       .local = "127.0.0.1:40001",
       .remote = "127.0.0.1:40000"},
      {.pid = 10, .fd = 9, .inode = 5, .protocol = "unix", .state = "CONNECTED"},
  };
  h.processes = {{.pid = 10,
                  .name = "server",
                  .threads = {{.tid = 10, .name = "server", .state = 'S', .syscall = "epoll_wait"},
                              {.tid = 12, .name = "worker", .state = 'S', .syscall = "futex"},
                              {.tid = 13, .name = "worker", .state = 'S', .syscall = "futex"}}}};
  return h;
}

TEST(HangVerdictTest, NamesTheOutsideConnectionWhoHoldsItTheListenerAndTheWaits) {
  HangSnapshot h = Snapshot();
  NameHeldSockets(h, {{.address = "127.0.0.1", .port = 51234, .what = "the harness's silent client /"},
                      {.address = "127.0.0.1", .port = 9, .what = "not this one"}});
  EXPECT_EQ(h.sockets[1].held_by, "the harness's silent client /");
  EXPECT_EQ(h.sockets[2].held_by, "");
  EXPECT_EQ(HangVerdict(h),
            "1 connection open: ESTABLISHED 127.0.0.1:8080 ← 127.0.0.1:51234 (the harness's silent client /); "
            "listener 127.0.0.1:8080 still open; 3 threads: 2 in futex, 1 in epoll_wait");
}

TEST(HangVerdictTest, ADualStackListenersMappedPeerIsTheSameClient) {
  HangSnapshot h;
  h.sockets = {{.protocol = "tcp6",
                .state = "ESTABLISHED",
                .local = "[::ffff:127.0.0.1]:80",
                .remote = "[::ffff:127.0.0.1]:5000"}};
  NameHeldSockets(h, {{.address = "127.0.0.1", .port = 5000, .what = "the harness's idle client /"}});
  EXPECT_EQ(h.sockets[0].held_by, "the harness's idle client /");
}

TEST(HangVerdictTest, NothingOpenSaysSo) {
  HangSnapshot h;
  h.processes = {{.pid = 1, .name = "x", .threads = {{.tid = 1, .state = 'R', .syscall = "running"}}}};
  EXPECT_EQ(HangVerdict(h), "no connection open; no listener open; 1 thread, in running");
}

TEST(HangVerdictTest, WhereItHungLinesListSocketsAndThreadsWithinTheirLimits) {
  HangSnapshot h = Snapshot();
  h.verdict = HangVerdict(h);
  h.sockets_omitted = 7;
  const auto lines = WhereItHungLines(h, 2, 1);
  ASSERT_GE(lines.size(), 6u);
  EXPECT_THAT(lines[0], HasSubstr("where it hung (at the watchdog, 2.5s after the launch): 1 connection open"));
  EXPECT_EQ(lines[1], "open sockets:");
  EXPECT_EQ(lines[2], "  pid 10 fd 3 tcp LISTEN 127.0.0.1:8080");
  EXPECT_EQ(lines[3], "  pid 10 fd 7 tcp ESTABLISHED 127.0.0.1:8080 ← 127.0.0.1:51234");
  EXPECT_EQ(lines[4], "  and 10 more sockets");
  EXPECT_EQ(lines[5], "threads of pid 10 (server): 3");
  EXPECT_EQ(lines[6], "  tid 10 server [S] epoll_wait");
  EXPECT_EQ(lines[7], "  and 2 more threads");
}

TEST(HangVerdictTest, ARuntimesDumpLeadsTheVerdictAndHasItsLine) {
  HangSnapshot h;
  h.processes = {{.pid = 42, .name = "api", .threads = {{.tid = 42, .state = 'S', .syscall = "futex"}}}};
  std::vector<ProcessStacks> stacks = {
      {.pid = 42,
       .tool = "sigquit",
       .at_ms = 2500,
       .text = "goroutine 1 [select]:\n",
       .runtime = "go",
       .verdict = "main goroutine [select] in main.(*API).Close (main.go:36)"},
      {.pid = 43,
       .tool = "sigquit",
       .at_ms = 2600,
       .error = "no goroutine dump within 2000 ms of SIGQUIT",
       .runtime = "go",
       .cut = true},
      {.pid = 44, .tool = "eu-stack", .at_ms = 2700, .text = "TID 44:\n#0 epoll_wait\n"}};
  EXPECT_EQ(HangVerdict(h, stacks),
            "goroutines of pid 42: main goroutine [select] in main.(*API).Close (main.go:36); no connection open; no "
            "listener open; 1 thread, in futex");
  h.verdict = HangVerdict(h, stacks);
  const auto lines = WhereItHungLines(h, stacks);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[lines.size() - 2],
            "go dump of pid 42 (sigquit, 2.5s after the launch): main goroutine [select] in main.(*API).Close "
            "(main.go:36)");
  EXPECT_EQ(lines.back(),
            "go dump of pid 43 (sigquit, 2.6s after the launch, cut at its limit): no goroutines read (no goroutine "
            "dump within 2000 ms of SIGQUIT)");
}

TEST(HangJsonTest, ASnapshotRoundTripsAndAMalformedOneIsRefused) {
  HangSnapshot h = Snapshot();
  h.verdict = HangVerdict(h);
  h.sockets[1].held_by = "the harness's websocket client /ws";
  std::optional<HangSnapshot> back;
  ASSERT_TRUE(ReadHang(nlohmann::json::parse(HangJson(h).dump()), back));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, h);
  std::optional<HangSnapshot> none;
  EXPECT_TRUE(ReadHang(nullptr, none));
  EXPECT_FALSE(none);
  nlohmann::json bad = HangJson(h);
  bad["processes"][0]["threads"][0]["state"] = "SS";
  EXPECT_FALSE(ReadHang(bad, none));
  bad = HangJson(h);
  bad["sockets"][0]["fd"] = "three";
  EXPECT_FALSE(ReadHang(bad, none));
}

// The snapshot of a live tree: its processes, threads and sockets, at a time after the launch.
TEST(HangSnapshotTest, TakesThreadsAndSocketsOfTheTreeWithinTheLimits) {
  LoopbackPair pair;
  const auto launched = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  const HangSnapshot h = TakeHangSnapshot({::getpid()}, launched, "stack-after", {.max_threads = 1, .max_sockets = 2});
  EXPECT_GE(h.at_ms, 1000);
  EXPECT_EQ(h.taken_at, "stack-after");
  ASSERT_EQ(h.processes.size(), 1u);
  EXPECT_EQ(h.processes[0].threads.size(), 1u);
  EXPECT_EQ(h.sockets.size(), 2u);
  EXPECT_GE(h.sockets_omitted, 1u);
  EXPECT_TRUE(h.verdict.empty()) << "the analysis writes it";
}

}  // namespace
}  // namespace coder::harness
