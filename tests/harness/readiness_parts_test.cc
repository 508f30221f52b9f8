// The parts readiness is built from: the /proc/net tables, the port registry, the notify socket.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "harness/measure/notify_socket.h"
#include "harness/measure/readiness.h"
#include "harness/process/port_reservation.h"
#include "harness/process/proc_fs.h"
#include "harness/process/proc_net.h"
#include "tests/support/loopback.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace coder::harness {
namespace {

using ::testing::HasSubstr;

constexpr const char* kTcpTable =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n"
    "   1: 0100007F:1F90 0100007F:C350 01 0000000A:00000000 00:00000000 00000000     0        0 4243 1 0 20 4 30 10 "
    "-1\n"
    "   2: garbage\n";
constexpr const char* kTcp6Table =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
    "tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 77 1 0 100 0 0 10 0\n";

TEST(ProcNetTest, ParsesTheKernelsTcpTables) {
  const auto rows = ParseTcpTable(kTcpTable, false);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].LocalEndpoint(), "127.0.0.1:8080");
  EXPECT_TRUE(rows[0].listening());
  EXPECT_EQ(rows[0].rx_queue, 3u);
  EXPECT_EQ(rows[0].inode, 4242u);
  EXPECT_EQ(rows[1].RemoteEndpoint(), "127.0.0.1:50000");
  EXPECT_EQ(TcpStateName(rows[1].state), "ESTABLISHED");
  EXPECT_EQ(rows[1].tx_queue, 10u);
  const auto rows6 = ParseTcpTable(kTcp6Table, true);
  ASSERT_EQ(rows6.size(), 1u);
  EXPECT_EQ(rows6[0].LocalEndpoint(), "[::]:80");
  EXPECT_EQ(TcpStateName(0x42), "state 0x42");
}

TEST(ProcNetTest, FindsTheListenerThisProcessHolds) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const uint16_t port = ntohs(addr.sin_port);
  auto listens = [&] {
    for (const auto& l : ListenersOf({::getpid()}))
      if (l.local_port == port) return true;
    return false;
  };
  EXPECT_FALSE(listens());  // bound is not listening
  ASSERT_EQ(::listen(fd, 4), 0);
  EXPECT_TRUE(listens());
  EXPECT_EQ(ProcessTree(::getpid()).front(), ::getpid());
  ::close(fd);
  EXPECT_FALSE(listens());
}

using test_support::ConnectToLoopback;
using test_support::ListenOnLoopback;

// What the traffic clients ask of a connection's server end: queued (no inode), accepted with bytes
// unread, read.
TEST(ProcNetTest, APeerLookupSaysWhetherTheServerAcceptedAndReadWhatWasSent) {
  for (int family : {AF_INET, AF_INET6}) {
    uint16_t port = 0;
    const int listener = ListenOnLoopback(family, port);
    if (listener < 0 && family == AF_INET6) continue;  // a machine without IPv6
    ASSERT_GE(listener, 0);
    const int client = ConnectToLoopback(family, port);
    ASSERT_GE(client, 0);
    ASSERT_EQ(::write(client, "hello", 5), 5);
    auto queued = DiagPeerOf(client);
    ASSERT_TRUE(queued) << queued.error().message;
    ASSERT_TRUE(*queued);
    EXPECT_EQ((*queued)->inode, 0u) << "in the accept queue";
    EXPECT_EQ((*queued)->local_port, port);
    const int served = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(served, 0);
    auto unread = DiagPeerOf(client);
    ASSERT_TRUE(unread && *unread);
    EXPECT_NE((*unread)->inode, 0u);
    EXPECT_EQ((*unread)->rx_queue, 5u);
    char buf[8];
    ASSERT_EQ(::read(served, buf, sizeof buf), 5);
    auto read = DiagPeerOf(client);
    ASSERT_TRUE(read && *read);
    EXPECT_EQ((*read)->rx_queue, 0u);
    ::close(served);
    ::close(client);
    ::close(listener);
  }
  const int unconnected = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_FALSE(DiagPeerOf(unconnected).ok());
  ::close(unconnected);
}

// A machine that has run many stops holds tens of thousands of TIME_WAIT sockets, no descriptor's: the
// hang snapshot's inventory reads only the states a descriptor can hold (13 000 of them made it 5x slower).
TEST(ProcNetTest, OwnableSocketsLeaveOutTimeWaitAndKeepTheOpenConnection) {
  uint16_t port = 0;
  const int listener = ListenOnLoopback(AF_INET, port);
  ASSERT_GE(listener, 0);
  const int closer = ConnectToLoopback(AF_INET, port);
  const int kept = ConnectToLoopback(AF_INET, port);
  ASSERT_GE(closer, 0);
  ASSERT_GE(kept, 0);
  const int closer_peer = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  const int kept_peer = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(closer_peer, 0);
  ASSERT_GE(kept_peer, 0);
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ASSERT_EQ(::getsockname(closer, reinterpret_cast<sockaddr*>(&local), &len), 0);
  const uint16_t closed_port = ntohs(local.sin_port);
  // The side that closes first ends in TIME_WAIT once the other side closes too.
  ::close(closer);
  ::close(closer_peer);
  auto in_time_wait = [&] {
    auto tw = DiagTcpSockets(1u << kTcpTimeWait);
    return tw && std::any_of(tw->begin(), tw->end(), [&](const auto& e) { return e.local_port == closed_port; });
  };
  ASSERT_TRUE(test_support::Eventually(in_time_wait, test_support::In(std::chrono::seconds(5))));
  bool kept_seen = false;
  for (const TcpSocketEntry& e : OwnableTcpSockets(::getpid())) {
    EXPECT_NE(e.state, kTcpTimeWait) << e.LocalEndpoint();
    kept_seen = kept_seen || (e.remote_port == port && e.state == kTcpEstablished);
  }
  EXPECT_TRUE(kept_seen);
  for (int fd : {kept, kept_peer, listener}) ::close(fd);
}

TEST(ProcNetTest, NetlinkListenersMatchTheProcTablesRowForRow) {
  uint16_t port4 = 0, port6 = 0;
  const int fd4 = ListenOnLoopback(AF_INET, port4);
  ASSERT_GE(fd4, 0);
  const int fd6 = ListenOnLoopback(AF_INET6, port6);  // a machine without IPv6 checks IPv4 only
  // A connection waiting in the accept queue, so the queue sizes are compared with something in them.
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(port4);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);

  auto key = [](const TcpSocketEntry& e) {
    return std::tuple(e.inode, e.local_address, e.local_port, e.remote_address, e.remote_port, e.state, e.rx_queue,
                      e.tx_queue, e.ipv6);
  };
  using Rows = std::set<decltype(key(TcpSocketEntry{}))>;
  auto proc_rows = [&] {
    Rows rows;
    for (auto& e : ReadTcpSockets(::getpid()))
      if (e.listening()) rows.insert(key(e));
    return rows;
  };
  // Other tests open and close listeners in this namespace while this one reads, so the comparison
  // counts only when the proc tables read the same before and after the netlink dump.
  Result<std::vector<TcpSocketEntry>> diag = Error{"not read"};
  Rows from_proc, from_diag;
  bool settled = false;
  for (int attempt = 0; attempt < 50 && !settled; ++attempt) {
    from_proc = proc_rows();
    diag = DiagTcpSockets(1u << kTcpListen);
    ASSERT_TRUE(diag) << diag.error().message;
    settled = proc_rows() == from_proc;
  }
  ASSERT_TRUE(settled) << "the listening sockets of this namespace never held still across one dump";
  for (const auto& e : *diag) from_diag.insert(key(e));
  EXPECT_EQ(from_diag, from_proc);
  bool saw4 = false, saw6 = false;
  for (const auto& e : *diag) {
    EXPECT_EQ(e.state, kTcpListen);
    if (!e.ipv6 && e.local_port == port4) {
      saw4 = true;
      EXPECT_EQ(e.LocalEndpoint(), fmt::format("127.0.0.1:{}", port4));
      EXPECT_EQ(e.rx_queue, 1u);
    }
    if (e.ipv6 && fd6 >= 0 && e.local_port == port6) {
      saw6 = true;
      EXPECT_EQ(e.LocalEndpoint(), fmt::format("[::1]:{}", port6));
    }
  }
  EXPECT_TRUE(saw4);
  EXPECT_EQ(saw6, fd6 >= 0);
  ::close(client);
  ::close(fd4);
  if (fd6 >= 0) ::close(fd6);
}

TEST(ProcNetTest, ListeningSocketsOfAProcessAreThoseOfItsNamespace) {
  uint16_t port = 0;
  const int fd = ListenOnLoopback(AF_INET, port);
  ASSERT_GE(fd, 0);
  auto has_port = [&](const std::vector<TcpSocketEntry>& rows) {
    for (const auto& e : rows)
      if (e.local_port == port && e.listening()) return true;
    return false;
  };
  EXPECT_TRUE(has_port(ListeningTcpSockets(::getpid())));
  ::close(fd);
  EXPECT_FALSE(has_port(ListeningTcpSockets(::getpid())));
  // A process that is gone has no namespace to ask.
  EXPECT_TRUE(ListeningTcpSockets(0x7ffffff0).empty());
}

TEST(ProcNetTest, AListenerInAnotherNetworkNamespaceIsFoundThroughItsOwnTables) {
  // unshare(1) needs CAP_SYS_ADMIN (or unprivileged user namespaces): where it cannot, say so.
  if (test_support::RunToEnd(LaunchSpec{.argv = {"unshare", "-n", "true"}}, std::chrono::seconds(10)).Exit() !=
      "exit 0")
    GTEST_SKIP() << "unshare -n is not permitted here";
  LaunchSpec spec;
  spec.argv = {"unshare", "-n", "python3", "-c",
               "import signal, socket\n"
               "s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen()\n"
               "print('port', s.getsockname()[1], flush=True); signal.pause()"};
  auto child = test_support::StartOrFail(spec);
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine([](const OutputLine& l) { return l.text.rfind("port ", 0) == 0; },
                                 std::chrono::steady_clock::now() + std::chrono::seconds(10)))
      << child->Output();
  uint16_t port = 0;
  for (const auto& l : child->Lines())
    if (l.text.rfind("port ", 0) == 0) port = static_cast<uint16_t>(std::stoi(l.text.substr(5)));
  ASSERT_GT(port, 0);
  // unshare execs python3, so the leader is the listener itself.
  const auto listeners = ListenersOf({child->pid()});
  ASSERT_EQ(listeners.size(), 1u) << child->Output();
  EXPECT_EQ(listeners[0].local_port, port);
  // The harness's own namespace does not hold it: netlink alone would have missed it.
  auto own = DiagTcpSockets(1u << kTcpListen);
  ASSERT_TRUE(own) << own.error().message;
  for (const auto& e : *own) EXPECT_NE(e.inode, listeners[0].inode);
}

TEST(ProcStatTest, ReadsTheTaskFlagsThatTellAnExitingTask) {
  auto st = ParseProcStat("42 (a (b) c) S 1 42 42 0 -1 4194564 100 0 0 0");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->flags, 4194564u);
  EXPECT_TRUE(st->exiting());  // PF_EXITING is 0x4, set in 4194564
  auto running = ParseProcStat("42 (x) S 1 42 42 0 -1 4194560 100");
  ASSERT_TRUE(running);
  EXPECT_FALSE(running->exiting());
  auto self = ReadProcStat(::getpid());
  ASSERT_TRUE(self);
  EXPECT_FALSE(self->exiting());
}

TEST(ProcStatTest, SeesASignalThatIsPendingAndNotYetHandled) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
  EXPECT_FALSE(SignalPending(::getpid(), SIGUSR2));
  ASSERT_EQ(::raise(SIGUSR2), 0);  // to this thread, the process's main thread in gtest's main()
  EXPECT_TRUE(SignalPending(::getpid(), SIGUSR2));
  timespec zero{};
  EXPECT_EQ(sigtimedwait(&set, nullptr, &zero), SIGUSR2);
  EXPECT_FALSE(SignalPending(::getpid(), SIGUSR2));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void IgnoreSignal(int) {}

TEST(ProcStatTest, SeesWhichSignalsAProcessCatches) {
  const int sig = SIGRTMIN + 7;
  struct sigaction old {};
  ASSERT_EQ(::sigaction(sig, nullptr, &old), 0);
  EXPECT_FALSE(SignalCaught(::getpid(), sig));
  struct sigaction handler {};
  handler.sa_handler = IgnoreSignal;
  ASSERT_EQ(::sigaction(sig, &handler, nullptr), 0);
  EXPECT_TRUE(SignalCaught(::getpid(), sig));
  ASSERT_EQ(::sigaction(sig, &old, nullptr), 0);
  EXPECT_FALSE(SignalCaught(::getpid(), sig));
  EXPECT_FALSE(SignalCaught(::getpid(), 65));
}

TEST(PortReservationTest, NoTwoLiveReservationsShareAPort) {
  // The kernel hands a just-freed port out again; 2000 picks of ~28000 ephemeral ports collide almost
  // surely unless reserved ones are skipped.
  std::vector<PortReservation> held;
  std::set<uint16_t> ports;
  for (int i = 0; i < 2000; ++i) {
    auto r = PortReservation::Reserve();
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(ports.insert(r->port()).second) << "port " << r->port() << " handed out twice";
    held.push_back(std::move(*r));
  }
}

TEST(PortReservationTest, ReleaseIsIdempotentAndFreesThePort) {
  auto r = PortReservation::Reserve();
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->port(), 0);
  r->Release();
  r->Release();
  EXPECT_EQ(r->port(), 0);
}

TEST(NotifySocketTest, RecordsReadyStoppingAndStatusAsTheTargetSendsThem) {
  // In /tmp whatever $TMPDIR says: the socket's path must fit in sun_path's 108 bytes.
  const test_support::TempDir temp("notify-test", "/tmp");
  const std::string dir = temp.path();
  auto socket = NotifySocket::Open(dir);
  ASSERT_TRUE(socket.ok()) << socket.error().message;
  EXPECT_EQ((*socket)->address(), dir + "/notify");
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, (*socket)->address().c_str(), sizeof addr.sun_path - 1);
  auto send = [&](const std::string& text) {
    return ::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  };
  (*socket)->Drain();
  EXPECT_FALSE((*socket)->ready_at());
  const auto before = std::chrono::steady_clock::now();
  ASSERT_GT(send("STATUS=loading\nREADY=1"), 0);
  ASSERT_GT(send("STOPPING=1\nSTATUS=bye"), 0);
  (*socket)->Drain();
  (*socket)->Drain();
  ASSERT_TRUE((*socket)->ready_at());
  EXPECT_GE(*(*socket)->ready_at() + std::chrono::milliseconds(5), before);
  ASSERT_TRUE((*socket)->stopping_at());
  EXPECT_EQ((*socket)->status(), "bye");
  EXPECT_EQ((*socket)->datagrams(), 2u);
  ::close(fd);
}

TEST(ReadinessTest, ParsesHostAndPort) {
  auto a = ParseTcpAddress("127.0.0.1:80");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 80);
  auto v6 = ParseTcpAddress("[::1]:8080");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_THAT(ParseTcpAddress("localhost").error().message, HasSubstr("want HOST:PORT"));
  EXPECT_THAT(ParseTcpAddress("h:0").error().message, HasSubstr("no valid port"));
}

/// A listener of this process on 127.0.0.1 that answers its first connection with a header over the
/// probe's limit and then takes connections without ever answering them.
class OverLimitThenSilentServer {
 public:
  OverLimitThenSilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 8);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OverLimitThenSilentServer() {
    ::shutdown(fd_, SHUT_RDWR);  // wakes the accept
    thread_.join();
    for (int c : silent_) ::close(c);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    for (bool first = true;; first = false) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      char request[4096];
      (void)::recv(c, request, sizeof request, 0);
      if (!first) {
        silent_.push_back(c);  // only this thread touches it until the join
        continue;
      }
      const std::string head = "HTTP/1.1 200 OK\r\nX-Endless: " + std::string(64 << 10, 'a');
      (void)::send(c, head.data(), head.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> silent_;
  std::thread thread_;
};

TEST(ReadinessTest, AnAttemptTheDeadlineCutShortKeepsWhatTheAttemptBeforeSaw) {
  using Clock = std::chrono::steady_clock;
  using namespace std::chrono_literals;
  OverLimitThenSilentServer server;
  ReadinessProbes probes(::getpid(), false, "http://127.0.0.1:" + std::to_string(server.port()) + "/", "", {});
  auto last_seen = [&] { return probes.Describe().at(0); };
  EXPECT_FALSE(probes.PollOnce(Clock::now() + 10s));
  EXPECT_THAT(last_seen(), HasSubstr("header limit"));
  // The silent answer outlasts the 50 ms left: that says nothing about the target.
  EXPECT_FALSE(probes.PollOnce(Clock::now() + 50ms));
  EXPECT_THAT(last_seen(), HasSubstr("header limit"));
  // A whole attempt (1 s) that times out does say something: the target stopped answering.
  EXPECT_FALSE(probes.PollOnce(Clock::now() + 10s));
  EXPECT_THAT(last_seen(), HasSubstr("timeout"));
}

}  // namespace
}  // namespace coder::harness
