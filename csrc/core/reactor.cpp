#include "reactor.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "errors.hpp"

namespace netcore {

namespace {

/// Marks the wake descriptor's registration in epoll_event.data.ptr.
io_handler* const wake_marker = nullptr;
/// Marks the timer descriptor's: the address of a tag no handler can have.
const char timer_tag = 0;
io_handler* const timer_marker = reinterpret_cast<io_handler*>(const_cast<char*>(&timer_tag));

/// The failed call as the core's os_error (OSError with errno in Python).
os_error sys_error(const char* what) { return os_error(errno, what); }

constexpr int max_events = 256;
/// How long run_sync waits on-CPU for its task before it sleeps.
constexpr std::chrono::microseconds run_sync_spin{50};

/// Tells the CPU this is a spin-wait (it yields the pipeline to the other hyperthread).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
/// Task slots the two task vectors keep between batches (32 bytes each).
constexpr std::size_t kept_task_capacity = 256;

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

reactor::reactor(const char* thread_name) : read_buffer_(read_buffer_size), events_(max_events) {
  // Each call checked at once: errno is read before anything else can change it.
  epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_) throw sys_error("epoll_create1");
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) throw sys_error("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = wake_marker;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) != 0) throw sys_error("epoll_ctl(wake)");
  // Timers through a timerfd, not an epoll_wait timeout: the loop then reads
  // no clock per turn, only when a timer is set or expires.
  timer_fd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer_fd_) throw sys_error("timerfd_create");
  ev.data.ptr = timer_marker;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, timer_fd_.get(), &ev) != 0) throw sys_error("epoll_ctl(timer)");
  forgotten_.reserve(forget_limit);
  forgotten_now_.reserve(forget_limit);
  thread_ = std::thread([this] { loop(); });
  // Only a label for profiles (the bench's per-thread table, top -H): a failure changes nothing.
  ::pthread_setname_np(thread_.native_handle(), thread_name);
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
    // A loop that is awake runs the task before it next sleeps: only a
    // sleeping one needs the eventfd (a syscall here, and one more turn there).
    need_wake = sleeping_ && !woken_;
    if (need_wake) woken_ = true;
  }
  if (need_wake) wake();
}

void reactor::run_sync(const std::function<void()>& task) {
  if (in_loop()) {
    task();
    return;
  }
  // On the heap: a caller that sees `done` while spinning returns at once,
  // before the loop has let go of the mutex and the condition variable.
  struct sync_state {
    std::mutex m;
    std::condition_variable cv;
    std::atomic<bool> done{false};
    std::exception_ptr error;
  };
  auto state = std::make_shared<sync_state>();
  post([state, &task] {
    try {
      task();
    } catch (...) {
      state->error = std::current_exception();  // rethrown in the caller, not on the loop
    }
    {
      std::lock_guard<std::mutex> lock(state->m);
      state->done.store(true, std::memory_order_release);
    }
    state->cv.notify_one();
  });
  // A hand-off is usually short (the loop wakes, runs the task): wait on-CPU
  // for a while first, so the caller does not also pay a wake-up of its own.
  // Destroying a client waits like this once per connect/send/disconnect
  // cycle; on an idle core of a VM each wake-up costs tens of microseconds.
  const auto spin_until = std::chrono::steady_clock::now() + run_sync_spin;
  while (!state->done.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < spin_until) cpu_relax();
  if (!state->done.load(std::memory_order_acquire)) {
    std::unique_lock<std::mutex> lock(state->m);
    state->cv.wait(lock, [&] { return state->done.load(std::memory_order_acquire); });
  }
  if (state->error) std::rethrow_exception(state->error);
}

bool reactor::forget(io_handler* handler) noexcept {
  std::lock_guard<std::mutex> lock(tasks_mutex_);
  if (forgotten_.size() >= forget_limit) return false;
  forgotten_.push_back(handler);  // reserved: no allocation
  return true;
}

void reactor::defer(std::function<void()> task) { deferred_.push_back(std::move(task)); }

reactor::timer_id reactor::post_after(std::chrono::milliseconds delay, std::function<void()> task) {
  const timer_id id = ++next_timer_;
  const auto deadline = clock::now() + delay;
  timers_.emplace(std::make_pair(deadline, id), std::move(task));
  try {
    timer_deadlines_.emplace(id, deadline);
  } catch (...) {
    timers_.erase({deadline, id});
    throw;
  }
  if (timers_.begin()->first.second == id) arm_timer_fd();  // the new earliest
  return id;
}

void reactor::cancel(timer_id id) noexcept {
  // The timerfd stays set: if it fires for nothing, run_timers finds nothing due and re-arms.
  const auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return;
  timers_.erase({it->second, id});
  timer_deadlines_.erase(it);
}

void reactor::arm_timer_fd() noexcept {
  itimerspec spec{};  // all zero: disarmed
  if (!timers_.empty()) {
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(timers_.begin()->first.first.time_since_epoch()).count();
    // steady_clock is CLOCK_MONOTONIC: an absolute deadline on the timerfd's clock.
    // A deadline of zero would disarm it: it is at least 1 ns.
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  // Cannot fail with a valid descriptor and a normalised time.
  ::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void reactor::run_timers() {
  std::uint64_t expirations = 0;
  [[maybe_unused]] const auto r = ::read(timer_fd_.get(), &expirations, sizeof expirations);
  const auto now = clock::now();
  // Only the timers due now: one a timer sets for "now" runs on the next expiry.
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_deadlines_.erase(node.key().second);
    guarded(node.mapped());
  }
  arm_timer_fd();
}

bool reactor::run_tasks() {
  bool stop = false;
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    running_.swap(tasks_);  // tasks_ gets the emptied vector back, capacity kept
    stop = stopping_;
  }
  for (auto& task : running_) guarded(task);
  running_.clear();
  // Kept between batches, so a post does not allocate the vector anew each
  // time (it did: a malloc and a free per reactor wake-up on the posting
  // thread); a burst's larger vector is given back.
  if (running_.capacity() > kept_task_capacity) std::vector<std::function<void()>>().swap(running_);
  return stop;
}

void reactor::loop() {
  for (;;) {
    bool idle = false;
    {
      std::lock_guard<std::mutex> lock(tasks_mutex_);
      idle = tasks_.empty() && !stopping_;
      sleeping_ = idle;
    }
    // Block only with no task waiting; otherwise just collect what is ready.
    const int n = ::epoll_wait(epoll_fd_.get(), events_.data(), max_events, idle ? -1 : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::terminate();  // an epoll fd we own became invalid: nothing sane is left to do
    }
    if (idle) {
      std::unique_lock<std::mutex> lock(tasks_mutex_);
      parked_cv_.wait(lock, [this] { return parkers_ == 0; });  // work run in our stead comes first
      sleeping_ = false;
      forgotten_now_.swap(forgotten_);
    }
    bool timer_seen = false;
    for (int i = 0; i < n; ++i) {
      auto* handler = static_cast<io_handler*>(events_[static_cast<std::size_t>(i)].data.ptr);
      if (handler == wake_marker) {
        std::uint64_t count = 0;
        [[maybe_unused]] const auto r = ::read(wake_fd_.get(), &count, sizeof count);
        std::lock_guard<std::mutex> lock(tasks_mutex_);
        woken_ = false;
        continue;
      }
      if (handler == timer_marker) {
        timer_seen = true;
        continue;
      }
      if (!forgotten_now_.empty() &&
          std::find(forgotten_now_.begin(), forgotten_now_.end(), handler) != forgotten_now_.end()) {
        continue;  // closed (and perhaps destroyed) while we slept: its event is stale
      }
      const std::uint32_t mask = events_[static_cast<std::size_t>(i)].events;
      guarded([handler, mask] { handler->on_events(mask); });
    }
    forgotten_now_.clear();
    const bool stop = run_tasks();
    if (stop) {
      for (auto& task : deferred_) guarded(task);
      deferred_.clear();
      batches_done_.fetch_add(1, std::memory_order_release);
      return;
    }
    if (timer_seen) run_timers();
    for (auto& task : deferred_) guarded(task);
    deferred_.clear();
    batches_done_.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace netcore
