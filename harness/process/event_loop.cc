#include "harness/process/event_loop.h"

#include <pthread.h>
#include <signal.h>

#include <future>
#include <mutex>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace coder::harness {

struct EventLoop::State {
  boost::asio::io_context context{1};  // one thread: the hint lets Asio skip locking it does not need
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work = boost::asio::make_work_guard(context);
  std::thread thread;
  std::once_flag closed;
  char read_buffer[64 << 10];
};

EventLoop::EventLoop() : state_(std::make_unique<State>()) {
  sigset_t all, old;
  sigfillset(&all);
  // The thread inherits the mask it is created with; the caller's is restored at once.
  pthread_sigmask(SIG_SETMASK, &all, &old);
  std::promise<std::thread::id> started;
  state_->thread = std::thread([this, &started] {
    started.set_value(std::this_thread::get_id());
    state_->context.run();
  });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  thread_id_ = started.get_future().get();
}

EventLoop::~EventLoop() { Close(); }

EventLoop& EventLoop::Shared() {
  // Leaked on purpose: children may be watched from static destructors' time until the process ends.
  static EventLoop* const loop = new EventLoop;
  return *loop;
}

boost::asio::io_context& EventLoop::context() { return state_->context; }

std::span<char> EventLoop::read_buffer() { return state_->read_buffer; }

void EventLoop::Post(std::function<void()> task) { boost::asio::post(state_->context, std::move(task)); }

void EventLoop::RunAndWait(const std::function<void()>& task) {
  if (InLoopThread() || state_->context.stopped()) {
    task();
    return;
  }
  std::promise<void> done;
  Post([&] {
    task();
    done.set_value();
  });
  done.get_future().get();
}

void EventLoop::Close() {
  std::call_once(state_->closed, [this] {
    state_->work.reset();  // run() returns once the queue is empty
    if (state_->thread.joinable()) state_->thread.join();
  });
}

}  // namespace coder::harness
