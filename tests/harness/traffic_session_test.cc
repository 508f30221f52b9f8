// TrafficSession against scripted servers on 127.0.0.1: each server does one precise thing to a
// connection (answer, read and close, close unread, answer half, upgrade and close), so each fate and
// its rule (docs/traffic.md) is pinned to what the kernel really does.
#include "harness/traffic/traffic_session.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <future>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/websocket.hpp>

#include "harness/process/event_loop.h"

namespace coder::harness {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Clock::time_point In(std::chrono::milliseconds d) { return Clock::now() + d; }

/// A listener on 127.0.0.1 that runs `serve` on a thread of its own for every connection it accepts,
/// until it is destroyed (which closes the listener and joins every thread).
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 128) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot listen");
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] {
      for (;;) {
        const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;  // the listener was shut down
        ++accepted_;
        std::lock_guard lock(mu_);
        connections_.emplace_back([this, fd] {
          serve_(fd);
          ::close(fd);
        });
      }
    });
  }
  ~ScriptedServer() {
    ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    ::close(listener_);
    std::lock_guard lock(mu_);
    for (auto& t : connections_) t.join();
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  std::function<void(int)> serve_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;
};

/// Reads until the end of a request's header (or EOF, or 5 s); whether one arrived.
bool ReadRequest(int fd) {
  std::string got;
  char buf[4096];
  const auto deadline = In(5s);
  while (got.find("\r\n\r\n") == std::string::npos && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 100};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
  }
  return got.find("\r\n\r\n") != std::string::npos;
}

void Write(int fd, std::string_view text) { (void)!::write(fd, text.data(), text.size()); }

/// Waits up to 5 s for `f` to be ready: the test's "the signal went out" for a server thread.
void Await(std::shared_future<void> f) { (void)f.wait_for(5s); }

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TrafficSession::Target TargetOn(uint16_t port) {
  return {{"127.0.0.1", std::to_string(port)}, fmt::format("http://127.0.0.1:{}", port), {}};
}

TrafficSpec Clients(ClientKind kind, uint32_t count, std::string path = "/") {
  TrafficSpec spec;
  spec.clients.push_back({kind, count, std::move(path)});
  spec.establish_timeout = 5s;
  return spec;
}

/// What a session's script saw, for the test to check after the loop ran it.
struct Outcome {
  bool established = false;
  TrafficRecord record;
};

/// Runs a whole session on the shared loop: Start, WaitEstablished, MarkSignal, then `after_signal`
/// (a server's cue), Settle (up to 5 s) and Close.
/// Runs a session against `port`: start, wait (up to 5 s, the loop running) until `wait_from` is
/// true, wait for the clients, signal, `after_signal`, settle, close.
Outcome RunSession(
    const TrafficSpec& spec, uint16_t port, const std::function<void()>& after_signal = [] {},
    const std::function<bool()>& wait_from = [] { return true; }) {
  auto session = std::make_shared<TrafficSession>(EventLoop::Shared().context().get_executor(), spec, TargetOn(port));
  auto done = net::co_spawn(
      EventLoop::Shared().context(),
      [&]() -> net::awaitable<Outcome> {
        Outcome out;
        auto started = co_await session->Start();
        EXPECT_TRUE(started.ok());
        net::steady_timer timer(co_await net::this_coro::executor);
        for (const auto until = In(5s); !wait_from() && Clock::now() < until;) {
          timer.expires_after(1ms);
          co_await timer.async_wait(net::use_awaitable);
        }
        out.established =
            co_await session->WaitEstablished(In(std::min<std::chrono::milliseconds>(spec.establish_timeout, 5s)));
        session->MarkSignal(Clock::now());
        after_signal();
        co_await session->Settle(In(5s));
        out.record = session->Close();
        co_return out;
      },
      net::use_future);
  Outcome out = done.get();
  EventLoop::Shared().RunAndWait([&] { session.reset(); });
  return out;
}

/// Runs `spec`'s load against `port` until `enough` (polled every millisecond, up to 10 s), then marks
/// the signal and the exit at once, settles and closes.
TrafficRecord RunLoadUntil(const TrafficSpec& spec, uint16_t port, const std::function<bool()>& enough) {
  auto session = std::make_shared<TrafficSession>(EventLoop::Shared().context().get_executor(), spec, TargetOn(port));
  auto done = net::co_spawn(
      EventLoop::Shared().context(),
      [&]() -> net::awaitable<TrafficRecord> {
        EXPECT_TRUE((co_await session->Start()).ok());
        net::steady_timer timer(co_await net::this_coro::executor);
        for (const auto deadline = In(10s); !enough() && Clock::now() < deadline;) {
          timer.expires_after(1ms);
          co_await timer.async_wait(net::use_awaitable);
        }
        session->MarkSignal(Clock::now());
        session->MarkExit(Clock::now());
        co_await session->Settle(In(5s));
        co_return session->Close();
      },
      net::use_future);
  TrafficRecord record = done.get();
  EventLoop::Shared().RunAndWait([&] { session.reset(); });
  return record;
}

void ExpectEveryRequestHasOneFate(const TrafficRecord& r) {
  for (const auto& c : r.clients) EXPECT_EQ(c.requests.total(), c.requests.tried) << c.kind;
  if (r.load) {
    EXPECT_EQ(r.load->requests.total(), r.load->requests.tried);
  }
  for (const auto& c : r.clients) EXPECT_EQ(c.connections.total(), c.count) << c.kind;
}

TEST(TrafficSessionTest, AnIdleClientIsEstablishedAndItsCloseByTheServerIsClean) {
  std::promise<void> signalled;
  std::shared_future<void> cue = signalled.get_future().share();
  ScriptedServer server([cue](int fd) {
    if (ReadRequest(fd)) Write(fd, kOk);
    Await(cue);
  });
  const Outcome out = RunSession(Clients(ClientKind::kIdle, 3), server.port(), [&] { signalled.set_value(); });
  EXPECT_TRUE(out.established) << out.record.establish_detail;
  const ClientGroupRecord& c = out.record.clients.at(0);
  EXPECT_EQ(c.established, 3u);
  EXPECT_EQ(c.requests.answered_before, 3u);
  EXPECT_EQ(c.connections.closed, 3u);
  EXPECT_EQ(c.requests.dropped, 0u);
  ASSERT_TRUE(c.last_closed_ms);
  ExpectEveryRequestHasOneFate(out.record);
}

TEST(TrafficSessionTest, ARequestTheServerReadAndClosedWithoutAnswerIsDropped) {
  std::promise<void> signalled;
  std::shared_future<void> cue = signalled.get_future().share();
  ScriptedServer server([cue](int fd) {
    (void)ReadRequest(fd);
    Await(cue);
    // Read whole, then closed: the kernel sends a FIN, the request was the server's.
  });
  const Outcome out = RunSession(Clients(ClientKind::kInflight, 1), server.port(), [&] { signalled.set_value(); });
  EXPECT_TRUE(out.established) << out.record.establish_detail;
  const ClientGroupRecord& c = out.record.clients.at(0);
  EXPECT_EQ(c.requests.dropped, 1u);
  EXPECT_EQ(c.requests.closed_before_read, 0u);
  ExpectEveryRequestHasOneFate(out.record);
}

TEST(TrafficSessionTest, ARequestTheServerClosedUnreadIsClosedBeforeReadNotDropped) {
  std::atomic<int> unread{0};
  ScriptedServer server([&unread](int fd) {
    // One answer, then the next request arrives and is never read: closing with unread data is a
    // reset, the kernel's way of saying the application never saw it.
    if (!ReadRequest(fd)) return;
    Write(fd, kOk);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) == 1) ++unread;
  });
  TrafficSpec spec;
  spec.load = LoadSpec{.rate_per_s = 1000, .path = "/", .connections = 1};
  // The last of the five may still be on its way to its close when the load ends.
  const TrafficRecord record = RunLoadUntil(spec, server.port(), [&] { return unread >= 5; });
  ASSERT_TRUE(record.load);
  EXPECT_GE(record.load->requests.closed_before_read, 4u);
  EXPECT_EQ(record.load->requests.dropped, 0u);
  EXPECT_EQ(record.load->requests.error, 0u) << record.load->first_error;
  ExpectEveryRequestHasOneFate(record);
}

// A server that half-closes a keep-alive connection (shutdown for writing, a lingering close) keeps a
// socket whose kernel acknowledged the request it never read. It was "dropped".
TEST(TrafficSessionTest, ARequestThatCrossedAHalfCloseUnreadIsClosedBeforeReadNotDropped) {
  std::promise<void> finished;
  std::shared_future<void> done = finished.get_future().share();
  std::atomic<int> crossed{0};
  ScriptedServer server([&crossed, done](int fd) {
    // The next request arrives (its kernel acknowledges it) and stays unread; then the half-close.
    if (!ReadRequest(fd)) return;
    Write(fd, kOk);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return;
    ::shutdown(fd, SHUT_WR);
    ++crossed;
    Await(done);
  });
  TrafficSpec spec;
  spec.load = LoadSpec{.rate_per_s = 1000, .path = "/", .connections = 1};
  const TrafficRecord record = RunLoadUntil(spec, server.port(), [&] { return crossed >= 3; });
  finished.set_value();
  ASSERT_TRUE(record.load);
  EXPECT_GE(record.load->requests.closed_before_read, 1u);
  EXPECT_EQ(record.load->requests.dropped, 0u);
  ExpectEveryRequestHasOneFate(record);
}

TEST(TrafficSessionTest, AnAnswerCutShortIsDropped) {
  std::promise<void> signalled;
  std::shared_future<void> cue = signalled.get_future().share();
  ScriptedServer server([cue](int fd) {
    if (!ReadRequest(fd)) return;
    Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
    Write(fd, std::string(1000, 'x'));
    Await(cue);
  });
  const Outcome out = RunSession(Clients(ClientKind::kInflight, 1), server.port(), [&] { signalled.set_value(); });
  EXPECT_TRUE(out.established) << out.record.establish_detail;
  EXPECT_EQ(out.record.clients.at(0).requests.dropped, 1u);
  ExpectEveryRequestHasOneFate(out.record);
}

TEST(TrafficSessionTest, AnInflightAnswerThatArrivedWholeBeforeTheSignalIsNotEstablished) {
  // The server closes after its answer so that the settle after the signal has nothing to wait for.
  // The wait for clients starts only once the answer was sent: a look between the request's ack and
  // the answer would rightly see a request in flight.
  std::promise<void> answered;
  std::shared_future<void> sent = answered.get_future().share();
  ScriptedServer server([&answered](int fd) {
    if (ReadRequest(fd)) Write(fd, kOk);
    answered.set_value();
  });
  const Outcome out = RunSession(
      Clients(ClientKind::kInflight, 1, "/fast"), server.port(), [] {},
      [sent] { return sent.wait_for(0s) == std::future_status::ready; });
  EXPECT_FALSE(out.established);
  EXPECT_NE(out.record.establish_detail.find("--client inflight:1:/fast: 0 of 1 established"), std::string::npos)
      << out.record.establish_detail;
  EXPECT_NE(out.record.establish_detail.find("arrived before the stop signal"), std::string::npos)
      << out.record.establish_detail;
  EXPECT_EQ(out.record.clients.at(0).connections.not_established, 1u);
  ExpectEveryRequestHasOneFate(out.record);
}

// A connection the kernel acknowledged while the server never accepted it was counted established: a
// Python server killed before its accept loop ran "closed" an inflight request it never saw.
TEST(TrafficSessionTest, AConnectionLeftInTheAcceptQueueIsNotEstablished) {
  for (ClientKind kind : {ClientKind::kSilent, ClientKind::kInflight}) {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 16), 0);  // and never accept
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    TrafficSpec spec = Clients(kind, 2);
    spec.establish_timeout = 300ms;
    // Closing the listener after the signal resets the queued connections, which ends the settle.
    const Outcome out = RunSession(spec, ntohs(addr.sin_port), [&] { ::close(std::exchange(listener, -1)); });
    EXPECT_FALSE(out.established) << ToString(kind);
    EXPECT_NE(out.record.establish_detail.find("2 still in the listener's accept queue"), std::string::npos)
        << out.record.establish_detail;
    EXPECT_EQ(out.record.clients.at(0).connections.not_established, 2u) << ToString(kind);
  }
}

// A Python server's handler thread had not read the inflight request when SIGTERM killed it: counted
// established, the run then "lost" a request the server never had.
TEST(TrafficSessionTest, AnInflightRequestTheServerAcceptedButNeverReadIsNotEstablished) {
  std::promise<void> signalled;
  std::shared_future<void> cue = signalled.get_future().share();
  ScriptedServer server([cue](int) { Await(cue); });  // accepts, never reads
  TrafficSpec spec = Clients(ClientKind::kInflight, 2);
  spec.establish_timeout = 300ms;
  const Outcome out = RunSession(spec, server.port(), [&] { signalled.set_value(); });
  EXPECT_FALSE(out.established);
  EXPECT_NE(out.record.establish_detail.find("2 accepted with the request still unread"), std::string::npos)
      << out.record.establish_detail;
  EXPECT_EQ(out.record.clients.at(0).connections.not_established, 2u);
}

TEST(TrafficSessionTest, AClientThatCannotConnectIsNotEstablishedAndSaysWhy) {
  uint16_t closed_port = 0;
  {
    ScriptedServer gone([](int) {});
    closed_port = gone.port();
  }
  const Outcome out = RunSession(Clients(ClientKind::kWebsocket, 2, "/ws"), closed_port);
  EXPECT_FALSE(out.established);
  EXPECT_NE(out.record.establish_detail.find("connection refused"), std::string::npos) << out.record.establish_detail;
  EXPECT_EQ(out.record.clients.at(0).connections.not_established, 2u);
}

TEST(TrafficSessionTest, AWebsocketRecordsTheServersCloseCode) {
  std::promise<void> signalled;
  std::shared_future<void> cue = signalled.get_future().share();
  ScriptedServer server([cue](int fd) {
    net::io_context context;
    boost::beast::websocket::stream<net::ip::tcp::socket> ws(context);
    ws.next_layer().assign(net::ip::tcp::v4(), ::dup(fd));
    boost::beast::error_code ec;
    ws.accept(ec);
    if (ec) return;
    Await(cue);
    ws.close(boost::beast::websocket::close_code::going_away, ec);
  });
  const Outcome out =
      RunSession(Clients(ClientKind::kWebsocket, 4, "/ws"), server.port(), [&] { signalled.set_value(); });
  EXPECT_TRUE(out.established) << out.record.establish_detail;
  const ClientGroupRecord& c = out.record.clients.at(0);
  EXPECT_EQ(c.connections.closed, 4u);
  EXPECT_EQ(c.websocket_close_codes, (std::map<int, uint64_t>{{1001, 4}}));
}

TEST(TrafficSessionTest, ALoadOnConnectionsTheServerClosesWhenIdleDropsNothing) {
  std::atomic<int> answered{0};
  ScriptedServer server([&answered](int fd) {
    // One answer a connection, kept alive by its headers, then closed while idle: the race every
    // keep-alive client meets. The next request must go on a new connection, or count as
    // closed-before-read, never as dropped.
    if (!ReadRequest(fd)) return;
    Write(fd, kOk);
    ++answered;
  });
  TrafficSpec spec;
  spec.load = LoadSpec{.rate_per_s = 2000, .path = "/", .connections = 4};
  const TrafficRecord record = RunLoadUntil(spec, server.port(), [&] { return answered >= 200; });
  ASSERT_TRUE(record.load);
  const RequestFates& f = record.load->requests;
  EXPECT_EQ(f.dropped, 0u) << "tried " << f.tried << ", answered " << f.answered_before << "+" << f.answered_after
                           << ", refused " << f.refused << ", closed before read " << f.closed_before_read
                           << ", open at exit " << f.open_at_exit << "; the server accepted " << server.accepted()
                           << " and answered " << answered;
  EXPECT_EQ(record.load->requests.error, 0u) << record.load->first_error;
  // The server counts an answer when it wrote it; this side may parse the last few after the signal.
  const uint64_t answered_here = record.load->requests.answered_before + record.load->requests.answered_after;
  EXPECT_GE(answered_here, 200u);
  EXPECT_EQ(record.load->statuses.at(200), answered_here);
  ExpectEveryRequestHasOneFate(record);
}

TEST(TrafficSessionTest, ConnectionsOpenWhenTheWatchdogFiresAreCountedThere) {
  std::promise<void> released;
  std::shared_future<void> cue = released.get_future().share();
  ScriptedServer server([cue](int fd) {
    Await(cue);
    (void)fd;
  });
  auto session = std::make_shared<TrafficSession>(EventLoop::Shared().context().get_executor(),
                                                  Clients(ClientKind::kSilent, 2), TargetOn(server.port()));
  auto done = net::co_spawn(
      EventLoop::Shared().context(),
      [&]() -> net::awaitable<std::pair<TrafficRecord, TrafficRecord>> {
        EXPECT_TRUE((co_await session->Start()).ok());
        EXPECT_TRUE(co_await session->WaitEstablished(In(5s)));
        session->MarkSignal(Clock::now());
        session->MarkWatchdog();
        session->MarkExit(Clock::now());
        TrafficRecord first = session->Close();
        co_return std::pair(first, session->Close());
      },
      net::use_future);
  const auto [first, second] = done.get();
  released.set_value();
  EventLoop::Shared().RunAndWait([&] { session.reset(); });
  EXPECT_EQ(first.clients.at(0).connections.open_at_watchdog, 2u);
  EXPECT_FALSE(first.clients.at(0).last_closed_ms);
  EXPECT_EQ(first, second);  // Close is idempotent
}

}  // namespace
}  // namespace coder::harness
