#include "harness/process/loop_await.h"

#include <boost/asio/steady_timer.hpp>

namespace coder::harness {

namespace net = boost::asio;

net::awaitable<void> WaitOn(ChildProcess& child, std::function<bool(const OutputLine*)> check,
                            std::chrono::steady_clock::time_point deadline) {
  // Already so: no timer, no turn of the loop.
  if (check(nullptr)) co_return;
  co_await net::async_initiate<const net::use_awaitable_t<>&, void()>(
      [&child, &check, deadline](auto handler) {
        // AsyncWait takes a copyable callback; the coroutine's handler can only move.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        child.AsyncWait(std::move(check), deadline, [shared] { std::move (*shared)(); });
      },
      net::use_awaitable);
}

net::awaitable<void> SleepUntil(std::chrono::steady_clock::time_point deadline) {
  net::steady_timer timer(co_await net::this_coro::executor, deadline);
  co_await timer.async_wait(net::use_awaitable);
}

net::awaitable<void> StopChild(ChildProcess& child) {
  if (child.TryStopAtOnce()) co_return;
  co_await OffLoop([&child] { child.Stop(); });
}

}  // namespace coder::harness
