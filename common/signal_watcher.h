#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.h"

namespace coder {

/// Receives its signals synchronously on one dedicated thread (sigwaitinfo), so no code runs in signal
/// context and a wedged event loop cannot stop ctrl+\ from working.
///
/// Start() blocks the signals in the calling thread; call it before any other thread exists so every
/// thread inherits the mask and a signal can never hit its default action, however early it comes.
/// Callbacks run on the watcher thread. Not copyable; the destructor stops and joins the thread.
class SignalWatcher {
 public:
  struct Callbacks {
    std::function<void(int sig)> on_stop;     // the first stop signal
    std::function<void(int sig)> on_repeat;   // any later stop signal: the plan is already running
    std::function<void()> on_quit;            // SIGQUIT: expected to dump state and exit at once
    std::function<void(int sig)> on_ignored;  // one of Signals::ignored
  };
  /// Which signals mean what. SIGQUIT is always watched. A signal in `ignored` is received and reported,
  /// never acted on; SIGUSR2 sent from outside is swallowed even when not listed (it is also the
  /// watcher's own wake-up signal, so it is blocked either way).
  struct Signals {
    std::vector<int> stop;  // empty: SIGINT and SIGTERM
    std::vector<int> ignored;
  };

  static Result<std::unique_ptr<SignalWatcher>> Start(Callbacks callbacks, Signals signals = {});
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  /// Blocks until the first stop signal and returns it. Thread-safe.
  int WaitForStop();
  /// The stop signal received so far, or 0. Thread-safe.
  int stop_signal() const;

 private:
  SignalWatcher(Callbacks callbacks, Signals signals);
  void Loop();

  Callbacks callbacks_;
  Signals signals_;
  mutable std::mutex mu_;
  std::condition_variable stopped_;
  int stop_signal_ = 0;
  std::atomic<bool> quitting_{false};  // set by the destructor before it wakes the thread
  std::thread thread_;
};

}  // namespace coder
