#include "harness/traffic/eof_rule.h"

namespace coder::harness {

bool ServerTookRequest(const EofLooks& looks) {
  if (looks.reset || looks.closed_after || looks.unacked != 0) return false;
  if (looks.peer_rx_queue) return *looks.peer_rx_queue == 0;
  return !looks.peer_seen;
}

}  // namespace coder::harness
