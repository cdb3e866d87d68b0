// A few spare send buffers shared by the clients of one reactor.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include "byte_buffer.hpp"

namespace netcore {

/// Keeps a bounded number of emptied byte_buffers for reuse.
///
/// A client frees its send buffers whenever its queue empties (an idle
/// client owns no buffer), and a sender that keeps the queue short empties
/// it every few frames. Handing those buffers back to malloc made every
/// refill touch fresh pages: the heap trimmed its top (brk) or unmapped the
/// buffer, so the next frames were copied into pages the kernel had to
/// fault in and zero, which cost the Python send loop more than the rest of
/// the send path. The pool keeps up to `max_buffers` buffers of at most
/// `max_capacity` bytes each, per reactor (not per connection); any other
/// buffer is freed as before. Thread-safe: buffers are given back on the
/// reactor thread and taken on the callers'.
class buffer_pool {
 public:
  /// Spare buffers kept at most.
  static constexpr std::size_t max_buffers = 4;
  /// Largest capacity kept (bigger buffers belong to a deep queue, and are freed).
  static constexpr std::size_t max_capacity = 256 * 1024;

  buffer_pool() = default;
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;
  ~buffer_pool() = default;

  /// An empty buffer with room for at least `n` bytes: a kept one if one is
  /// large enough, else a new one. Throws std::bad_alloc.
  byte_buffer take(std::size_t n);
  /// Takes `b` (emptied): kept when it fits the limits, freed otherwise.
  void give(byte_buffer&& b) noexcept;
  /// Heap bytes held by the kept buffers.
  std::size_t held_bytes() const;

 private:
  mutable std::mutex mutex_;
  std::vector<byte_buffer> spare_;  ///< reserved to max_buffers at first use; guarded by mutex_
};

}  // namespace netcore
