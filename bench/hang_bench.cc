// The hang snapshot's socket inventory of a process holding many sockets: /proc/PID/fd, one sock_diag
// dump of the TCP table and /proc/PID/net/unix. Issue 15's target: 10 000 sockets within 50 ms.

#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "harness/process/socket_inventory.h"
#include "tests/support/loopback.h"

namespace coder::bench {
namespace {

/// `sockets` TCP sockets of this process: a listener and connected pairs (client and accepted end).
class ManySockets {
 public:
  explicit ManySockets(int sockets) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    uint16_t port = 0;
    const int listener = Keep(test_support::ListenOnLoopback(AF_INET, port, 4096));
    if (listener < 0) return;
    while (static_cast<int>(fds_.size()) + 2 <= sockets) {
      if (Keep(test_support::ConnectToLoopback(AF_INET, port)) < 0) return;
      if (Keep(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)) < 0) return;
    }
    ok_ = true;
  }
  ~ManySockets() {
    for (int fd : fds_) ::close(fd);
  }
  bool ok() const { return ok_; }

 private:
  int Keep(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  std::vector<int> fds_;
  bool ok_ = false;
};

// Arg: sockets held. Items: sockets inventoried.
void BM_SocketInventory(benchmark::State& state) {
  const ManySockets held(static_cast<int>(state.range(0)));
  if (!held.ok()) {
    state.SkipWithError("could not open the sockets (RLIMIT_NOFILE?)");
    return;
  }
  for (auto _ : state) {
    auto inventory = harness::SocketsOf({::getpid()}, 256);
    benchmark::DoNotOptimize(inventory);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SocketInventory)->Arg(100)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
