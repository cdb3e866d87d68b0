#include "byte_queue.hpp"

#include <algorithm>
#include <cstring>

namespace netcore {

namespace {
/// First allocation: a burst of small frames should not regrow it at once.
constexpr std::size_t initial_capacity = 16 * 1024;
}  // namespace

void byte_queue::make_room(std::size_t n, std::size_t limit) {
  if (buf_.capacity() - buf_.size() >= n) return;  // room at the back
  const std::size_t live = size();
  const std::size_t want = live + n;
  if (want <= buf_.capacity()) {
    // Room once the consumed bytes are dropped: move the live bytes down. The
    // owners resume reading only below half their limit, so this moves at most
    // about as many bytes as it frees.
    std::memmove(buf_.data(), buf_.data() + head_, live);
    buf_.clear();
    buf_.append_uninitialized(live);
    head_ = 0;
    return;
  }
  // Grow geometrically, never past the limit unless the bytes held need more.
  const std::size_t cap = std::max(limit, want);
  byte_buffer bigger;
  bigger.reserve(std::min(cap, std::max({want, 2 * buf_.capacity(), initial_capacity})));
  bigger.append(buf_.data() + head_, live);
  buf_.swap(bigger);
  head_ = 0;
}

void byte_queue::append(const char* p, std::size_t n, std::size_t limit) {
  if (n == 0) return;
  make_room(n, limit);
  buf_.append(p, n);
}

void byte_queue::consume(std::size_t n) noexcept {
  head_ += n;
  if (head_ >= buf_.size()) release();
}

void byte_queue::release() noexcept {
  buf_.release();
  head_ = 0;
}

}  // namespace netcore
