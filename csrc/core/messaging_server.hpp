// A TCP server that decodes frames on its own reactor thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "connection_owner.hpp"
#include "frame_decoder.hpp"
#include "reactor.hpp"
#include "server_connection.hpp"
#include "server_counters.hpp"
#include "unique_fd.hpp"

namespace netcore {

/// Settings of a server, fixed at construction.
struct server_options {
  bool echo = false;                            ///< write every frame back to its sender
  std::uint32_t max_frame = default_max_frame;  ///< largest payload accepted
  /// Per-connection echo bytes: reading pauses before a read could queue more
  /// (see server_connection), and resumes below half of it.
  std::size_t write_high_water = 4u * 1024u * 1024u;
  int backlog = 4096;  ///< listen(2) backlog
};

/// A point-in-time copy of the counters.
struct server_stats {
  std::uint64_t sessions, sessions_total, messages_received, bytes_received, messages_sent, bytes_sent, protocol_errors,
      accept_errors, reads_paused, echo_queued_bytes, echo_buffer_bytes;
};

/// Accepts connections and decodes frames on one reactor thread it owns.
///
/// Owns the listening socket and every accepted connection (a table indexed
/// by descriptor: 8 bytes a slot, no per-connection node). `stop()` closes
/// them all and joins the thread; the destructor stops too.
class messaging_server final : private connection_owner {
 public:
  /// A stopped server called `name`.
  messaging_server(std::string name, server_options options);
  messaging_server(const messaging_server&) = delete;
  messaging_server& operator=(const messaging_server&) = delete;
  ~messaging_server();

  /// Listens on host:port (0 = ephemeral) and returns the bound port.
  std::uint16_t start(const std::string& host, std::uint16_t port);
  /// Closes the listener and every connection, then joins the thread. Idempotent.
  void stop();
  /// True between start() and stop().
  bool running() const noexcept { return reactor_ != nullptr; }
  /// The name given at construction.
  const std::string& name() const noexcept { return name_; }
  /// The bound port (0 when stopped).
  std::uint16_t port() const noexcept { return port_; }
  /// A snapshot of the counters.
  server_stats stats() const noexcept;
  /// Waits until at least `messages` frames arrived and exactly `sessions`
  /// connections are open (negative = don't care), or `timeout_s` passes.
  /// Returns whether the condition was met.
  bool wait_for(std::int64_t messages, std::int64_t sessions, double timeout_s);

 private:
  class acceptor;

  reactor& loop() noexcept override { return *reactor_; }
  bool echo() const noexcept override { return options_.echo; }
  std::size_t write_high_water() const noexcept override { return options_.write_high_water; }
  void on_frames(std::uint64_t frames, std::uint64_t bytes) noexcept override;
  void on_echoed(std::uint64_t frames, std::uint64_t bytes) noexcept override;
  void on_protocol_error() noexcept override;
  void on_read_paused() noexcept override;
  void on_echo_queue(std::uint64_t queued, std::uint64_t buffer) noexcept override;
  void on_closed(int fd) noexcept override;

  void accept_ready();
  void notify_waiters() noexcept;
  bool wait_met(std::int64_t messages, std::int64_t sessions) const noexcept;
  void close_all();
  void sweep_closed() noexcept;

  std::string name_;
  server_options options_;
  server_counters counters_;
  std::uint16_t port_ = 0;
  unique_fd listener_;
  unique_fd spare_fd_;  ///< released to accept-and-drop when out of descriptors
  std::unique_ptr<acceptor> acceptor_;
  std::vector<std::unique_ptr<server_connection>> by_fd_;  ///< reactor thread only
  /// Connections closed in the current batch, destroyed after it (they may
  /// still be on the call stack or have an event later in the batch). One
  /// vector and one deferred task per batch, where a shared_ptr and a
  /// std::function per connection were allocated before. Reactor thread only.
  std::vector<std::unique_ptr<server_connection>> closed_;
  bool closed_sweep_deferred_ = false;
  std::mutex wait_mutex_;
  std::condition_variable wait_cv_;
  std::atomic<int> waiters_{0};
  /// What the waiters wait for, so the reactor wakes them only when it is met
  /// (each frame batch and session change woke them before: two futex wakes and
  /// a context switch per connect/disconnect cycle). With more than one waiter
  /// `wake_always_` is set and every change notifies. Written under wait_mutex_.
  std::atomic<std::int64_t> wait_messages_{-1};
  std::atomic<std::int64_t> wait_sessions_{-1};
  std::atomic<bool> wake_always_{false};
  std::unique_ptr<reactor> reactor_;  ///< last member: its thread stops first on destruction
};

}  // namespace netcore
