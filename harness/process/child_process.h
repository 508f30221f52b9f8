#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/signal_name.h"
#include "harness/process/event_loop.h"
#include "harness/process/launch_spec.h"
#include "harness/process/output_log.h"

namespace coder::harness {

/// How a child ended.
using coder::SignalName;

struct ExitStatus {
  bool signaled = false;  ///< killed by a signal (then `signal` is set and `code` is 0)
  int code = 0;           ///< exit code when !signaled
  int signal = 0;
  /// The kernel's high-water mark from wait4 (ru_maxrss): the larger of the child's and its reaped
  /// descendants' peaks. Linux also counts the harness's memory, which the child runs in between vfork
  /// and execve, so it is never below spawn_rss_kib() of the ChildProcess.
  long max_rss_kib = 0;
  std::chrono::steady_clock::time_point at;  ///< when the harness saw the exit (pidfd readable)

  /// "exit 0", "exit 15", "killed by SIGKILL".
  std::string Describe() const;
};

/// Owns one launched target: its process group, its output and its exit status. Thread-safe: every
/// method may be called from any thread, concurrently.
///
/// The stdout and stderr pipes and a pidfd are watched on an EventLoop shared by every child (no
/// thread per child): its thread splits output into timestamped lines, keeps a bounded ring of the
/// most recent ones, calls the LineCallback, and records the exit the moment the pidfd says so (the
/// time and ru_maxrss). The exit status is published only after the pipes have been drained of what
/// the child wrote, so once WaitUntil returns a status, Lines() holds all the child's output (a
/// surviving descendant may add more).
class ChildProcess {
 public:
  /// Called on the event loop's thread, in output order, outside any lock. It must not block (it delays
  /// every child's reading) and may call this ChildProcess's methods except the waiting ones (WaitUntil,
  /// WaitForLine, Stop) and the destructor.
  using LineCallback = std::function<void(const OutputLine&)>;

  /// Launches `spec` (see SpawnChild): own process group, SIGKILL as parent-death signal, stdin from
  /// /dev/null. A missing or non-executable program is an Error ("cannot execute /x/y: No such file or
  /// directory"), checked before fork where possible.
  /// The parent-death signal fires when the thread that called Start exits (a Linux rule), so call it
  /// from a thread that outlives the child (the main thread, or a long-lived launcher thread). `loop`
  /// watches the child's descriptors and must outlive this ChildProcess.
  static Result<std::unique_ptr<ChildProcess>> Start(LaunchSpec spec, LineCallback on_line = {},
                                                     EventLoop& loop = EventLoop::Shared());

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  /// Calls Stop(): never leaves the child or its process group behind.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  /// The process group id (equal to pid()).
  pid_t pgid() const { return pid_; }
  /// When execve had succeeded.
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }
  /// The harness's own anonymous memory when it forked the child, which Linux folds into the child's
  /// ru_maxrss: an ExitStatus::max_rss_kib at this level says nothing about the target.
  long spawn_rss_kib() const { return spawn_rss_kib_; }

  /// Sends `sig` to the child only (through its pidfd, so never to a recycled pid). An Error says why
  /// not, e.g. "process 123 already exited (exit 0)".
  Status Signal(int sig);
  /// Sends `sig` to the child's whole process group. An Error when no member is left.
  Status SignalGroup(int sig);

  /// Blocks until the child has exited (and its output was drained) or `deadline`; nullopt while still
  /// running at the deadline.
  std::optional<ExitStatus> WaitUntil(std::chrono::steady_clock::time_point deadline);
  /// Non-blocking: the status once the child has exited.
  std::optional<ExitStatus> exit_status() const;

  /// Returns true as soon as a retained or newly read line satisfies `match`. Returns false at the
  /// deadline, when both output streams have ended, or when the child has exited (its output drained)
  /// without a match. `match` runs on this thread for retained lines and on the loop's thread, under an
  /// internal lock, for new ones: it must not call this ChildProcess. Lines read while no WaitForLine is
  /// active and already evicted from the ring are not seen. The pipes usually reach end of file a moment
  /// before the exit is seen: after a false return, WaitUntil tells whether and how the child ended.
  bool WaitForLine(const std::function<bool(const OutputLine&)>& match, std::chrono::steady_clock::time_point deadline);

  /// How many lines the child has written so far (both streams): a wait that polls something else (a
  /// listener, a URL) looks again as soon as it grows, since readiness often comes with a line.
  uint64_t lines_read() const;

  /// A copy of the retained lines, oldest first.
  std::vector<OutputLine> Lines() const;
  /// The retained lines joined, each followed by '\n'.
  std::string Output() const;
  /// Output bytes no longer retained: lines evicted from the ring plus the cut tails of long lines.
  uint64_t dropped_bytes() const;
  /// Whether both output streams have reached end of file.
  bool output_ended() const;

  /// The kernel's name of the pipe the child's `stream` (1 stdout, 2 stderr) writes to, "pipe:[INODE]"
  /// as /proc/PID/fd shows it: a descendant whose fd 2 reads the same writes where the harness reads.
  const std::string& output_pipe(int stream) const { return output_pipes_[stream == 2 ? 1 : 0]; }

  /// What a capture kept: the text of its lines, each followed by '\n', at most the capture's limit.
  struct Capture {
    std::string text;
    bool cut = false;    ///< lines past the limit were dropped
    uint64_t lines = 0;  ///< every line read while it ran, kept or not
  };
  /// From now on the lines of `stream` go to a capture of at most `max_bytes` instead of the retained
  /// lines and the LineCallback: a runtime's dump (a Go goroutine dump on stderr) is kept whole and
  /// does not push the target's log out of the ring. While it runs the stream's pipe is out of the
  /// event loop's epoll and read every millisecond (a dump's many tiny writes would each wake the loop).
  /// One capture at a time; a second call restarts it.
  void StartCapture(int stream, size_t max_bytes);
  /// Lines the running capture has read so far (0 when none runs).
  uint64_t capture_lines() const;
  /// Ends the capture and returns it; an empty Capture when none ran. Idempotent.
  Capture TakeCapture();

  /// Runs spec.stop_plan: each step acts on the process group and waits up to its timeout for the child
  /// to exit; the plan ends early once it has. Then SIGKILLs whatever is left of the process group, waits
  /// until no live member remains, drains the output (up to spec.output_drain_timeout) and stops
  /// watching the descriptors (no LineCallback runs after it returns). When this process is a child subreaper, also
  /// reaps the orphans it inherited (ReapOrphans). Idempotent and thread-safe: a concurrent or later call returns once
  /// the first has finished.
  void Stop();
  /// Stop() with another plan (e.g. a short grace for a child known to ignore signals).
  void Stop(const std::vector<StopStep>& plan);
  /// Stop(), but only when it has nothing to wait for: the child has exited and both its streams have
  /// ended, and no other Stop() is running. Then stops it (or finds it stopped) and returns true; else
  /// does nothing and returns false. For the loop's thread, where Stop() could wait for what only the
  /// loop delivers; there it blocks only while members the group left behind die of SIGKILL.
  bool TryStopAtOnce();

  /// An asynchronous wait, for code that runs on the loop's thread (and only there). `check` runs now
  /// and then after every change of the child's state, on the loop's thread and outside any lock: with
  /// each line read (after the LineCallback), or with nullptr for a stream's end or the exit. The wait
  /// ends once `check` returns true, at `deadline`, or when Stop() ends the watching; then `done` runs,
  /// once, from the loop (never inside this call or inside a callback of this child's). `check` may
  /// call this ChildProcess's non-waiting methods. The child must outlive the wait.
  void AsyncWait(std::function<bool(const OutputLine*)> check, std::chrono::steady_clock::time_point deadline,
                 std::function<void()> done);

 private:
  struct Waiter;
  struct AsyncWaiter;
  /// What the loop's callbacks touch: they hold it, so a callback queued when Stop() closed the
  /// descriptors finds `closed` and never reaches the ChildProcess. Loop thread only.
  struct Watch;

  ChildProcess(LaunchSpec spec, LineCallback on_line, EventLoop& loop);
  void BeginWatching(int stdout_fd, int stderr_fd);  // loop thread
  void ReadAgainSoon(int index);                     // loop thread
  void PollStream(int index, bool polled);           // loop thread: out of the reactor while a capture runs
  /// PollStream on `w`'s child if that child is still alive (loop thread; for posted tasks).
  static void PollStreamOf(Watch& w, int index, bool polled);
  void ArmStream(int index);      // loop thread
  void OnReadable(int index);     // loop thread
  ssize_t ReadStream(int index);  // bytes read; 0 at end of stream; -1 when nothing to read; loop thread
  void Deliver(int stream, std::vector<std::pair<std::string, bool>>& texts, std::chrono::steady_clock::time_point at);
  void CaptureLocked(const std::vector<std::pair<std::string, bool>>& texts);  // with mu_ held
  void OnExited();                                                             // loop thread
  void EndStream(int index);                                                   // loop thread
  void StopWatching();                                                         // loop thread
  void StopLocked(const std::vector<StopStep>& plan);                          // with stop_mu_ held
  void EndWatching();  // Stop()'s last step: the output drained, the descriptors closed
  void WaitForNoLiveGroupMember(std::chrono::steady_clock::time_point deadline);
  void KillGroupLeftovers(std::chrono::steady_clock::time_point deadline);

  const LaunchSpec spec_;
  const LineCallback on_line_;
  EventLoop& loop_;
  std::shared_ptr<Watch> watch_;
  pid_t pid_ = -1;
  int pidfd_ = -1;  // kept open until destruction so Signal() can never hit a recycled pid
  std::chrono::steady_clock::time_point started_at_;
  long spawn_rss_kib_ = 0;
  LineSplitter splitters_[2];  // loop thread only

  mutable std::mutex mu_;
  // Two, so that a wait for the exit (the whole stop, on the path of every run) is not woken by every
  // line the target prints on its way out.
  std::condition_variable output_cv_;    // lines, the streams' end, the exit
  std::condition_variable exit_cv_;      // the exit only
  LineRing ring_;                        // guarded by mu_
  uint64_t truncated_bytes_ = 0;         // guarded by mu_
  uint64_t lines_read_ = 0;              // guarded by mu_
  bool streams_open_[2] = {true, true};  // guarded by mu_
  std::optional<ExitStatus> exit_;       // guarded by mu_
  bool reaped_ = false;                  // guarded by mu_
  std::vector<Waiter*> waiters_;         // guarded by mu_
  int capture_stream_ = 0;               // guarded by mu_; 0: no capture runs
  size_t capture_limit_ = 0;             // guarded by mu_
  Capture capture_;                      // guarded by mu_
  std::string output_pipes_[2];          // set by Start

  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
};

}  // namespace coder::harness
