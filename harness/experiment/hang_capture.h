#pragma once

#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "harness/measure/measurements.h"
#include "harness/process/child_process.h"
#include "harness/traffic/traffic_session.h"

namespace coder::harness {

/// Names each socket of `hang` whose other end is one of `held` (the harness's own client
/// connections): its held_by says which client it is. A server that sees an IPv4 client on a dual-stack
/// listener has "[::ffff:127.0.0.1]:PORT" as its peer; that is the same client.
void NameHeldSockets(HangSnapshot& hang, const std::vector<TrafficSession::HeldConnection>& held);

/// What the child's live tree holds and does now, at `taken_at` ("stack-after", "watchdog",
/// "ready-timeout"): TakeHangSnapshot off the loop (a large tree's /proc takes milliseconds), the
/// harness's clients named from `traffic` (may be null), and the verdict. Call on the loop.
boost::asio::awaitable<HangSnapshot> SnapshotHang(ChildProcess& child, std::string taken_at, TrafficSession* traffic);

}  // namespace coder::harness
