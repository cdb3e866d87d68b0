// libFuzzer target for the frame decoder (built with clang by `nox -s fuzz`).
//
// Input layout: byte 0 picks max_frame (small, so long frames are reachable),
// byte 1 seeds the slicing; the rest is the byte stream, fed in slices. The
// result must equal a one-shot reference decode of the same stream, the
// decoder must never own more memory than the bytes it has been given, and
// a too-long length must be reported exactly where the reference sees it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/frame_decoder.hpp"

namespace {

struct reference_result {
  std::vector<std::string> frames;
  bool too_long = false;
};

/// Straight-line decode of a whole stream: the specification.
reference_result reference_decode(const std::uint8_t* p, std::size_t n, std::uint32_t max_frame) {
  reference_result out;
  std::size_t pos = 0;
  while (n - pos >= 4) {
    const std::uint32_t len = (std::uint32_t{p[pos]} << 24) | (std::uint32_t{p[pos + 1]} << 16) |
                              (std::uint32_t{p[pos + 2]} << 8) | std::uint32_t{p[pos + 3]};
    if (len > max_frame) {
      out.too_long = true;
      return out;
    }
    if (n - pos - 4 < len) break;
    out.frames.emplace_back(reinterpret_cast<const char*>(p + pos + 4), len);
    pos += 4 + len;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint32_t max_frame = 1u + data[0] * 16u;
  std::uint32_t rng = data[1] * 2654435761u + 1;
  const std::uint8_t* stream = data + 2;
  const std::size_t n = size - 2;

  const reference_result want = reference_decode(stream, n, max_frame);
  netcore::frame_decoder decoder(max_frame);
  std::vector<std::string> got;
  bool too_long = false;
  std::size_t pos = 0;
  while (pos < n && !too_long) {
    rng = rng * 1103515245u + 12345u;
    const std::size_t slice = std::min<std::size_t>(n - pos, 1 + (rng >> 16) % 64);
    const char* p = reinterpret_cast<const char*>(stream + pos);
    std::size_t left = slice;
    while (left > 0) {
      const auto r = decoder.next(p, left);
      if (r.consumed > left) __builtin_trap();
      p += r.consumed;
      left -= r.consumed;
      if (r.what == netcore::frame_decoder::status::frame) got.emplace_back(r.data, r.size);
      if (r.what == netcore::frame_decoder::status::too_long) {
        too_long = true;
        break;
      }
      if (r.what == netcore::frame_decoder::status::need_more && left != 0) __builtin_trap();
    }
    // Never more memory than the bytes received (no reservation from the length field).
    if (decoder.owned_bytes() > 2 * (pos + slice) + 64) __builtin_trap();
    decoder.trim();
    pos += slice;
  }
  if (too_long != want.too_long) __builtin_trap();
  if (got != want.frames) __builtin_trap();
  return 0;
}
