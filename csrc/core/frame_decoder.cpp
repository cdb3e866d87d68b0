#include "frame_decoder.hpp"

#include <algorithm>
#include <cstring>

namespace netcore {

void encode_frame_header(std::uint32_t length, char out[frame_header_size]) noexcept {
  out[0] = static_cast<char>((length >> 24) & 0xffu);
  out[1] = static_cast<char>((length >> 16) & 0xffu);
  out[2] = static_cast<char>((length >> 8) & 0xffu);
  out[3] = static_cast<char>(length & 0xffu);
}

void frame_decoder::reset_frame() noexcept {
  header_have_ = 0;
  length_ = 0;
}

void frame_decoder::trim() noexcept {
  if (!release_partial_) return;
  std::vector<char>().swap(partial_);
  release_partial_ = false;
}

frame_decoder::result frame_decoder::next(const char* data, std::size_t size) {
  trim();  // the previous frame, if it came from `partial_`, has been consumed
  std::size_t used = 0;
  if (header_have_ < frame_header_size) {
    const std::size_t take = std::min<std::size_t>(frame_header_size - header_have_, size);
    std::memcpy(header_ + header_have_, data, take);
    header_have_ = static_cast<std::uint8_t>(header_have_ + take);
    used += take;
    if (header_have_ < frame_header_size) return {status::need_more, used, nullptr, 0, 0};
    length_ = (std::uint32_t{header_[0]} << 24) | (std::uint32_t{header_[1]} << 16) | (std::uint32_t{header_[2]} << 8) |
              std::uint32_t{header_[3]};
    if (length_ > max_frame_) {
      const std::uint32_t bad = length_;
      reset_frame();
      return {status::too_long, used, nullptr, 0, bad};
    }
  }
  const std::size_t avail = size - used;
  if (partial_.empty() && avail >= length_) {
    // Whole payload is in this slice: serve it in place.
    const char* payload = data + used;
    const std::size_t n = length_;
    reset_frame();
    return {status::frame, used + n, payload, n, 0};
  }
  const std::size_t take = std::min<std::size_t>(length_ - partial_.size(), avail);
  if (partial_.capacity() - partial_.size() < take) {
    // Geometric growth, capped at the frame's length (which passed the maximum check):
    // a split frame never holds more than its own size.
    const std::size_t want = partial_.size() + take;
    partial_.reserve(std::min<std::size_t>(length_, std::max(want, 2 * partial_.capacity())));
  }
  partial_.insert(partial_.end(), data + used, data + used + take);
  used += take;
  if (partial_.size() < length_) return {status::need_more, used, nullptr, 0, 0};
  const std::size_t n = length_;
  reset_frame();
  release_partial_ = true;
  return {status::frame, used, partial_.data(), n, 0};
}

}  // namespace netcore
