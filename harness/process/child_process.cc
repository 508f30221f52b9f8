#include "harness/process/child_process.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <span>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "harness/process/proc_fs.h"
#include "harness/process/spawn.h"
#include "harness/process/subreaper.h"

namespace coder::harness {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::vector<StopStep> DefaultStopPlan() { return {{StopAction::kTerminate, 2s}, {StopAction::kKill, 5s}}; }

std::string ExitStatus::Describe() const {
  return signaled ? "killed by " + SignalName(signal) : "exit " + std::to_string(code);
}

struct ChildProcess::Waiter {
  const std::function<bool(const OutputLine&)>* match;
  bool matched = false;
};

struct ChildProcess::AsyncWaiter {
  AsyncWaiter(boost::asio::io_context& context, Clock::time_point deadline, std::function<bool(const OutputLine*)> c,
              std::function<void()> d)
      : timer(context, deadline), check(std::move(c)), done(std::move(d)) {}
  boost::asio::steady_timer timer;  // its handler ends the wait: at the deadline, or cancelled once `check` held
  std::function<bool(const OutputLine*)> check;
  std::function<void()> done;
  bool ended = false;
};

struct ChildProcess::Watch {
  explicit Watch(ChildProcess* c) : child(c) {}
  ChildProcess* const child;  // dereferenced only while !closed
  bool closed = false;
  std::optional<boost::asio::posix::stream_descriptor> streams[2];
  // A stream's pipe taken out of the reactor while a capture runs, read on a timer (ReadAgainSoon); -1
  // when it is the reactor's.
  int polled[2] = {-1, -1};
  int Fd(int index) { return polled[index] >= 0 ? polled[index] : streams[index]->native_handle(); }
  std::optional<boost::asio::posix::stream_descriptor> exit;  // a dup of the pidfd
  std::vector<std::shared_ptr<AsyncWaiter>> waits;            // AsyncWait's, until their handler runs

  /// Ends every wait whose check holds now (`line`: the line just read; nullptr: another change).
  void Check(const OutputLine* line) {
    for (size_t i = 0; i < waits.size(); ++i) {
      AsyncWaiter& w = *waits[i];
      if (!w.ended && w.check(line)) End(w);
    }
  }
  void EndAll() {
    for (auto& w : waits)
      if (!w->ended) End(*w);
  }
  /// The end of watching, once the streams are closed: the pidfd's watcher goes, the waits end.
  void Close() {
    exit.reset();
    closed = true;
    EndAll();
  }
  static void End(AsyncWaiter& w) {
    w.ended = true;
    w.timer.cancel();  // the handler runs later, from the loop, never inside a caller's callback
  }
};

namespace {

// Bytes read from one stream before the loop turns to other descriptors: a flooding child must not
// starve the others. Also the drain cap after exit, so a descendant that keeps writing cannot hold the
// exit status back.
constexpr size_t kReadPerTurn = 256 << 10;
constexpr size_t kMaxDrainAfterExit = 4 << 20;
// A capture's pipe is read every millisecond rather than at every write (ReadAgainSoon).
constexpr auto kCapturePause = std::chrono::milliseconds(1);
constexpr int kCapturePipeBytes = 1 << 20;

long AnonRssKib() {
  auto text = ReadSmallFile("/proc/self/statm");
  if (!text) return 0;
  long size = 0, resident = 0, shared = 0;
  if (std::sscanf(text->c_str(), "%ld %ld %ld", &size, &resident, &shared) != 3) return 0;
  return (resident - shared) * (sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(LaunchSpec spec, LineCallback on_line, EventLoop& loop) {
  std::unique_ptr<ChildProcess> child(new ChildProcess(std::move(spec), std::move(on_line), loop));
  SpawnedChild spawned;
  {
    auto spawn_lock = internal::LockForSpawn();
    auto result = SpawnChild(child->spec_);
    if (!result) return result.error();
    spawned = *result;
    internal::RegisterOwnedPid(spawned.pid);
  }
  // Read once the child runs, so not on the path of its launch: the harness's memory is what it was a
  // moment ago, when it forked.
  const long spawn_rss = AnonRssKib();
  child->pid_ = spawned.pid;
  child->pidfd_ = spawned.pidfd;
  child->started_at_ = spawned.started_at;
  child->spawn_rss_kib_ = spawn_rss;
  child->watch_ = std::make_shared<Watch>(child.get());
  for (int fd : {spawned.stdout_fd, spawned.stderr_fd}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  {
    const int fds[2] = {spawned.stdout_fd, spawned.stderr_fd};
    for (int i = 0; i < 2; ++i) {
      struct stat st {};
      if (fstat(fds[i], &st) == 0) child->output_pipes_[i] = fmt::format("pipe:[{}]", st.st_ino);
    }
  }
  // Registered and armed in one task on the loop's thread, so an exit that is already readable when the
  // pidfd is added is seen by the wait armed in the same turn.
  loop.Post([c = child.get(), out = spawned.stdout_fd, err = spawned.stderr_fd] { c->BeginWatching(out, err); });
  return child;
}

ChildProcess::ChildProcess(LaunchSpec spec, LineCallback on_line, EventLoop& loop)
    : spec_(std::move(spec)),
      on_line_(std::move(on_line)),
      loop_(loop),
      splitters_{LineSplitter(spec_.max_line_bytes), LineSplitter(spec_.max_line_bytes)},
      ring_(spec_.log_capacity_bytes) {}

ChildProcess::~ChildProcess() {
  Stop();
  if (pidfd_ >= 0) close(pidfd_);
}

void ChildProcess::BeginWatching(int stdout_fd, int stderr_fd) {
  // Stop() runs StopWatching on this thread after this task, so `this` is alive here.
  auto& context = loop_.context();
  watch_->streams[0].emplace(context, stdout_fd);
  watch_->streams[1].emplace(context, stderr_fd);
  ArmStream(0);
  ArmStream(1);
  int exit_fd = fcntl(pidfd_, F_DUPFD_CLOEXEC, 0);
  if (exit_fd < 0) {
    // Without a descriptor to watch the exit cannot be seen as it happens; the streams' end is the
    // next best sign, and Stop() reaps the child either way.
    return;
  }
  watch_->exit.emplace(context, exit_fd);
  watch_->exit->async_wait(boost::asio::posix::descriptor_base::wait_read,
                           [w = watch_](const boost::system::error_code& ec) {
                             if (w->closed || ec) return;
                             w->child->OnExited();
                           });
}

void ChildProcess::ArmStream(int index) {
  watch_->streams[index]->async_wait(boost::asio::posix::descriptor_base::wait_read,
                                     [w = watch_, index](const boost::system::error_code& ec) {
                                       if (w->closed || ec || !w->streams[index]) return;
                                       w->child->OnReadable(index);
                                     });
}

void ChildProcess::OnReadable(int index) {
  size_t turn = 0;
  for (;;) {
    ssize_t n = ReadStream(index);
    if (n == 0) return;  // ended
    if (n < 0) {
      if (watch_->polled[index] >= 0) return ReadAgainSoon(index);
      // Drained: the next write makes the pipe readable again, which the wait sees (Asio registers
      // descriptors edge-triggered, so it must be armed only once the pipe is empty).
      ArmStream(index);
      return;
    }
    turn += static_cast<size_t>(n);
    if (turn >= kReadPerTurn) {
      loop_.Post([w = watch_, index] {
        if (!w->closed && w->streams[index]) w->child->OnReadable(index);
      });
      return;
    }
  }
}

ssize_t ChildProcess::ReadStream(int index) {
  if (!watch_->streams[index]) return 0;
  std::span<char> buf = loop_.read_buffer();
  ssize_t n = read(watch_->Fd(index), buf.data(), buf.size());
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return -1;
  if (n <= 0) {
    EndStream(index);
    return 0;
  }
  Clock::time_point at = Clock::now();
  std::vector<std::pair<std::string, bool>> texts;
  splitters_[index].Feed(std::string_view(buf.data(), static_cast<size_t>(n)),
                         [&texts](std::string&& t, bool truncated) { texts.emplace_back(std::move(t), truncated); });
  Deliver(index + 1, texts, at);
  return n;
}

void ChildProcess::EndStream(int index) {
  if (!watch_->streams[index]) return;
  std::vector<std::pair<std::string, bool>> texts;
  splitters_[index].Finish([&texts](std::string&& t, bool truncated) { texts.emplace_back(std::move(t), truncated); });
  Deliver(index + 1, texts, Clock::now());
  // Closing cancels the armed wait; its callback finds the stream gone.
  if (watch_->polled[index] >= 0) close(std::exchange(watch_->polled[index], -1));
  watch_->streams[index].reset();
  // Once the end is published, a thread waiting for it may destroy this object: only the watch, held
  // here, is touched afterwards (its waits are the loop's own, whose child outlives them).
  const std::shared_ptr<Watch> watch = watch_;
  {
    std::lock_guard lock(mu_);
    streams_open_[index] = false;
    output_cv_.notify_all();
  }
  watch->Check(nullptr);
}

void ChildProcess::StopWatching() {
  if (watch_->closed) return;
  for (int i = 0; i < 2; ++i) EndStream(i);
  watch_->Close();
}

void ChildProcess::Deliver(int stream, std::vector<std::pair<std::string, bool>>& texts, Clock::time_point at) {
  std::vector<OutputLine> lines;
  {
    std::lock_guard lock(mu_);
    lines_read_ += texts.size();
    output_cv_.notify_all();
    if (capture_stream_ == stream) return CaptureLocked(texts);
    lines.reserve(texts.size());
    for (auto& [text, truncated] : texts) {
      lines.push_back(OutputLine{at, stream, std::move(text), truncated});
      for (Waiter* w : waiters_) {
        if (!w->matched && (*w->match)(lines.back())) w->matched = true;
      }
      ring_.Push(lines.back());
    }
    truncated_bytes_ = splitters_[0].truncated_bytes() + splitters_[1].truncated_bytes();
  }
  for (const OutputLine& line : lines) {
    if (on_line_) on_line_(line);
    // After the callback, so a wait sees what it recorded of this line.
    if (!watch_->waits.empty()) watch_->Check(&line);
  }
}

void ChildProcess::CaptureLocked(const std::vector<std::pair<std::string, bool>>& texts) {
  for (const auto& [text, truncated] : texts) {
    ++capture_.lines;
    if (capture_.cut || capture_.text.size() + text.size() + 1 > capture_limit_) {
      capture_.cut = true;
      continue;
    }
    capture_.text += text;
    capture_.text += '\n';
  }
}

void ChildProcess::ReadAgainSoon(int index) {
  auto timer = std::make_shared<boost::asio::steady_timer>(loop_.context(), kCapturePause);
  timer->async_wait([w = watch_, index, timer](const boost::system::error_code& ec) {
    if (!ec && !w->closed && w->streams[index] && w->polled[index] >= 0) w->child->OnReadable(index);
  });
}

void ChildProcess::PollStreamOf(Watch& w, int index, bool polled) {
  // A posted task may outlive the child: once both streams ended (EndStream, on this thread) the
  // destructor no longer waits for the loop. While this stream is open and the watch not closed, the
  // child cannot have been destroyed, since both happen only on this thread.
  if (w.closed || !w.streams[index]) return;
  w.child->PollStream(index, polled);
}

void ChildProcess::PollStream(int index, bool polled) {
  if ((watch_->polled[index] >= 0) == polled) return;
  if (polled) {
    // A runtime's dump comes in many tiny writes (Go's: 1.4 million for 10 000 goroutines). A pipe
    // that epoll watches wakes its watcher at every one of them, which makes each write cost a
    // wake-up and the dump twice as long. Out of the reactor, the writer fills the pipe (enlarged, up
    // to /proc/sys/fs/pipe-max-size) without waking anyone, and a read every millisecond takes it.
    // release() ends the armed wait with operation_aborted.
    watch_->polled[index] = watch_->streams[index]->release();
    (void)fcntl(watch_->polled[index], F_SETPIPE_SZ, kCapturePipeBytes);
    ReadAgainSoon(index);
  } else {
    boost::system::error_code ec;
    watch_->streams[index]->assign(std::exchange(watch_->polled[index], -1), ec);
    if (ec) return EndStream(index);
    OnReadable(index);  // drains what came meanwhile, then arms the reactor's wait
  }
}

void ChildProcess::StartCapture(int stream, size_t max_bytes) {
  int previous = 0;
  {
    std::lock_guard lock(mu_);
    previous = std::exchange(capture_stream_, stream);
    capture_limit_ = max_bytes;
    capture_ = {};
  }
  loop_.Post([w = watch_, previous, stream] {
    if (previous != 0 && previous != stream) PollStreamOf(*w, previous == 2 ? 1 : 0, false);
    PollStreamOf(*w, stream == 2 ? 1 : 0, true);
  });
}

uint64_t ChildProcess::capture_lines() const {
  std::lock_guard lock(mu_);
  return capture_stream_ == 0 ? 0 : capture_.lines;
}

ChildProcess::Capture ChildProcess::TakeCapture() {
  std::lock_guard lock(mu_);
  if (capture_stream_ != 0) {
    loop_.Post([w = watch_, index = capture_stream_ == 2 ? 1 : 0] { PollStreamOf(*w, index, false); });
  }
  capture_stream_ = 0;
  return std::exchange(capture_, {});
}

void ChildProcess::OnExited() {
  ExitStatus status;
  status.at = Clock::now();
  // WNOWAIT leaves the zombie in place: its pid, and so the process group id, cannot be recycled until
  // Stop() has SIGKILLed the rest of the group and reaped it. The raw syscall also returns the rusage
  // that wait4 would.
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  rusage ru{};
  long r;
  do {
    r = syscall(SYS_waitid, P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT, &ru);
  } while (r < 0 && errno == EINTR);
  if (r == 0 && info.si_pid == pid_) {
    status.signaled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
    (status.signaled ? status.signal : status.code) = info.si_status;
    status.max_rss_kib = ru.ru_maxrss;
  } else {
    status.code = -1;  // someone else reaped it: the status is lost
  }
  // Everything the child wrote is in the pipes now; read it before publishing the exit. Reads happen
  // only on this thread, so nothing read earlier can be delivered after what is read here.
  for (int i = 0; i < 2; ++i) {
    size_t drained = 0;
    while (drained < kMaxDrainAfterExit) {
      ssize_t n = ReadStream(i);
      if (n <= 0) break;
      drained += static_cast<size_t>(n);
    }
  }
  // As in EndStream: after the exit is published, only the watch is touched.
  const std::shared_ptr<Watch> watch = watch_;
  {
    std::lock_guard lock(mu_);
    exit_ = status;
    output_cv_.notify_all();
    exit_cv_.notify_all();
  }
  watch->Check(nullptr);
}

void ChildProcess::AsyncWait(std::function<bool(const OutputLine*)> check, Clock::time_point deadline,
                             std::function<void()> done) {
  auto waiter = std::make_shared<AsyncWaiter>(loop_.context(), deadline, std::move(check), std::move(done));
  waiter->timer.async_wait([w = watch_, waiter](const boost::system::error_code&) {
    waiter->ended = true;
    std::erase(w->waits, waiter);
    auto finish = std::move(waiter->done);
    finish();
  });
  // A stopped child changes no more: the wait ends at once, its `done` still from the loop. (Cancelled
  // after the wait is armed: a cancel before it would be lost.)
  if (watch_->closed || waiter->check(nullptr)) Watch::End(*waiter);
  else watch_->waits.push_back(waiter);
}

}  // namespace coder::harness

namespace coder::harness {

Status ChildProcess::Signal(int sig) {
  {
    std::lock_guard lock(mu_);
    if (exit_) return Error{"process " + std::to_string(pid_) + " already exited (" + exit_->Describe() + ")"};
  }
  if (syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) != 0) {
    if (errno == ESRCH) return Error{"process " + std::to_string(pid_) + " already exited"};
    return Error{"signal " + std::to_string(sig) + " to process " + std::to_string(pid_) + ": " + std::strerror(errno)};
  }
  return Ok{};
}

Status ChildProcess::SignalGroup(int sig) {
  if (pid_ <= 0) return Error{"no process was started"};
  {
    std::lock_guard lock(mu_);
    // Once reaped, the group id may be recycled by an unrelated process group.
    if (reaped_) return Error{"process group " + std::to_string(pid_) + " was stopped and reaped"};
  }
  if (kill(-pid_, sig) != 0) {
    return Error{"signal " + std::to_string(sig) + " to process group " + std::to_string(pid_) + ": " +
                 std::strerror(errno)};
  }
  return Ok{};
}

std::optional<ExitStatus> ChildProcess::WaitUntil(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  exit_cv_.wait_until(lock, deadline, [this] { return exit_.has_value(); });
  return exit_;
}

std::optional<ExitStatus> ChildProcess::exit_status() const {
  std::lock_guard lock(mu_);
  return exit_;
}

bool ChildProcess::WaitForLine(const std::function<bool(const OutputLine&)>& match, Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  for (const OutputLine& line : ring_.lines()) {
    if (match(line)) return true;
  }
  auto ended = [this] { return exit_.has_value() || (!streams_open_[0] && !streams_open_[1]); };
  if (ended()) return false;
  Waiter waiter{&match};
  waiters_.push_back(&waiter);
  output_cv_.wait_until(lock, deadline, [&] { return waiter.matched || ended(); });
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
  return waiter.matched;
}

uint64_t ChildProcess::lines_read() const {
  std::lock_guard lock(mu_);
  return lines_read_;
}

std::vector<OutputLine> ChildProcess::Lines() const {
  std::lock_guard lock(mu_);
  return {ring_.lines().begin(), ring_.lines().end()};
}

std::string ChildProcess::Output() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(ring_.retained_bytes());
  for (const OutputLine& line : ring_.lines()) {
    out += line.text;
    out += '\n';
  }
  return out;
}

uint64_t ChildProcess::dropped_bytes() const {
  std::lock_guard lock(mu_);
  return ring_.evicted_bytes() + truncated_bytes_;
}

bool ChildProcess::output_ended() const {
  std::lock_guard lock(mu_);
  return !streams_open_[0] && !streams_open_[1];
}

void ChildProcess::Stop() { Stop(spec_.stop_plan); }

void ChildProcess::Stop(const std::vector<StopStep>& plan) {
  std::lock_guard stop_lock(stop_mu_);
  StopLocked(plan);
}

bool ChildProcess::TryStopAtOnce() {
  std::unique_lock stop_lock(stop_mu_, std::try_to_lock);
  if (!stop_lock.owns_lock()) return false;  // another Stop() is under way, and may wait
  if (stopped_) return true;
  {
    std::lock_guard lock(mu_);
    if (!exit_ || streams_open_[0] || streams_open_[1]) return false;
  }
  StopLocked(spec_.stop_plan);
  return true;
}

void ChildProcess::StopLocked(const std::vector<StopStep>& plan) {
  if (stopped_) return;
  stopped_ = true;
  // Start failed before a child existed; kill(-(-1)) would signal init.
  if (pid_ <= 0) return;
  for (const StopStep& step : plan) {
    if (exit_status()) break;
    if (step.action == StopAction::kTerminate) (void)SignalGroup(SIGTERM);
    if (step.action == StopAction::kKill) (void)SignalGroup(SIGKILL);
    WaitUntil(Clock::now() + step.timeout);
  }
  if (!exit_status()) {
    (void)SignalGroup(SIGKILL);
    WaitUntil(Clock::now() + 10s);
  }
  bool reaped = false;
  if (exit_status()) {
    int status = 0;
    rusage ru{};
    pid_t r;
    do {
      r = wait4(pid_, &status, 0, &ru);
    } while (r < 0 && errno == EINTR);
    reaped = r == pid_;
  }
  if (reaped) {
    {
      // From here SignalGroup refuses; the loop below signals the leftovers itself.
      std::lock_guard lock(mu_);
      reaped_ = true;
    }
    KillGroupLeftovers(Clock::now() + 5s);
  } else {
    // Still alive after SIGKILL (stuck in the kernel) or reaped by someone else: its zombie or itself
    // pins the group id, so the group can be signalled until no live member is left.
    (void)SignalGroup(SIGKILL);
    WaitForNoLiveGroupMember(Clock::now() + 5s);
  }
  // Reaped or not (a child stuck in the kernel), ReapOrphans may collect it from now on.
  internal::UnregisterOwnedPid(pid_);
  // As a subreaper we inherited the group's orphans; they are zombies now, not worth keeping.
  if (IsChildSubreaper()) ReapOrphans();
  EndWatching();
}

void ChildProcess::EndWatching() {
  bool settled = false;
  {
    std::unique_lock lock(mu_);
    output_cv_.wait_until(lock, Clock::now() + spec_.output_drain_timeout,
                          [this] { return !streams_open_[0] && !streams_open_[1]; });
    settled = !streams_open_[0] && !streams_open_[1] && exit_.has_value();
  }
  if (settled) {
    // Both streams ended and the exit was handled, so no callback of the loop's can reach this object
    // again: what is left, the pidfd's watcher, is closed on the loop's thread without a round trip to
    // it (a wake-up of each thread, on the path of every run).
    auto close_exit_watch = [w = watch_] { w->Close(); };
    // On the loop's thread, or once the loop runs nothing more (as RunAndWait does): here.
    if (loop_.InLoopThread() || loop_.context().stopped()) close_exit_watch();
    else loop_.Post(std::move(close_exit_watch));
    return;
  }
  loop_.RunAndWait([this] { StopWatching(); });
}

void ChildProcess::KillGroupLeftovers(Clock::time_point deadline) {
  // The leader is reaped, yet its pid stays allocated for as long as any process has it as its group id
  // (the kernel never hands out a pid still in use as a group id), so -pgid reaches only what this
  // target left behind. The common case, a target that left nothing, costs one kill() returning ESRCH
  // instead of a scan of /proc.
  auto pause = 200us;
  while (kill(-pid_, SIGKILL) == 0) {
    // Members are left. Those that are zombies still answer kill(); the orphans among them are ours to
    // reap, and the rest count as gone once no live member is left.
    if (IsChildSubreaper()) ReapOrphans();
    if (kill(-pid_, 0) != 0 || LiveDescendants(pid_).empty() || Clock::now() >= deadline) return;
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, 10ms);
  }
}

void ChildProcess::WaitForNoLiveGroupMember(Clock::time_point deadline) {
  // SIGKILL is delivered asynchronously; a member counts as gone once it is a zombie. Polling /proc is
  // the only way to see that for processes that are not our children.
  auto pause = 200us;
  while (!LiveDescendants(pid_).empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, 10ms);
  }
}

}  // namespace coder::harness
