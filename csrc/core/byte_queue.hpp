// A FIFO of bytes in one contiguous buffer whose growth is capped by a limit.
#pragma once

#include <cstddef>

#include "byte_buffer.hpp"

namespace netcore {

/// Bytes appended at the back and consumed from the front, in one buffer.
///
/// The owner bounds what it appends (it checks `size()` against its limit
/// before reading more from a socket); the queue bounds what it allocates:
/// the buffer grows geometrically but never past `limit` (or past the bytes
/// actually held, when one append is larger than the limit), so its capacity
/// is at most max(limit, size()). Consumed bytes are reclaimed by moving the
/// live bytes to the front before any growth, and an emptied queue frees its
/// buffer, so an idle owner holds no memory.
class byte_queue {
 public:
  byte_queue() noexcept = default;
  byte_queue(const byte_queue&) = delete;
  byte_queue& operator=(const byte_queue&) = delete;
  byte_queue(byte_queue&&) noexcept = default;
  byte_queue& operator=(byte_queue&&) noexcept = default;
  ~byte_queue() = default;

  /// Bytes queued and not yet consumed.
  std::size_t size() const noexcept { return buf_.size() - head_; }
  /// True when nothing is queued.
  bool empty() const noexcept { return size() == 0; }
  /// Heap bytes owned.
  std::size_t capacity() const noexcept { return buf_.capacity(); }
  /// The oldest queued byte (valid for size() bytes, until the next append).
  const char* front() const noexcept { return buf_.data() + head_; }

  /// Appends `n` bytes from `p`, growing the buffer within `limit` (see the
  /// class comment). Throws std::bad_alloc.
  void append(const char* p, std::size_t n, std::size_t limit);
  /// Drops the `n` oldest bytes (n <= size()); frees the buffer when empty.
  void consume(std::size_t n) noexcept;
  /// Drops everything and frees the buffer.
  void release() noexcept;

 private:
  void make_room(std::size_t n, std::size_t limit);

  byte_buffer buf_;
  std::size_t head_ = 0;  ///< bytes of buf_ already consumed
};

}  // namespace netcore
