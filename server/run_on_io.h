#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <future>

namespace coder::server {

/// Runs f on the io_context's thread and returns its result, so state owned by that thread can be touched
/// from the shutdown thread. The io_context must be running on its thread, or stopped (then f runs in the
/// caller, as no handler can run concurrently); calling it on an io_context that was never run blocks.
template <class F>
auto RunOnIo(boost::asio::io_context& ioc, F f) -> decltype(f()) {
  if (ioc.get_executor().running_in_this_thread() || ioc.stopped()) return f();
  std::packaged_task<decltype(f())()> task(std::move(f));
  auto result = task.get_future();
  boost::asio::post(ioc, [&task] { task(); });
  return result.get();
}

}  // namespace coder::server
