#include "harness/process/output_log.h"

#include <algorithm>
#include <utility>

namespace coder::harness {

LineSplitter::LineSplitter(size_t max_line_bytes) : max_line_bytes_(std::max<size_t>(max_line_bytes, 1)) {}

void LineSplitter::Feed(std::string_view data, const Emit& emit) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    std::string_view piece = data.substr(0, nl);
    if (discarding_) {
      truncated_bytes_ += piece.size();
    } else {
      size_t room = max_line_bytes_ - partial_.size();
      if (piece.size() > room) {
        // The line is over the limit: emit what fits now rather than buffering an unbounded line.
        partial_.append(piece.substr(0, room));
        truncated_bytes_ += piece.size() - room;
        discarding_ = true;
        emit(std::exchange(partial_, {}), true);
      } else {
        partial_.append(piece);
      }
    }
    if (nl == std::string_view::npos) return;
    if (discarding_) {
      discarding_ = false;
    } else {
      if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
      emit(std::exchange(partial_, {}), false);
    }
    data.remove_prefix(nl + 1);
  }
}

void LineSplitter::Finish(const Emit& emit) {
  if (!discarding_ && !partial_.empty()) emit(std::exchange(partial_, {}), false);
  discarding_ = false;
}

void LineRing::Push(OutputLine line) {
  retained_bytes_ += line.text.size() + kLineOverheadBytes;
  lines_.push_back(std::move(line));
  while (retained_bytes_ > capacity_bytes_ && lines_.size() > 1) {
    const OutputLine& old = lines_.front();
    retained_bytes_ -= old.text.size() + kLineOverheadBytes;
    evicted_bytes_ += old.text.size() + 1;
    lines_.pop_front();
  }
}

}  // namespace coder::harness
