#pragma once

// Coroutine steps on the EventLoop's thread: wait on a child, sleep, or hand a blocking call to a
// thread of its own. Everything a run does between its launch and its record is one coroutine on the
// loop (see harness/experiment/run.cc), so a target's output, its exit and the run's reaction to them
// meet on one thread, with no hand-off between threads on the path of a run.

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "harness/process/child_process.h"

namespace coder::harness {

/// Suspends until `check` holds, `deadline` passes or the child stops being watched (ChildProcess::
/// AsyncWait, whose rules `check` follows). On the loop's thread only; the caller reads what it waits
/// for afterwards (a wait can end for any of the three reasons).
boost::asio::awaitable<void> WaitOn(ChildProcess& child, std::function<bool(const OutputLine*)> check,
                                    std::chrono::steady_clock::time_point deadline);

/// Suspends until `deadline`.
boost::asio::awaitable<void> SleepUntil(std::chrono::steady_clock::time_point deadline);

/// Runs `fn` on a thread of its own and resumes on the caller's executor with its result (or its
/// exception). For the calls of a run that block or may block for long (a stack capture, an HTTP
/// probe, a Stop() that waits), which must not hold the loop up. A thread each, not a pool: a slow call
/// must never queue a quick one behind it, and these are the rare steps of a run. `fn` and what it
/// refers to must outlive the call (the caller is suspended meanwhile). The result type is
/// default-constructible or void.
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> OffLoop(F fn) {
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    (void)co_await OffLoop([&fn] {
      fn();
      return true;
    });
  } else {
    auto executor = co_await boost::asio::this_coro::executor;
    co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(std::exception_ptr, R)>(
        [&fn, executor](auto handler) {
          std::thread([&fn, executor, handler = std::move(handler)]() mutable {
            std::exception_ptr error;
            R result{};
            try {
              result = fn();
            } catch (...) {
              error = std::current_exception();
            }
            boost::asio::post(executor, [handler = std::move(handler), error, result = std::move(result)]() mutable {
              std::move(handler)(error, std::move(result));
            });
          }).detach();
        },
        boost::asio::use_awaitable);
  }
}

/// ChildProcess::TryStopAtOnce on the loop, else Stop() on a thread of its own: the child is stopped
/// when this returns, and the loop was never held up by a Stop() that waits.
boost::asio::awaitable<void> StopChild(ChildProcess& child);

}  // namespace coder::harness
