// A TCP client whose socket is served by the process-wide client reactor.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "byte_buffer.hpp"
#include "byte_queue.hpp"
#include "frame_decoder.hpp"
#include "reactor.hpp"
#include "unique_fd.hpp"

namespace netcore {

/// Settings of a client, fixed at construction.
struct client_options {
  std::uint32_t max_frame = default_max_frame;       ///< largest payload sent or accepted
  std::size_t send_high_water = 8u * 1024u * 1024u;  ///< queued bytes before send() reports backpressure
  /// Received bytes kept before reading pauses. Every frame is charged its
  /// 4-byte header as well as its payload, so empty frames fill it too.
  std::size_t inbox_high_water = 16u * 1024u * 1024u;
};

/// Where a client is in its life.
enum class client_state : std::uint8_t { idle, connected, closing, closed };

/// A point-in-time copy of a client's counters.
struct client_stats {
  std::uint64_t messages_sent, bytes_sent, messages_received, bytes_received, queued_bytes, inbox_frames, inbox_bytes,
      reads_paused;
  client_state state;
  bool connected;
  std::string close_reason;  ///< why the connection closed (empty while open)
};

/// One connection to a server.
///
/// The caller's thread frames and queues messages; the shared client reactor
/// thread (one for all clients in the process) writes and reads the socket.
/// The send queue is bounded by `send_high_water`: a full queue is reported
/// as backpressure_error (or waited on, with a timeout), never grown.
/// Received frames are kept, framed as on the wire, in an inbox for
/// `receive`. The inbox plus the one frame being assembled hold at most
/// `inbox_high_water` bytes (a single frame larger than the mark is let in
/// alone when the inbox is empty, so it holds at most max_frame + 4 then): the
/// reactor never reads more from the socket than that room, checked before
/// every read, so a stream of empty frames is bounded per frame and no byte is
/// lost. A full inbox pauses reading, which pushes back on the peer through
/// TCP; `receive` resumes it below half the mark. An idle client owns no buffer.
class messaging_client final : public io_handler {
 public:
  /// An unconnected client called `name`.
  messaging_client(std::string name, client_options options);
  messaging_client(const messaging_client&) = delete;
  messaging_client& operator=(const messaging_client&) = delete;
  /// Closes abruptly if still connected (use disconnect() for a graceful close).
  ~messaging_client();

  /// Connects to host:port; returns only once connected. Throws os_error or timeout_error.
  void connect(const std::string& host, std::uint16_t port, double timeout_s);
  /// Queues one frame. With `timeout_s` > 0 waits that long for queue room,
  /// otherwise throws backpressure_error at once when the queue is full.
  void send(const char* data, std::size_t size, double timeout_s);
  /// Sends `count` copies of one frame, waiting for room as needed (up to
  /// `timeout_s` for each wait). Drives the core without a per-frame call.
  /// With nothing queued, frames of 512 bytes or more are written from this
  /// thread straight from `data` (sendmsg over an iovec of header/payload
  /// pairs: no queue copy, no reactor hop); otherwise they are queued.
  void send_repeated(const char* data, std::size_t size, std::uint64_t count, double timeout_s);
  /// Waits until every queued byte is handed to the kernel (writing from this
  /// thread when the reactor is not writing). Throws timeout_error.
  void flush(double timeout_s);
  /// Waits for the next received frame and returns it. Throws timeout_error.
  std::string receive(double timeout_s);
  /// Graceful close: hands every queued byte to the kernel (writing it from
  /// this thread when the reactor is not writing), then closes, so the peer
  /// reads every frame and then end-of-stream. Does not wait for the peer to
  /// close its end. Throws timeout_error if queued bytes could not be handed
  /// over in time (they are dropped).
  void disconnect(double timeout_s);
  /// Closes the socket at once, dropping anything queued.
  void abort();

  /// A snapshot of the counters.
  client_stats stats() const;
  /// The name given at construction.
  const std::string& name() const noexcept { return name_; }

  /// Reactor callback.
  void on_events(std::uint32_t events) override;

 private:
  using state = client_state;

  void check_frame_size(std::size_t size) const;
  template <class Pred>
  bool wait_locked(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::time_point deadline, Pred pred);
  bool enqueue_locked(std::unique_lock<std::mutex>& lock, std::size_t need, double timeout_s);
  void schedule_flush_locked();
  void write_pending_locked();
  std::size_t write_frame_now(const char* header, const char* data, std::size_t size);  // mutex_ held
  std::uint64_t write_repeated_locked(std::unique_lock<std::mutex>& lock, const char* header, const char* data,
                                      std::size_t size, std::uint64_t count, double timeout_s);
  bool quiescent_locked() const;
  template <class Task>
  void post_task(Task task);
  void grow_pending_locked(std::size_t more);
  void drain();                                                                // reactor thread
  void arm_idle_release_locked();                                              // reactor thread, mutex_ held
  void release_if_idle();                                                      // reactor thread
  void read_ready();                                                           // reactor thread
  std::size_t read_room_locked() const;                                        // reactor thread, mutex_ held
  bool decode_locked(const char* data, std::size_t size, std::string& error);  // reactor thread, mutex_ held
  void pause_reading();                                                        // reactor thread
  void resume_reading();                                                       // reactor thread
  void close_on_loop(const std::string& reason);                               // reactor thread
  void release_loop_state();                                  // reactor thread, or its stand-in (run_while_asleep)
  void close_locked(const std::string& reason);               // mutex_ held, after release_loop_state
  bool close_while_asleep_locked(const std::string& reason);  // any thread but the loop's, mutex_ held
  void set_interest(std::uint32_t events);                    // reactor thread
  [[noreturn]] void throw_not_connected_locked(const char* op) const;

  std::string name_;
  client_options options_;
  /// The shared client reactor, held from construction: a program that makes a
  /// client, uses it and drops it, over and over, keeps one reactor thread.
  std::shared_ptr<reactor> reactor_;

  // Reactor-thread state.
  unique_fd fd_;
  frame_decoder decoder_;
  byte_buffer writing_;  ///< bytes being written, swapped out of `pending_`
  std::size_t writing_off_ = 0;
  std::uint32_t interest_ = 0;
  reactor::timer_id idle_timer_ = 0;    ///< the pending release_if_idle, or 0
  std::uint64_t sent_at_idle_arm_ = 0;  ///< messages_sent_ when it was armed (guarded by mutex_)
  bool registered_ = false;             ///< fd_ is in the reactor's epoll set (see pause_reading)

  // Shared state, guarded by mutex_.
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  state state_ = state::idle;
  std::string close_reason_;
  byte_buffer pending_;  ///< framed bytes queued by the caller
  /// pending_ plus unwritten writing_. Atomic so the reactor can count written
  /// bytes without taking mutex_ per write (the caller's send path contends on it).
  std::atomic<std::size_t> queued_bytes_{0};
  std::atomic<int> waiters_{0};  ///< threads blocked on cv_ (see wait_locked)
  bool flush_scheduled_ = false;
  /// A caller is writing on the socket itself (send_repeated): neither the
  /// reactor nor another caller writes until it is done, so its frames stay whole.
  bool direct_writer_ = false;
  bool writable_wait_ = false;  ///< that caller waits for EPOLLOUT (the reactor clears it)
  /// A caller's write found the socket full: callers leave writing to the
  /// reactor until it has written (it clears this), so no syscall per send fails.
  bool kernel_full_ = false;
  /// The next send() may write its frame from the caller's thread (see send):
  /// set by connect() and receive(), cleared by the send that uses it.
  bool next_send_direct_ = false;
  bool read_paused_ = false;
  byte_queue inbox_;  ///< received frames as on the wire (header, payload), oldest first
  std::size_t inbox_frames_ = 0;
  std::uint64_t reads_paused_ = 0;
  std::uint64_t close_batch_ = 0;  ///< the reactor batch in which fd_ was last removed
  bool closed_unseen_ = false;     ///< closed while the loop slept: no event of its batch reaches us
  /// Posted tasks that refer to this client and have not finished (see quiescent_locked).
  std::atomic<int> tasks_in_flight_{0};
  std::uint64_t messages_sent_ = 0, bytes_sent_ = 0;
  std::atomic<std::uint64_t> messages_received_{0}, bytes_received_{0};
};

/// The reactor shared by all clients of this process, started on first use
/// and stopped when the last client releases it.
std::shared_ptr<reactor> shared_client_reactor();

}  // namespace netcore
