#include "harness/experiment/hang_capture.h"

#include <string>
#include <unordered_map>
#include <utility>

#include "harness/analysis/hang_verdict.h"
#include "harness/measure/hang_snapshot.h"
#include "harness/process/loop_await.h"
#include "harness/process/proc_net.h"
#include "harness/process/subreaper.h"

namespace coder::harness {

void NameHeldSockets(HangSnapshot& hang, const std::vector<TrafficSession::HeldConnection>& held) {
  // Each client's endpoint as a server's socket table writes its peer, looked up once per socket.
  std::unordered_map<std::string, const std::string*> by_endpoint;
  for (const auto& h : held) {
    const bool v6 = h.address.find(':') != std::string::npos;
    by_endpoint.emplace(EndpointText(h.address, h.port, v6), &h.what);
    if (!v6) by_endpoint.emplace(EndpointText("::ffff:" + h.address, h.port, true), &h.what);
  }
  for (OpenSocket& s : hang.sockets)
    if (auto it = by_endpoint.find(s.remote); it != by_endpoint.end()) s.held_by = *it->second;
}

boost::asio::awaitable<HangSnapshot> SnapshotHang(ChildProcess& child, std::string taken_at, TrafficSession* traffic) {
  std::vector<TrafficSession::HeldConnection> held;
  if (traffic != nullptr) held = traffic->OpenConnections();
  const std::vector<pid_t> pids = LiveTreeLeaderFirst(child.pid());
  const auto launched = child.started_at();
  HangSnapshot hang = co_await OffLoop([&] { return TakeHangSnapshot(pids, launched, std::move(taken_at)); });
  NameHeldSockets(hang, held);
  hang.verdict = HangVerdict(hang);
  co_return hang;
}

}  // namespace coder::harness
