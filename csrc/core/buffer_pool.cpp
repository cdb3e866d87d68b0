#include "buffer_pool.hpp"

#include <utility>

namespace netcore {

byte_buffer buffer_pool::take(std::size_t n) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = spare_.begin(); it != spare_.end(); ++it) {
      if (it->capacity() >= n) {
        byte_buffer found = std::move(*it);
        spare_.erase(it);
        return found;
      }
    }
  }
  byte_buffer fresh;
  fresh.reserve(n);
  return fresh;
}

void buffer_pool::give(byte_buffer&& b) noexcept {
  byte_buffer doomed = std::move(b);  // freed on return unless kept
  if (doomed.capacity() == 0 || doomed.capacity() > max_capacity) return;
  doomed.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  if (spare_.capacity() < max_buffers) {
    try {
      spare_.reserve(max_buffers);  // once: later pushes never allocate
    } catch (...) {
      return;  // no room for the list: free the buffer, as without a pool
    }
  }
  if (spare_.size() < max_buffers) spare_.push_back(std::move(doomed));
}

std::size_t buffer_pool::held_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t total = 0;
  for (const auto& b : spare_) total += b.capacity();
  return total;
}

}  // namespace netcore
