#include "harness/traffic/traffic_record.h"

namespace coder::harness {

RequestFates& RequestFates::operator+=(const RequestFates& o) {
  answered_before += o.answered_before;
  answered_after += o.answered_after;
  refused += o.refused;
  closed_before_read += o.closed_before_read;
  dropped += o.dropped;
  open_at_exit += o.open_at_exit;
  open_at_watchdog += o.open_at_watchdog;
  error += o.error;
  tried += o.tried;
  return *this;
}

RequestFates TrafficRecord::AllRequests() const {
  RequestFates all;
  for (const auto& c : clients) all += c.requests;
  if (load) all += load->requests;
  return all;
}

}  // namespace coder::harness
