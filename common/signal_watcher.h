#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "common/result.h"

namespace coder {

/// Receives SIGINT, SIGTERM and SIGQUIT synchronously on one dedicated thread (sigwaitinfo), so no
/// code runs in signal context and a wedged event loop cannot stop ctrl+\ from working.
///
/// Start() blocks those signals in the calling thread; call it before any other thread exists so every
/// thread inherits the mask and a signal can never hit its default action, however early it comes.
/// Callbacks run on the watcher thread. Not copyable; the destructor stops and joins the thread.
class SignalWatcher {
 public:
  struct Callbacks {
    std::function<void(int sig)> on_stop;    // the first SIGINT or SIGTERM
    std::function<void(int sig)> on_repeat;  // any later SIGINT or SIGTERM: the plan is already running
    std::function<void()> on_quit;           // SIGQUIT: expected to dump state and exit at once
  };

  static Result<std::unique_ptr<SignalWatcher>> Start(Callbacks callbacks);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  /// Blocks until the first SIGINT or SIGTERM and returns it. Thread-safe.
  int WaitForStop();
  /// The stop signal received so far, or 0.
  int stop_signal() const;

 private:
  explicit SignalWatcher(Callbacks callbacks);
  void Loop();

  Callbacks callbacks_;
  mutable std::mutex mu_;
  std::condition_variable stopped_;
  int stop_signal_ = 0;
  std::thread thread_;
};

}  // namespace coder
