#include "common/signal_watcher.h"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace coder {
namespace {

// Sent by the destructor to the watcher thread alone, to end its wait. The same signal from outside is
// told apart by quitting_ and swallowed: it must not end the watcher and leave every later stop blocked.
constexpr int kWakeSignal = SIGUSR2;

bool Contains(const std::vector<int>& sigs, int sig) { return std::find(sigs.begin(), sigs.end(), sig) != sigs.end(); }

sigset_t WatchedSet(const SignalWatcher::Signals& signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : signals.stop) sigaddset(&set, sig);
  for (int sig : signals.ignored) sigaddset(&set, sig);
  sigaddset(&set, SIGQUIT);
  sigaddset(&set, kWakeSignal);
  return set;
}

}  // namespace

Result<std::unique_ptr<SignalWatcher>> SignalWatcher::Start(Callbacks callbacks, Signals signals) {
  if (signals.stop.empty()) signals.stop = {SIGINT, SIGTERM};
  // A peer that resets a socket must produce EPIPE, not kill the server.
  ::signal(SIGPIPE, SIG_IGN);
  const sigset_t set = WatchedSet(signals);
  if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0)
    return Error{fmt::format("blocking signals: {}", std::strerror(rc))};
  // An ignored signal is discarded before sigwaitinfo can see it, and shells start background jobs with
  // SIGINT and SIGQUIT ignored. Blocked, the default action cannot run, so SIG_DFL is safe here; it also
  // keeps any signal already pending (only setting SIG_IGN would discard it).
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP && sigismember(&set, sig) == 1) ::signal(sig, SIG_DFL);
  std::unique_ptr<SignalWatcher> watcher(new SignalWatcher(std::move(callbacks), std::move(signals)));
  watcher->thread_ = std::thread([w = watcher.get()] { w->Loop(); });
  return watcher;
}

SignalWatcher::SignalWatcher(Callbacks callbacks, Signals signals)
    : callbacks_(std::move(callbacks)), signals_(std::move(signals)) {}

SignalWatcher::~SignalWatcher() {
  if (thread_.joinable()) {
    quitting_ = true;
    pthread_kill(thread_.native_handle(), kWakeSignal);
    thread_.join();
  }
}

void SignalWatcher::Loop() {
  const sigset_t set = WatchedSet(signals_);
  bool stop_seen = false;
  for (;;) {
    siginfo_t info{};
    const int sig = sigwaitinfo(&set, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (sig == kWakeSignal && quitting_) return;
    if (sig == SIGQUIT) {
      if (callbacks_.on_quit) callbacks_.on_quit();
      continue;
    }
    if (!Contains(signals_.stop, sig)) {
      if (Contains(signals_.ignored, sig) && callbacks_.on_ignored) callbacks_.on_ignored(sig);
      continue;
    }
    if (stop_seen) {
      if (callbacks_.on_repeat) callbacks_.on_repeat(sig);
      continue;
    }
    stop_seen = true;
    // The callback runs before waiters wake, so its log line precedes everything the shutdown logs.
    if (callbacks_.on_stop) callbacks_.on_stop(sig);
    {
      std::lock_guard lock(mu_);
      stop_signal_ = sig;
    }
    stopped_.notify_all();
  }
}

int SignalWatcher::WaitForStop() {
  std::unique_lock lock(mu_);
  stopped_.wait(lock, [&] { return stop_signal_ != 0; });
  return stop_signal_;
}

int SignalWatcher::stop_signal() const {
  std::lock_guard lock(mu_);
  return stop_signal_;
}

}  // namespace coder
