// One accepted socket on the server side.
#pragma once

#include <cstddef>
#include <cstdint>

#include "byte_queue.hpp"
#include "frame_decoder.hpp"
#include "reactor.hpp"
#include "unique_fd.hpp"

namespace netcore {

class connection_owner;

/// One accepted socket: decodes frames from it and, in echo mode, writes them back.
///
/// Lives on the server's reactor thread only. Idle, it owns no heap buffer:
/// reads go into the reactor's shared buffer, the decoder keeps only a split
/// frame, and the write queue exists only while echoed bytes are pending.
///
/// The echo queue's bound: pending echo bytes plus the frame being assembled
/// never exceed the owner's `write_high_water`. An echo is exactly the bytes
/// it was read as, so each read asks for no more than the room left under
/// the mark; with no room left reading pauses (the unread bytes wait in the
/// kernel and TCP pushes back on the peer) until the queue drains below half
/// the mark. The one exception is a single frame larger than the mark: with
/// the queue empty, exactly that frame is read and queued alone (at most
/// max_frame + 4 bytes). The queue's buffer grows within the same bound.
class server_connection final : public io_handler {
 public:
  /// Takes `fd`; `owner` is told about frames and about closing.
  server_connection(connection_owner& owner, unique_fd fd, std::uint32_t max_frame);
  server_connection(const server_connection&) = delete;
  server_connection& operator=(const server_connection&) = delete;
  ~server_connection() = default;

  /// Reactor callback.
  void on_events(std::uint32_t events) override;
  /// Registers with the reactor (called once by the owner).
  void start();
  /// Closes the socket and tells the owner; idempotent.
  void close();

  /// The socket descriptor (-1 once closed).
  int fd() const noexcept { return fd_.get(); }

 private:
  void handle_read();
  void consume(const char* data, std::size_t size);
  void handle_write();
  std::size_t read_room() const noexcept;
  void report_queue(std::size_t size_before, std::size_t capacity_before) noexcept;
  void set_interest(std::uint32_t events);

  connection_owner& owner_;
  unique_fd fd_;
  frame_decoder decoder_;
  byte_queue out_;  ///< echoed frames not yet written (bounded: see the class comment)
  std::uint32_t interest_ = 0;
  bool peer_done_ = false;  ///< peer half-closed: close once `out_` is written
};

}  // namespace netcore
