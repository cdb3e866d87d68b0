// Counters a server publishes; written by its reactor, read from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace netcore {

/// Live statistics of one server. Relaxed-consistent snapshot semantics.
struct server_counters {
  std::atomic<std::uint64_t> sessions{0};           ///< connections open now
  std::atomic<std::uint64_t> sessions_total{0};     ///< connections accepted ever
  std::atomic<std::uint64_t> messages_received{0};  ///< whole frames decoded
  std::atomic<std::uint64_t> bytes_received{0};     ///< payload bytes of those frames
  std::atomic<std::uint64_t> messages_sent{0};      ///< frames queued back (echo mode)
  std::atomic<std::uint64_t> bytes_sent{0};         ///< payload bytes of those frames
  std::atomic<std::uint64_t> protocol_errors{0};    ///< connections closed for a bad frame
  std::atomic<std::uint64_t> accept_errors{0};      ///< connections refused (e.g. out of fds)
  std::atomic<std::uint64_t> reads_paused{0};       ///< times echo backpressure paused a reader
  std::atomic<std::uint64_t> echo_queued{0};        ///< echo bytes pending now, all connections
  std::atomic<std::uint64_t> echo_buffers{0};       ///< heap bytes of echo queues now, all connections
};

}  // namespace netcore
