// One epoll event loop running on one thread it owns.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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

  /// Creates the epoll and wake descriptors and starts the thread. Throws
  /// os_error when a descriptor cannot be had (e.g. EMFILE), std::system_error
  /// when the thread cannot be started.
  reactor();
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

  /// Event batches completed (each: its events, then its tasks, then the
  /// deferred work). A handler removed during batch `b` appears in no event
  /// once `batches_done() > b`. Any thread.
  std::uint64_t batches_done() const noexcept { return batches_done_.load(std::memory_order_acquire); }

  /// True when called on the reactor thread.
  bool in_loop() const noexcept { return std::this_thread::get_id() == thread_.get_id(); }

  /// The shared read buffer; reactor thread only.
  char* read_buffer() noexcept { return read_buffer_.data(); }

 private:
  void loop();
  void wake();
  void run_tasks();

  unique_fd epoll_fd_;
  unique_fd wake_fd_;
  std::vector<char> read_buffer_;
  std::vector<epoll_event> events_;
  std::vector<std::function<void()>> deferred_;
  std::mutex tasks_mutex_;
  std::vector<std::function<void()>> tasks_;    // guarded by tasks_mutex_
  bool stopping_ = false;                       // guarded by tasks_mutex_
  bool woken_ = false;                          // guarded by tasks_mutex_
  std::atomic<std::uint64_t> batches_done_{0};  // written by the reactor thread only
  std::thread thread_;
};

}  // namespace netcore
