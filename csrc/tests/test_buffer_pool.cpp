// Unit tests of buffer_pool and the reactor's timers, run by `meson test`:
// the pool keeps what its limits allow and nothing else; a timer runs once
// after its delay on the reactor thread, and a cancelled one never runs.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "core/buffer_pool.hpp"
#include "core/reactor.hpp"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++failures;
  }
}

void test_pool_reuses_within_its_limits() {
  netcore::buffer_pool pool;
  netcore::byte_buffer a = pool.take(1000);
  check(a.capacity() >= 1000 && a.empty(), "a taken buffer has the room asked for, and is empty");
  a.append("abc", 3);
  const char* where = a.data();
  pool.give(std::move(a));
  check(a.capacity() == 0, "a given buffer leaves its owner with nothing");
  check(pool.held_bytes() >= 1000, "a small buffer is kept");
  netcore::byte_buffer b = pool.take(500);
  check(b.data() == where && b.empty(), "the kept buffer comes back, emptied");
  check(pool.held_bytes() == 0, "and is no longer held");
  netcore::byte_buffer big = pool.take(netcore::buffer_pool::max_capacity + 1);
  pool.give(std::move(big));
  check(pool.held_bytes() == 0, "a buffer above max_capacity is freed, not kept");
  for (std::size_t i = 0; i < netcore::buffer_pool::max_buffers + 3; ++i) {
    netcore::byte_buffer x;
    x.reserve(4096);
    pool.give(std::move(x));
  }
  check(pool.held_bytes() == netcore::buffer_pool::max_buffers * 4096, "the pool holds at most max_buffers");
}

void test_timers_run_once_and_cancel() {
  netcore::reactor loop("netcore-test");
  std::mutex m;
  std::condition_variable cv;
  int fired = 0, cancelled_fired = 0;
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration after{};
  loop.run_sync([&] {
    const auto doomed = loop.post_after(std::chrono::milliseconds(5), [&] { ++cancelled_fired; });
    loop.post_after(std::chrono::milliseconds(20), [&] {
      std::lock_guard<std::mutex> lock(m);
      ++fired;
      after = std::chrono::steady_clock::now() - start;
      cv.notify_all();
    });
    loop.cancel(doomed);
    loop.cancel(doomed);  // twice: a no-op
  });
  std::unique_lock<std::mutex> lock(m);
  check(cv.wait_for(lock, std::chrono::seconds(10), [&] { return fired > 0; }), "a timer runs with nothing else to do");
  lock.unlock();
  loop.run_sync([] {});  // one more batch: a timer runs once, not per batch
  check(fired == 1, "a timer runs once, ran " + std::to_string(fired));
  check(after >= std::chrono::milliseconds(20), "not before its delay");
  check(cancelled_fired == 0, "a cancelled timer never runs");
}

}  // namespace

int main() {
  test_pool_reuses_within_its_limits();
  test_timers_run_once_and_cancel();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("buffer_pool and timers: all passed\n");
  return 0;
}
