// What a server connection needs from the server that owns it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "reactor.hpp"

namespace netcore {

/// The interface a connection calls back into; implemented by the server.
class connection_owner {
 public:
  connection_owner() = default;
  connection_owner(const connection_owner&) = delete;
  connection_owner& operator=(const connection_owner&) = delete;

  /// The reactor the connection runs on.
  virtual reactor& loop() noexcept = 0;
  /// True when frames are to be written back.
  virtual bool echo() const noexcept = 0;
  /// Largest pending echo bytes before reading from the peer pauses.
  virtual std::size_t write_high_water() const noexcept = 0;
  /// A batch of `frames` frames totalling `bytes` payload bytes was decoded.
  virtual void on_frames(std::uint64_t frames, std::uint64_t bytes) noexcept = 0;
  /// `frames` frames totalling `bytes` were queued back to the peer.
  virtual void on_echoed(std::uint64_t frames, std::uint64_t bytes) noexcept = 0;
  /// The peer sent a length above the maximum; the connection is closing.
  virtual void on_protocol_error() noexcept = 0;
  /// Echo backpressure paused reading from a peer.
  virtual void on_read_paused() noexcept = 0;
  /// An echo queue changed: `queued` bytes more (or fewer) pending, `buffer`
  /// bytes more (or fewer) allocated for it (two's complement deltas).
  virtual void on_echo_queue(std::uint64_t queued, std::uint64_t buffer) noexcept = 0;
  /// The connection that held `fd` closed it; the owner releases the
  /// connection object after the current event batch.
  virtual void on_closed(int fd) noexcept = 0;

 protected:
  ~connection_owner() = default;
};

}  // namespace netcore
