#include "harness/experiment/hang_capture.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "harness/analysis/hang_verdict.h"
#include "harness/measure/hang_snapshot.h"
#include "harness/process/loop_await.h"
#include "harness/process/subreaper.h"

namespace coder::harness {

void NameHeldSockets(HangSnapshot& hang, const std::vector<TrafficSession::HeldConnection>& held) {
  for (OpenSocket& s : hang.sockets) {
    if (s.remote.empty()) continue;
    for (const auto& h : held) {
      const bool v6 = h.address.find(':') != std::string::npos;
      const std::string plain =
          v6 ? fmt::format("[{}]:{}", h.address, h.port) : fmt::format("{}:{}", h.address, h.port);
      const std::string mapped = fmt::format("[::ffff:{}]:{}", h.address, h.port);
      if (s.remote == plain || (!v6 && s.remote == mapped)) {
        s.held_by = h.what;
        break;
      }
    }
  }
}

boost::asio::awaitable<HangSnapshot> SnapshotHang(ChildProcess& child, std::string taken_at, TrafficSession* traffic) {
  std::vector<TrafficSession::HeldConnection> held;
  if (traffic != nullptr) held = traffic->OpenConnections();
  std::vector<pid_t> pids = LiveDescendants(child.pid());
  std::stable_partition(pids.begin(), pids.end(), [&](pid_t p) { return p == child.pid(); });
  const auto launched = child.started_at();
  HangSnapshot hang = co_await OffLoop([&] { return TakeHangSnapshot(pids, launched, std::move(taken_at)); });
  NameHeldSockets(hang, held);
  hang.verdict = HangVerdict(hang);
  co_return hang;
}

}  // namespace coder::harness
