// Unit tests of the frame decoder, run by `meson test`. No framework: each
// check prints what failed and the process exits non-zero.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/frame_decoder.hpp"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++failures;
  }
}

std::string frame(const std::string& payload) {
  char header[netcore::frame_header_size];
  netcore::encode_frame_header(static_cast<std::uint32_t>(payload.size()), header);
  return std::string(header, netcore::frame_header_size) + payload;
}

/// Feeds `stream` in slices of the given sizes and returns the decoded frames.
std::vector<std::string> decode(const std::string& stream, const std::vector<std::size_t>& cuts, bool& bad,
                                std::uint32_t max = netcore::default_max_frame) {
  netcore::frame_decoder d(max);
  std::vector<std::string> out;
  std::size_t pos = 0;
  bad = false;
  for (std::size_t k = 0; k <= cuts.size() && !bad; ++k) {
    const std::size_t end = k < cuts.size() ? cuts[k] : stream.size();
    const char* p = stream.data() + pos;
    std::size_t left = end - pos;
    while (left > 0) {
      const auto r = d.next(p, left);
      if (r.consumed == 0 && r.what != netcore::frame_decoder::status::frame) {
        check(false, "decoder made no progress");
        return out;
      }
      p += r.consumed;
      left -= r.consumed;
      if (r.what == netcore::frame_decoder::status::frame) out.emplace_back(r.data, r.size);
      if (r.what == netcore::frame_decoder::status::too_long) {
        bad = true;
        break;
      }
    }
    d.trim();
    pos = end;
  }
  check(bad || !d.mid_frame(), "decoder left mid-frame at end of stream");
  check(d.owned_bytes() == 0 || bad, "idle decoder still owns " + std::to_string(d.owned_bytes()) + " bytes");
  return out;
}

void test_every_split_point() {
  const std::vector<std::string> payloads = {"", "a", "hello", std::string(300, 'x'), "", std::string(1, '\0')};
  std::string stream;
  for (const auto& p : payloads) stream += frame(p);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    bool bad = false;
    const auto got = decode(stream, {cut}, bad);
    check(!bad && got == payloads, "split at byte " + std::to_string(cut));
  }
  bool bad = false;
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  check(decode(stream, every, bad) == payloads, "one byte at a time");
}

void test_random_slicing() {
  std::mt19937 rng(42);
  std::vector<std::string> payloads;
  std::string stream;
  for (int i = 0; i < 200; ++i) {
    std::string p(rng() % 3000, '\0');
    for (auto& c : p) c = static_cast<char>(rng());
    payloads.push_back(p);
    stream += frame(p);
  }
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::size_t> cuts;
    for (std::size_t pos = 0; pos < stream.size();) {
      pos += 1 + rng() % 5000;
      if (pos < stream.size()) cuts.push_back(pos);
    }
    bool bad = false;
    check(decode(stream, cuts, bad) == payloads, "random slicing trial " + std::to_string(trial));
  }
}

void test_limits() {
  bool bad = false;
  const std::string at_max = frame(std::string(1000, 'm'));
  check(decode(at_max, {}, bad, 1000).size() == 1 && !bad, "a frame of exactly max_frame is accepted");
  const std::string over = frame(std::string(1001, 'm'));
  decode(over, {}, bad, 1000);
  check(bad, "a frame of max_frame + 1 is rejected");

  // A header announcing 4 GiB - 1 is rejected from the header alone, before any allocation.
  netcore::frame_decoder d;
  const char huge[4] = {'\xff', '\xff', '\xff', '\xff'};
  const auto r = d.next(huge, 4);
  check(r.what == netcore::frame_decoder::status::too_long && r.bad_length == 0xffffffffu, "2^32-1 length rejected");
  check(d.owned_bytes() == 0, "nothing allocated for a rejected length");

  // A split frame grows the buffer with the data received, not with the length field.
  netcore::frame_decoder g;
  char header[4];
  netcore::encode_frame_header(netcore::default_max_frame, header);
  g.next(header, 4);
  const std::string chunk(100, 'c');
  g.next(chunk.data(), chunk.size());
  check(g.owned_bytes() < 4096, "partial buffer sized by received bytes, got " + std::to_string(g.owned_bytes()));
  check(g.buffered() == 104 && g.to_complete() == netcore::default_max_frame - 100, "buffered and to_complete");

  // Geometric growth stops at the frame's own length (a vector's doubling would pass it).
  const std::uint32_t odd = 70000;
  netcore::frame_decoder k;
  netcore::encode_frame_header(odd, header);
  k.next(header, 4);
  const std::string drip(999, 'd');
  std::size_t peak = 0;
  for (std::size_t have = 0; have < odd;) {
    const std::size_t n = std::min<std::size_t>(drip.size(), odd - have);
    const auto r = k.next(drip.data(), n);
    peak = std::max(peak, k.owned_bytes());
    have += r.consumed;
    if (r.what == netcore::frame_decoder::status::frame) check(r.size == odd, "dripped frame whole");
  }
  check(peak <= odd, "split-frame buffer capped at the frame length, peaked at " + std::to_string(peak));
}

}  // namespace

int main() {
  test_every_split_point();
  test_random_slicing();
  test_limits();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("frame decoder: all checks passed\n");
  return 0;
}
