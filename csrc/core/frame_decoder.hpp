// Pure, incremental decoder for length-prefixed frames: no I/O, no threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace netcore {

/// Default largest payload accepted (16 MiB), the wire contract's default.
inline constexpr std::uint32_t default_max_frame = 16u * 1024u * 1024u;

/// Size of the big-endian length prefix.
inline constexpr std::size_t frame_header_size = 4;

/// Writes the 4-byte big-endian length prefix for `length` into `out`.
void encode_frame_header(std::uint32_t length, char out[frame_header_size]) noexcept;

/// Decodes a byte stream of frames (4-byte big-endian length, then payload).
///
/// Feed it any slicing of the stream; it answers good (a whole frame), bad (a
/// length above the maximum, detected from the header alone, before anything
/// is allocated for it) or need-more, and how many input bytes it used.
/// A frame that arrives whole in one input slice is returned in place, without
/// a copy; only a frame split across slices is gathered in an internal buffer,
/// which grows with the bytes actually received (never reserved from the
/// length field, and never past the frame's length) and is released once the
/// frame is handed out, so an idle decoder owns no heap memory.
class frame_decoder {
 public:
  /// What one call to `next` found.
  enum class status : std::uint8_t { frame, need_more, too_long };

  /// Outcome of `next`: the status, input bytes used, and the frame if any.
  struct result {
    status what;
    std::size_t consumed;      ///< bytes of the input slice used
    const char* data;          ///< payload (frame only); valid until the next call
    std::size_t size;          ///< payload length (frame only)
    std::uint32_t bad_length;  ///< the offending length (too_long only)
  };

  /// A decoder accepting payloads of at most `max_frame` bytes.
  explicit frame_decoder(std::uint32_t max_frame = default_max_frame) noexcept : max_frame_(max_frame) {}
  frame_decoder(const frame_decoder&) = delete;
  frame_decoder& operator=(const frame_decoder&) = delete;
  frame_decoder(frame_decoder&&) noexcept = default;
  frame_decoder& operator=(frame_decoder&&) noexcept = default;

  /// Decodes from `data[0..size)`. Call again with the rest of the slice
  /// (`data + consumed`) after a frame. After `too_long` the stream is
  /// unrecoverable and the connection must be closed.
  result next(const char* data, std::size_t size);

  /// Frees the buffer of a frame already handed out of it (call once the
  /// frame is consumed, e.g. at the end of a read), so an idle decoder owns
  /// no heap memory. `next` does the same on its next call.
  void trim() noexcept;

  /// True when part of a frame (header or payload) is buffered.
  bool mid_frame() const noexcept { return header_have_ != 0; }

  /// Stream bytes of the current, incomplete frame held (header and payload).
  std::size_t buffered() const noexcept { return header_have_ + partial_.size(); }

  /// Stream bytes still needed to complete the current frame's header, or
  /// (once the header is whole) its payload. Lets a reader that is out of room
  /// read exactly one more frame, and no more.
  std::size_t to_complete() const noexcept {
    if (header_have_ < frame_header_size) return frame_header_size - header_have_;
    return length_ - partial_.size();
  }

  /// Heap bytes currently owned (the partial-frame buffer's capacity).
  std::size_t owned_bytes() const noexcept { return partial_.capacity(); }

  /// The configured maximum payload.
  std::uint32_t max_frame() const noexcept { return max_frame_; }

 private:
  void reset_frame() noexcept;

  std::vector<char> partial_;  ///< payload bytes of a frame split across slices
  std::uint32_t max_frame_;
  std::uint32_t length_ = 0;  ///< payload length, valid once the header is complete
  std::uint8_t header_[frame_header_size] = {};
  std::uint8_t header_have_ = 0;
  bool release_partial_ = false;  ///< a frame was served from `partial_`
};

}  // namespace netcore
