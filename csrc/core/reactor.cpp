#include "reactor.hpp"

#include <sys/eventfd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>

#include "errors.hpp"

namespace netcore {

namespace {

/// Marks the wake descriptor's registration in epoll_event.data.ptr.
io_handler* const wake_marker = nullptr;

/// The failed call as the core's os_error (OSError with errno in Python).
os_error sys_error(const char* what) { return os_error(errno, what); }

constexpr int max_events = 256;

/// Runs `work`; a failure inside one handler or task must not take the loop
/// (and every other connection) down with std::terminate: say so, carry on.
template <class Work>
void guarded(Work&& work) noexcept {
  try {
    work();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netcore reactor: unexpected error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "netcore reactor: unexpected non-standard exception\n");
  }
}

}  // namespace

reactor::reactor() : read_buffer_(read_buffer_size), events_(max_events) {
  // Each call checked at once: errno is read before anything else can change it.
  epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_) throw sys_error("epoll_create1");
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) throw sys_error("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = wake_marker;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) != 0) throw sys_error("epoll_ctl(wake)");
  thread_ = std::thread([this] { loop(); });
}

reactor::~reactor() {
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
}

void reactor::add(int fd, std::uint32_t events, io_handler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) throw sys_error("epoll_ctl(add)");
}

void reactor::modify(int fd, std::uint32_t events, io_handler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) throw sys_error("epoll_ctl(mod)");
}

void reactor::remove(int fd) { ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

void reactor::wake() {
  const std::uint64_t one = 1;
  // A full eventfd counter still leaves it readable, so a failed write is harmless.
  [[maybe_unused]] const auto n = ::write(wake_fd_.get(), &one, sizeof one);
}

void reactor::post(std::function<void()> task) {
  bool need_wake = false;
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    tasks_.push_back(std::move(task));
    need_wake = !woken_;
    woken_ = true;
  }
  if (need_wake) wake();
}

void reactor::run_sync(const std::function<void()>& task) {
  if (in_loop()) {
    task();
    return;
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
  post([&] {
    try {
      task();
    } catch (...) {
      error = std::current_exception();  // rethrown in the caller, not on the loop
    }
    std::lock_guard<std::mutex> lock(m);
    done = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return done; });
  if (error) std::rethrow_exception(error);
}

void reactor::defer(std::function<void()> task) { deferred_.push_back(std::move(task)); }

void reactor::run_tasks() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    batch.swap(tasks_);
    woken_ = false;
  }
  for (auto& task : batch) guarded(task);
}

void reactor::loop() {
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_.get(), events_.data(), max_events, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::terminate();  // an epoll fd we own became invalid: nothing sane is left to do
    }
    bool wake_seen = false;
    for (int i = 0; i < n; ++i) {
      auto* handler = static_cast<io_handler*>(events_[static_cast<std::size_t>(i)].data.ptr);
      if (handler == wake_marker) {
        wake_seen = true;
        continue;
      }
      const std::uint32_t mask = events_[static_cast<std::size_t>(i)].events;
      guarded([handler, mask] { handler->on_events(mask); });
    }
    if (wake_seen) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto r = ::read(wake_fd_.get(), &count, sizeof count);
      bool stop = false;
      {
        std::lock_guard<std::mutex> lock(tasks_mutex_);
        stop = stopping_;
      }
      run_tasks();
      if (stop) {
        for (auto& task : deferred_) guarded(task);
        deferred_.clear();
        batches_done_.fetch_add(1, std::memory_order_release);
        return;
      }
    }
    for (auto& task : deferred_) guarded(task);
    deferred_.clear();
    batches_done_.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace netcore
