// Unit tests of byte_queue, run by `meson test`: FIFO order, the growth cap,
// reclaiming consumed bytes, and an emptied queue owning nothing.
#include <cstdio>
#include <string>

#include "core/byte_queue.hpp"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++failures;
  }
}

void test_fifo_and_release() {
  netcore::byte_queue q;
  check(q.capacity() == 0, "a new queue owns nothing");
  q.append("hello ", 6, 1024);
  q.append("world", 5, 1024);
  check(q.size() == 11 && std::string(q.front(), q.size()) == "hello world", "appends in order");
  q.consume(6);
  check(std::string(q.front(), q.size()) == "world", "consume drops the oldest bytes");
  q.consume(5);
  check(q.empty() && q.capacity() == 0, "an emptied queue frees its buffer");
}

void test_growth_is_capped() {
  const std::size_t limit = 100000;
  netcore::byte_queue q;
  const std::string chunk(999, 'g');
  std::size_t peak = 0;
  while (q.size() + chunk.size() <= limit) {
    q.append(chunk.data(), chunk.size(), limit);
    if (q.capacity() > peak) peak = q.capacity();
  }
  check(peak <= limit, "capacity capped at the limit, peaked at " + std::to_string(peak));
  // Consumed bytes are reused before the buffer grows.
  const std::size_t cap = q.capacity();
  for (int i = 0; i < 1000; ++i) {
    q.consume(chunk.size());
    q.append(chunk.data(), chunk.size(), limit);
  }
  check(q.capacity() == cap, "steady traffic reuses the buffer");
  // One append larger than the limit is held (and no more).
  netcore::byte_queue big;
  const std::string huge(3 * limit, 'h');
  big.append(huge.data(), huge.size(), limit);
  check(big.size() == huge.size() && big.capacity() == huge.size(), "an oversized append gets exactly its size");
}

void test_order_survives_compaction() {
  netcore::byte_queue q;
  std::string expected;
  std::string got;
  for (int i = 0; i < 5000; ++i) {
    const std::string s = std::to_string(i) + ",";
    q.append(s.data(), s.size(), 4096);
    expected += s;
    if (i % 3 == 0) {
      const std::size_t n = q.size() / 2;
      got.append(q.front(), n);
      q.consume(n);
    }
  }
  got.append(q.front(), q.size());
  check(got == expected, "bytes come out in the order they went in");
}

}  // namespace

int main() {
  test_fifo_and_release();
  test_growth_is_capped();
  test_order_survives_compaction();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("byte queue: all checks passed\n");
  return 0;
}
