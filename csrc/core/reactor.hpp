// One epoll event loop running on one thread it owns.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "buffer_pool.hpp"
#include "unique_fd.hpp"

namespace netcore {

/// Receives readiness events for one registered descriptor.
class io_handler {
 public:
  io_handler() = default;
  io_handler(const io_handler&) = delete;
  io_handler& operator=(const io_handler&) = delete;

  /// Called on the reactor thread with the epoll event mask.
  virtual void on_events(std::uint32_t events) = 0;

 protected:
  ~io_handler() = default;
};

/// An epoll loop on its own thread, plus a task queue to run work on it.
///
/// Handlers are called only on the reactor thread; everything that touches a
/// registered handler's state from elsewhere goes through `post`. The reactor
/// also owns the read buffer shared by all of its connections, so an idle
/// connection needs no buffer of its own.
class reactor {
 public:
  /// Size of the shared read buffer: large reads keep syscalls per frame low.
  static constexpr std::size_t read_buffer_size = 256 * 1024;

  /// Creates the epoll and wake descriptors and starts the thread, named
  /// `thread_name` (at most 15 characters, as profilers and /proc show it).
  /// Throws os_error when a descriptor cannot be had (e.g. EMFILE),
  /// std::system_error when the thread cannot be started.
  explicit reactor(const char* thread_name = "netcore-reactor");
  reactor(const reactor&) = delete;
  reactor& operator=(const reactor&) = delete;
  /// Stops the loop and joins the thread (must not be called on that thread).
  ~reactor();

  /// Registers `fd` for `events`. On the reactor thread, or from another
  /// thread for a handler the reactor holds no reference to yet: epoll_ctl is
  /// thread-safe and orders the handler's set-up before its first event.
  void add(int fd, std::uint32_t events, io_handler* handler);
  /// Changes the event mask of a registered fd; reactor thread only.
  void modify(int fd, std::uint32_t events, io_handler* handler);
  /// Unregisters `fd`; reactor thread only. An event already collected for it
  /// in the current batch is still delivered, so handlers keep a closed flag
  /// and are destroyed only after the batch (see `defer`).
  void remove(int fd);

  /// Runs `task` on the reactor thread (from any thread).
  void post(std::function<void()> task);
  /// Runs `task` on the reactor thread and waits for it to finish; an
  /// exception it throws is rethrown here. Runs it inline when called on the
  /// reactor thread.
  void run_sync(const std::function<void()>& task);
  /// Runs `task` after the current event batch; reactor thread only. Used to
  /// destroy handlers that may still appear in the batch.
  void defer(std::function<void()> task);

  /// When the loop is asleep in epoll_wait, holds it there (it runs no event,
  /// task or timer) while `work` runs on this thread in its stead, and returns
  /// what `work` returned; returns false without running it when the loop is
  /// awake, stopping, or this is its thread. For work that would otherwise be
  /// a posted task and a wake-up: a loop asleep on an idle core (of a VM, say)
  /// takes tens of microseconds to wake, once per connect/send/disconnect
  /// cycle. `work` may touch reactor-thread state and call `forget`.
  template <class Work>
  bool run_while_asleep(Work&& work) {
    {
      std::lock_guard<std::mutex> lock(tasks_mutex_);
      if (!sleeping_ || stopping_) return false;
      ++parkers_;
    }
    struct unpark {
      reactor& r;
      ~unpark() {
        {
          std::lock_guard<std::mutex> lock(r.tasks_mutex_);
          --r.parkers_;
        }
        r.parked_cv_.notify_all();
      }
    } release{*this};
    return work();
  }
  /// From `run_while_asleep` work, after removing its fd: drops any event for
  /// `handler` that the interrupted epoll_wait already collected (one from a
  /// later wait is new, and level-triggered: it is delivered then). False
  /// when the list is full (`forget_limit`): the work must leave it to the loop.
  bool forget(io_handler* handler) noexcept;
  /// Handlers `forget` takes per wait at most.
  static constexpr std::size_t forget_limit = 64;

  /// Identifies a timer for `cancel`; 0 is never one.
  using timer_id = std::uint64_t;
  /// Runs `task` on the reactor thread once `delay` has passed, as part of a
  /// batch; reactor thread only. One timerfd, set to the earliest deadline,
  /// wakes the loop: no clock is read per turn.
  timer_id post_after(std::chrono::milliseconds delay, std::function<void()> task);
  /// Drops a timer that has not run (a no-op for one that ran or was
  /// cancelled); reactor thread only.
  void cancel(timer_id id) noexcept;

  /// Event batches completed (each: its events, then its tasks, then the
  /// deferred work). A handler removed during batch `b` appears in no event
  /// once `batches_done() > b`. Any thread.
  std::uint64_t batches_done() const noexcept { return batches_done_.load(std::memory_order_acquire); }

  /// True when called on the reactor thread.
  bool in_loop() const noexcept { return std::this_thread::get_id() == thread_.get_id(); }

  /// The shared read buffer; reactor thread only.
  char* read_buffer() noexcept { return read_buffer_.data(); }

  /// Spare send buffers for the connections of this reactor; any thread.
  buffer_pool& buffers() noexcept { return buffers_; }

 private:
  using clock = std::chrono::steady_clock;

  void loop();
  void wake();
  bool run_tasks();  ///< returns whether the loop is to stop
  void arm_timer_fd() noexcept;
  void run_timers();

  unique_fd epoll_fd_;
  unique_fd wake_fd_;
  unique_fd timer_fd_;  ///< set to the earliest timer's deadline
  std::vector<char> read_buffer_;
  buffer_pool buffers_;
  std::vector<epoll_event> events_;
  std::vector<std::function<void()>> deferred_;
  // Timers by (deadline, id), and each live id's deadline for cancel; reactor thread only.
  std::map<std::pair<clock::time_point, timer_id>, std::function<void()>> timers_;
  std::map<timer_id, clock::time_point> timer_deadlines_;
  timer_id next_timer_ = 0;
  std::mutex tasks_mutex_;
  std::vector<std::function<void()>> tasks_;    // guarded by tasks_mutex_
  std::vector<std::function<void()>> running_;  // the batch being run; reactor thread only
  bool stopping_ = false;                       // guarded by tasks_mutex_
  bool woken_ = false;                          // guarded by tasks_mutex_: the eventfd is written, unread
  bool sleeping_ = false;                       // guarded by tasks_mutex_: the loop blocks in epoll_wait
  int parkers_ = 0;                             // guarded by tasks_mutex_: run_while_asleep callers
  std::condition_variable parked_cv_;           // the loop waits on it for parkers_ == 0
  std::vector<io_handler*> forgotten_;          // guarded by tasks_mutex_: to skip in the next batch
  std::vector<io_handler*> forgotten_now_;      // the batch's; reactor thread only
  std::atomic<std::uint64_t> batches_done_{0};  // written by the reactor thread only
  std::thread thread_;
};

}  // namespace netcore
