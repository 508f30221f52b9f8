#pragma once

#include <functional>
#include <memory>
#include <span>
#include <thread>

namespace boost::asio {
class io_context;
}

namespace coder::harness {

/// One thread that runs every watched descriptor of the harness: the pipes and pidfds of every live
/// target (ChildProcess), and what later layers put on it (probes, clients). Nothing on it may block
/// for long, since a slow callback delays every target's output and exit.
///
/// Thread safety: Post, RunAndWait, InLoopThread and context() may be called from any thread. Objects
/// registered with context() (descriptors, timers) are touched on the loop thread only.
class EventLoop {
 public:
  /// Starts the loop's thread, with every signal blocked in it (the harness's signals are waited for
  /// elsewhere, and a target's SIGCHLD or a stray SIGPIPE must never land on the loop).
  EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  /// Calls Close().
  ~EventLoop();

  /// The loop every ChildProcess runs on unless given another: started on first use and never
  /// destroyed (a target's descriptors may be watched until the harness exits). Thread-safe.
  static EventLoop& Shared();

  boost::asio::io_context& context();

  /// Queues `task` to run on the loop thread; tasks run in the order they were posted.
  void Post(std::function<void()> task);
  /// Runs `task` on the loop thread and returns once it has run; on the loop thread itself, runs it at
  /// once. After Close(), runs it on the calling thread (nothing else runs on the loop any more).
  void RunAndWait(const std::function<void()>& task);
  bool InLoopThread() const { return std::this_thread::get_id() == thread_id_; }

  /// A buffer for reads done on the loop thread: only one callback runs at a time, so one buffer
  /// serves every descriptor. Loop thread only.
  std::span<char> read_buffer();

  /// Runs what is queued, stops the thread and joins it. Idempotent; must not be called on the loop
  /// thread.
  void Close();

 private:
  struct State;  // Asio's types stay out of this header: every user of ChildProcess includes it
  std::unique_ptr<State> state_;
  std::thread::id thread_id_;
};

}  // namespace coder::harness
