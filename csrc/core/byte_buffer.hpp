// A growable byte buffer that never zero-fills what the caller is about to overwrite.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

namespace netcore {

/// Contiguous bytes with a size and a capacity, like std::vector<char>, but
/// `append_uninitialized` hands out room without writing it first (a vector's
/// resize would memset every byte the send path then overwrites), and
/// `release` gives the memory back so an idle owner holds none.
class byte_buffer {
 public:
  byte_buffer() noexcept = default;
  byte_buffer(const byte_buffer&) = delete;
  byte_buffer& operator=(const byte_buffer&) = delete;
  byte_buffer(byte_buffer&& other) noexcept { swap(other); }
  byte_buffer& operator=(byte_buffer&& other) noexcept {
    byte_buffer(std::move(other)).swap(*this);
    return *this;
  }
  ~byte_buffer() = default;

  /// The bytes (valid up to size()).
  char* data() noexcept { return data_.get(); }
  const char* data() const noexcept { return data_.get(); }
  /// Bytes held.
  std::size_t size() const noexcept { return size_; }
  /// Bytes that fit before the next allocation.
  std::size_t capacity() const noexcept { return capacity_; }
  /// True when no byte is held.
  bool empty() const noexcept { return size_ == 0; }

  /// Makes room for `n` bytes in all, keeping the contents. Throws std::bad_alloc.
  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    storage bigger(static_cast<char*>(std::malloc(n)));
    if (!bigger) throw std::bad_alloc();
    if (size_) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = n;
  }
  /// Grows the size by `n` and returns where those (unwritten) bytes start.
  /// The caller must have reserved room.
  char* append_uninitialized(std::size_t n) noexcept {
    char* out = data_.get() + size_;
    size_ += n;
    return out;
  }
  /// Appends `n` bytes from `p` (room must be reserved).
  void append(const char* p, std::size_t n) noexcept {
    if (n) std::memcpy(append_uninitialized(n), p, n);
  }
  /// Drops the first `n` bytes (n <= size()), moving the rest to the front.
  void erase_front(std::size_t n) noexcept {
    if (n < size_) std::memmove(data_.get(), data_.get() + n, size_ - n);
    size_ -= n;
  }
  /// Drops the contents, keeps the memory.
  void clear() noexcept { size_ = 0; }
  /// Drops the contents and frees the memory.
  void release() noexcept {
    data_.reset();
    size_ = capacity_ = 0;
  }
  /// Exchanges contents and memory with `other`.
  void swap(byte_buffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

 private:
  struct free_deleter {
    void operator()(char* p) const noexcept { std::free(p); }
  };
  using storage = std::unique_ptr<char, free_deleter>;

  storage data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace netcore
