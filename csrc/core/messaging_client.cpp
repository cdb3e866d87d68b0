#include "messaging_client.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "errors.hpp"
#include "socket_util.hpp"

namespace netcore {

namespace {

using clock_type = std::chrono::steady_clock;

clock_type::time_point deadline_after(double timeout_s) {
  return clock_type::now() + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(timeout_s));
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g s", s);
  return buf;
}

/// First allocation of a send queue: large enough that a burst of small
/// frames does not regrow it, small enough to be cheap to drop when idle.
constexpr std::size_t initial_queue_capacity = 64 * 1024;
/// Bytes send_repeated copies per lock hold (see there).
constexpr std::size_t send_repeated_chunk = 256 * 1024;
/// Bytes send_repeated lets queue up before it waits for the reactor (see there).
constexpr std::size_t send_repeated_depth = 1024 * 1024;
constexpr int reads_per_event = 4;
/// How long a client's queue stays empty, with no frame sent, before its
/// buffers are released (see drain): long against the gaps of a busy sender,
/// short against a person's notion of idle.
constexpr std::chrono::milliseconds idle_release_delay{50};
/// Queued bytes at which send() writes the queue from the caller's thread when
/// the reactor is not writing (see send): a batch per syscall, the queue short.
constexpr std::size_t caller_write_batch = 64 * 1024;
/// Smallest frame send_repeated writes straight from the caller's buffer: an
/// iovec pair per frame pays off once frames are large (small ones are queued,
/// so each syscall still carries many bytes).
constexpr std::size_t direct_write_min_frame = 512;
/// iovec entries per sendmsg (IOV_MAX on Linux): 512 header/payload pairs.
constexpr std::size_t max_iov = 1024;

}  // namespace

std::shared_ptr<reactor> shared_client_reactor() {
  static std::mutex mutex;
  static std::weak_ptr<reactor> current;
  std::lock_guard<std::mutex> lock(mutex);
  auto r = current.lock();
  if (!r) {
    r = std::make_shared<reactor>("netcore-client");
    current = r;
  }
  return r;
}

messaging_client::messaging_client(std::string name, client_options options)
    : name_(std::move(name)), options_(options), decoder_(options.max_frame) {
  if (options_.max_frame == 0) throw std::invalid_argument("max_frame must be positive");
  if (options_.send_high_water == 0) throw std::invalid_argument("send_high_water must be positive");
  if (options_.inbox_high_water == 0) throw std::invalid_argument("inbox_high_water must be positive");
  reactor_ = shared_client_reactor();
}

messaging_client::~messaging_client() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (quiescent_locked()) return;  // the reactor refers to us nowhere: nothing to wait for
    // Still open: close it here if the loop sleeps (then nothing refers to us).
    if (fd_ && close_while_asleep_locked("client destroyed") && quiescent_locked()) return;
  }
  // Still open, or closed so recently that an event or task may refer to us:
  // close on the loop and wait, which also lets every earlier task finish.
  reactor_->run_sync([this] { close_on_loop("client destroyed"); });
  // A task posted after that one and before the close (a drain's buffer release)
  // may still refer to us; none is posted once closed, so this ends.
  while (tasks_in_flight_.load(std::memory_order_acquire) != 0) reactor_->run_sync([] {});
}

bool messaging_client::quiescent_locked() const {
  if (state_ == state::idle) return true;
  return state_ == state::closed && !fd_ && tasks_in_flight_.load() == 0 &&
         (closed_unseen_ || reactor_->batches_done() > close_batch_);
}

template <class Task>
void messaging_client::post_task(Task task) {
  tasks_in_flight_.fetch_add(1);
  reactor_->post([this, task = std::move(task)]() mutable {
    task();
    tasks_in_flight_.fetch_sub(1, std::memory_order_release);
  });
}

void messaging_client::connect(const std::string& host, std::uint16_t port, double timeout_s) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_ == state::connected || state_ == state::closing) {
      throw netcore_error("client '" + name_ + "' is already connected");
    }
  }
  unique_fd fd = connect_with_timeout(host, port, timeout_s);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (quiescent_locked()) {
      // The reactor refers to us nowhere (never connected, or closed in a batch
      // that has finished): set up and register from this thread, no hand-off.
      fd_ = std::move(fd);
      decoder_ = frame_decoder(options_.max_frame);
      writing_.clear();
      writing_off_ = 0;
      interest_ = EPOLLIN | EPOLLRDHUP;
      state_ = state::connected;
      close_reason_.clear();
      read_paused_ = false;
      kernel_full_ = false;
      next_send_direct_ = true;
      closed_unseen_ = false;
      registered_ = true;
      try {
        reactor_->add(fd_.get(), interest_, this);  // publishes the state above to the reactor
      } catch (...) {
        registered_ = false;
        fd_.reset();
        state_ = state::closed;
        close_reason_ = "registration with the reactor failed";
        throw;
      }
      return;
    }
  }
  reactor_->run_sync([&] {
    decoder_ = frame_decoder(options_.max_frame);
    writing_.clear();
    writing_off_ = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fd_ = std::move(fd);  // under the lock: callers read it while connected
      state_ = state::connected;
      close_reason_.clear();
      read_paused_ = false;
      kernel_full_ = false;
      next_send_direct_ = true;
      closed_unseen_ = false;
    }
    interest_ = EPOLLIN | EPOLLRDHUP;
    reactor_->add(fd_.get(), interest_, this);
    registered_ = true;
  });
}

void messaging_client::check_frame_size(std::size_t size) const {
  if (size > options_.max_frame) {
    throw std::invalid_argument("frame of " + std::to_string(size) + " bytes exceeds max_frame (" +
                                std::to_string(options_.max_frame) + ")");
  }
}

void messaging_client::throw_not_connected_locked(const char* op) const {
  if (state_ == state::idle)
    throw not_connected_error(std::string(op) + ": client '" + name_ + "' was never connected");
  throw not_connected_error(std::string(op) + ": client '" + name_ + "' is not connected (" + close_reason_ + ")");
}

template <class Pred>
bool messaging_client::wait_locked(std::unique_lock<std::mutex>& lock, clock_type::time_point deadline, Pred pred) {
  // Announce the waiter before testing the predicate: the reactor updates
  // queued_bytes_ without the mutex and notifies only when someone waits.
  waiters_.fetch_add(1);
  const bool ok = cv_.wait_until(lock, deadline, pred);
  waiters_.fetch_sub(1);
  return ok;
}

bool messaging_client::enqueue_locked(std::unique_lock<std::mutex>& lock, std::size_t need, double timeout_s) {
  if (state_ != state::connected) throw_not_connected_locked("send");
  const auto full = [&] {
    const std::size_t queued = queued_bytes_.load();
    return queued > 0 && queued + need > options_.send_high_water;
  };
  if (!full()) return true;
  if (timeout_s <= 0) {
    throw backpressure_error("send queue of client '" + name_ + "' is full (" + std::to_string(queued_bytes_.load()) +
                             " bytes queued, high-water mark " + std::to_string(options_.send_high_water) +
                             "): the peer is not reading fast enough");
  }
  const auto deadline = deadline_after(timeout_s);
  wait_locked(lock, deadline, [&] { return !full() || state_ != state::connected; });
  if (state_ != state::connected) throw_not_connected_locked("send");
  if (full()) {
    throw backpressure_error("send queue of client '" + name_ + "' still full after " + seconds(timeout_s) + " (" +
                             std::to_string(queued_bytes_.load()) + " bytes queued): the peer is not reading");
  }
  return true;
}

void messaging_client::schedule_flush_locked() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  post_task([this] { drain(); });
}

void messaging_client::grow_pending_locked(std::size_t more) {
  const std::size_t want = pending_.size() + more;
  if (want <= pending_.capacity()) return;
  // Grow geometrically, but never past the high-water mark (plus this frame):
  // the queue's memory stays bounded by what it may hold, not by twice that.
  const std::size_t cap = std::max(options_.send_high_water, want);
  byte_buffer bigger =
      reactor_->buffers().take(std::min(cap, std::max({want, 2 * pending_.capacity(), initial_queue_capacity})));
  bigger.append(pending_.data(), pending_.size());
  reactor_->buffers().give(std::move(pending_));
  pending_ = std::move(bigger);
}

void messaging_client::write_pending_locked() {
  // Every queued byte still in pending_ means the reactor's writing_ is done and
  // it cannot start another write without this lock: this thread may write, in
  // order, without a hand-off. fd_ is open while connected (it closes under the lock).
  if (state_ != state::connected || direct_writer_ || kernel_full_ || pending_.empty() ||
      queued_bytes_.load() != pending_.size())
    return;
  std::size_t off = 0;
  while (off < pending_.size()) {
    const ssize_t n = ::send(fd_.get(), pending_.data() + off, pending_.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // The kernel is full (the reactor waits for EPOLLOUT, and this thread tries
    // no more until the reactor has written), or an error the reactor reports.
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) kernel_full_ = true;
    break;
  }
  if (off == 0) return;
  pending_.erase_front(off);
  queued_bytes_.fetch_sub(off);
}

void messaging_client::send(const char* data, std::size_t size, double timeout_s) {
  check_frame_size(size);
  std::unique_lock<std::mutex> lock(mutex_);
  const std::size_t need = frame_header_size + size;
  enqueue_locked(lock, need, timeout_s);
  char header[frame_header_size];
  encode_frame_header(static_cast<std::uint32_t>(size), header);
  std::size_t written = 0;
  if (next_send_direct_ && pending_.empty() && queued_bytes_.load() == 0 && !direct_writer_ && !kernel_full_) {
    // The first frame after connect() or after a receive(): a request, not part
    // of a stream. With nothing queued or being written the reactor cannot be
    // writing (it takes this lock first), so this thread writes the frame
    // itself: no hand-off to the reactor, no queue buffer. A stream's later
    // frames are queued and batched as before.
    next_send_direct_ = false;
    written = write_frame_now(header, data, size);
    if (written == need) {
      ++messages_sent_;
      bytes_sent_ += size;
      return;
    }
  }
  // What a direct write left (nothing, or the tail of the frame) is queued.
  const std::size_t rest = need - written;
  grow_pending_locked(rest);
  if (written < frame_header_size) {
    pending_.append(header + written, frame_header_size - written);
    pending_.append(data, size);
  } else {
    pending_.append(data + (written - frame_header_size), rest);
  }
  queued_bytes_ += rest;
  ++messages_sent_;
  bytes_sent_ += size;
  // A sender that outpaces the reactor (or runs while the reactor waits for a
  // core) writes its own queue once it holds a batch: the queue stays short,
  // in pooled buffers and in cache, instead of growing (a copy per doubling,
  // fresh pages) until the reactor comes round.
  if (pending_.size() >= caller_write_batch) write_pending_locked();
  schedule_flush_locked();  // also when this thread emptied the queue: the drain releases its buffers
}

std::size_t messaging_client::write_frame_now(const char* header, const char* data, std::size_t size) {
  iovec iov[2] = {{const_cast<char*>(header), frame_header_size}, {const_cast<char*>(data), size}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  for (;;) {
    const ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    // Full: the queue and the reactor take it from here. Any other error: the
    // reactor's drain meets it too, and closes with its reason.
    if (errno == EAGAIN || errno == EWOULDBLOCK) kernel_full_ = true;
    return 0;
  }
}

void messaging_client::send_repeated(const char* data, std::size_t size, std::uint64_t count, double timeout_s) {
  check_frame_size(size);
  const std::size_t need = frame_header_size + size;
  char header[frame_header_size];
  encode_frame_header(static_cast<std::uint32_t>(size), header);
  // Copies go in chunks, the lock released between them, so the reactor can take
  // one chunk to the socket while the next is filled (one 8 MiB fill under the lock
  // serialised the two threads: measured slower than a Python send loop). And the
  // queue is kept short (a few chunks, not the high-water mark): bytes still in the
  // cache when the kernel copies them are what make a core-driven sender fast.
  const std::uint64_t chunk = std::max<std::size_t>(1, send_repeated_chunk / need);
  const std::size_t depth = std::min(options_.send_high_water, send_repeated_depth);
  std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
  while (count > 0) {
    lock.lock();
    if (state_ != state::connected) throw_not_connected_locked("send");
    if (need >= direct_write_min_frame && queued_bytes_.load() == 0) {
      count -= write_repeated_locked(lock, header, data, size, count, timeout_s);
      lock.unlock();
      continue;
    }
    const auto room_for_one = [&] {
      const std::size_t queued = queued_bytes_.load();
      return queued == 0 || queued + need <= depth || state_ != state::connected;
    };
    if (!wait_locked(lock, deadline_after(timeout_s), room_for_one)) {
      throw backpressure_error("send queue of client '" + name_ + "' did not drain for " + seconds(timeout_s) + " (" +
                               std::to_string(queued_bytes_.load()) + " bytes queued): the peer is not reading");
    }
    if (state_ != state::connected) throw_not_connected_locked("send");
    const std::size_t queued = queued_bytes_.load();
    const std::size_t room = depth > queued ? depth - queued : 0;
    std::uint64_t batch = std::max<std::uint64_t>(1, room / need);
    batch = std::min<std::uint64_t>({batch, count, chunk});
    grow_pending_locked(static_cast<std::size_t>(batch) * need);
    char* out = pending_.append_uninitialized(static_cast<std::size_t>(batch) * need);
    for (std::uint64_t i = 0; i < batch; ++i, out += need) {
      std::memcpy(out, header, frame_header_size);
      std::memcpy(out + frame_header_size, data, size);
    }
    queued_bytes_ += static_cast<std::size_t>(batch) * need;
    messages_sent_ += batch;
    bytes_sent_ += batch * size;
    count -= batch;
    schedule_flush_locked();
    lock.unlock();
  }
}

std::uint64_t messaging_client::write_repeated_locked(std::unique_lock<std::mutex>& lock, const char* header,
                                                      const char* data, std::size_t size, std::uint64_t count,
                                                      double timeout_s) {
  // Nothing is queued and the lock is held: the reactor is not writing and
  // cannot start (drain takes the lock). Each sendmsg runs under the lock, so
  // fd_ stays open (it closes under the lock); waits for room release it, with
  // direct_writer_ set so nobody else writes into the middle of a frame.
  const std::size_t need = frame_header_size + size;
  std::uint64_t done = 0;   // frames wholly written
  std::size_t partial = 0;  // bytes of frame `done` already written
  direct_writer_ = true;
  struct writer_exit {
    messaging_client& self;
    ~writer_exit() {
      self.direct_writer_ = false;
      self.writable_wait_ = false;
      try {
        // Frames other callers queued meanwhile (their drain found us writing).
        if (!self.pending_.empty() && self.state_ == state::connected) self.schedule_flush_locked();
      } catch (...) {
        // Out of memory for the task: the next send or flush schedules it again.
      }
    }
  } on_exit{*this};
  const auto finish = [&] {
    // A frame begun is finished through the queue, so the stream stays whole.
    if (partial > 0 && state_ == state::connected) {
      const std::size_t rest = need - partial;
      grow_pending_locked(rest);
      if (partial < frame_header_size) {
        pending_.append(header + partial, frame_header_size - partial);
        pending_.append(data, size);
      } else {
        pending_.append(data + (partial - frame_header_size), rest);
      }
      queued_bytes_ += rest;
      ++done;
    }
    partial = 0;
    messages_sent_ += done;
    bytes_sent_ += done * size;
    return done;
  };
  iovec iov[max_iov];
  while (done < count) {
    if (state_ != state::connected) {
      finish();
      throw_not_connected_locked("send");
    }
    std::size_t k = 0;
    std::size_t skip = partial;
    for (std::uint64_t f = done; f < count && k + 2 <= max_iov; ++f, skip = 0) {
      if (skip < frame_header_size) {
        iov[k++] = {const_cast<char*>(header + skip), frame_header_size - skip};
        iov[k++] = {const_cast<char*>(data), size};
      } else {
        iov[k++] = {const_cast<char*>(data + (skip - frame_header_size)), need - skip};
      }
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = k;
    const ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      const std::size_t total = partial + static_cast<std::size_t>(n);
      done += total / need;
      partial = total % need;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // Full (or failed: the reactor sees the error and closes): wait for EPOLLOUT.
    writable_wait_ = true;
    post_task([this] {
      if (fd_) set_interest(interest_ | EPOLLOUT);
    });
    const bool woke =
        wait_locked(lock, deadline_after(timeout_s), [&] { return !writable_wait_ || state_ != state::connected; });
    if (!woke) {
      finish();
      throw backpressure_error("send queue of client '" + name_ + "' did not drain for " + seconds(timeout_s) +
                               ": the peer is not reading");
    }
  }
  return finish();
}

void messaging_client::flush(double timeout_s) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (state_ != state::connected) throw_not_connected_locked("flush");
  write_pending_locked();
  const bool done =
      wait_locked(lock, deadline_after(timeout_s), [&] { return queued_bytes_ == 0 || state_ != state::connected; });
  if (state_ != state::connected) throw_not_connected_locked("flush");
  if (!done) {
    throw timeout_error("flush: " + std::to_string(queued_bytes_.load()) + " bytes of client '" + name_ +
                        "' still queued after " + seconds(timeout_s));
  }
}

std::string messaging_client::receive(double timeout_s) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (state_ == state::idle) throw_not_connected_locked("receive");
  const bool got =
      cv_.wait_until(lock, deadline_after(timeout_s), [&] { return inbox_frames_ > 0 || state_ == state::closed; });
  if (inbox_frames_ == 0) {
    if (state_ == state::closed) throw_not_connected_locked("receive");
    if (!got) throw timeout_error("receive: no frame for client '" + name_ + "' within " + seconds(timeout_s));
  }
  const auto* h = reinterpret_cast<const unsigned char*>(inbox_.front());
  const std::size_t n = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) | (std::size_t{h[2]} << 8) | h[3];
  std::string frame(inbox_.front() + frame_header_size, n);
  inbox_.consume(frame_header_size + n);
  --inbox_frames_;
  next_send_direct_ = true;  // a reply is a request's answer: the next send is likely a request too
  if (read_paused_ && inbox_.size() <= options_.inbox_high_water / 2 && state_ != state::closed) {
    read_paused_ = false;
    post_task([this] { resume_reading(); });
  }
  return frame;
}

void messaging_client::disconnect(double timeout_s) {
  std::size_t unsent = 0;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (state_ != state::connected) return;  // never connected, or already closed: nothing to do
    write_pending_locked();
    wait_locked(lock, deadline_after(timeout_s), [&] { return queued_bytes_ == 0 || state_ != state::connected; });
    if (state_ != state::connected) return;  // closed meanwhile (its reason says why)
    unsent = queued_bytes_;
    // Closed for the caller now; the socket closes on the loop. Every byte is in
    // the kernel ahead of the FIN, so the peer reads them all, then end-of-stream.
    state_ = state::closed;
    close_reason_ = "disconnected";
    if (unsent > 0) close_reason_ += " (" + std::to_string(unsent) + " queued bytes dropped)";
    cv_.notify_all();
    // Closed on this thread while the loop sleeps (no hand-off, no wake-up),
    // else on the loop.
    if (!close_while_asleep_locked("disconnected")) post_task([this] { close_on_loop("disconnected"); });
  }
  if (unsent > 0) {
    throw timeout_error("disconnect: " + std::to_string(unsent) + " bytes of client '" + name_ +
                        "' were still queued after " + seconds(timeout_s) + " and were dropped");
  }
}

void messaging_client::abort() {
  if (reactor_) reactor_->run_sync([this] { close_on_loop("aborted"); });
}

client_stats messaging_client::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {messages_sent_,
          bytes_sent_,
          messages_received_.load(),
          bytes_received_.load(),
          queued_bytes_.load(),
          inbox_frames_,
          inbox_.size(),
          reads_paused_,
          state_,
          state_ == state::connected,
          close_reason_};
}

void messaging_client::set_interest(std::uint32_t events) {
  if (events == interest_ || !fd_) return;
  interest_ = events;
  if (registered_) reactor_->modify(fd_.get(), events, this);
}

void messaging_client::pause_reading() { set_interest(interest_ & ~std::uint32_t{EPOLLIN | EPOLLRDHUP}); }

void messaging_client::resume_reading() {
  if (!fd_) return;
  interest_ |= EPOLLIN | EPOLLRDHUP;
  if (registered_) {
    reactor_->modify(fd_.get(), interest_, this);
  } else {
    reactor_->add(fd_.get(), interest_, this);
    registered_ = true;
  }
}

void messaging_client::on_events(std::uint32_t events) {
  if (!fd_) return;
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    close_on_loop(std::string("socket error: ") + std::strerror(err));
    return;
  }
  if (events & EPOLLOUT) drain();
  if (!fd_) return;
  if ((interest_ & EPOLLIN) == 0) {
    // Reading is paused (full inbox). EPOLLHUP cannot be masked and would fire
    // on every wait; a hung-up socket can take no writes either, so leave the
    // epoll set until receive() makes room (resume_reading adds it back).
    if (events & EPOLLHUP) {
      reactor_->remove(fd_.get());
      registered_ = false;
    }
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) read_ready();
}

void messaging_client::drain() {
  while (fd_) {
    if (writing_off_ >= writing_.size()) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (direct_writer_) {
        // A caller writes the socket itself; it was waiting for room (or this
        // is a posted drain it will redo when it is done).
        writable_wait_ = false;
        flush_scheduled_ = false;
        cv_.notify_all();
        set_interest(interest_ & ~std::uint32_t{EPOLLOUT});
        return;
      }
      kernel_full_ = false;  // the last buffer is written, or none was: callers may write again
      if (pending_.empty()) {
        flush_scheduled_ = false;
        writing_off_ = 0;
        writing_.clear();
        // An idle client owns no buffer, but a sender that outpaces the reactor
        // empties its queue every few frames. Freeing both buffers at once (as
        // this did, one batch later) made the sender refill fresh pages: glibc
        // trimmed or unmapped them, and the page faults cost the Python send loop
        // more than the rest of a send. The buffers go once no frame was queued
        // for idle_release_delay; close_on_loop cancels the timer.
        if (idle_timer_ == 0) arm_idle_release_locked();
        cv_.notify_all();
        set_interest(interest_ & ~std::uint32_t{EPOLLOUT});
        return;
      }
      writing_.clear();
      writing_.swap(pending_);  // the caller reuses our old buffer's capacity
      writing_off_ = 0;
    }
    const ssize_t n = ::send(fd_.get(), writing_.data() + writing_off_, writing_.size() - writing_off_, MSG_NOSIGNAL);
    if (n > 0) {
      writing_off_ += static_cast<std::size_t>(n);
      queued_bytes_.fetch_sub(static_cast<std::size_t>(n));
      if (waiters_.load() > 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        cv_.notify_all();
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_interest(interest_ | EPOLLOUT);
      return;
    }
    close_on_loop(std::string("send failed: ") + std::strerror(errno));
    return;
  }
}

std::size_t messaging_client::read_room_locked() const {
  const std::size_t held = inbox_.size() + decoder_.buffered();
  if (held < options_.inbox_high_water) return options_.inbox_high_water - held;
  // Out of room. With frames waiting, the caller will make room; with none, the
  // frame being assembled is larger than the mark: let in exactly that frame.
  return inbox_frames_ > 0 ? 0 : decoder_.to_complete();
}

bool messaging_client::decode_locked(const char* data, std::size_t size, std::string& error) {
  // Frames that arrived whole in this slice are contiguous in it, headers
  // included: they are appended as runs, one copy per run, not per frame.
  const char* run = data;
  std::size_t run_len = 0;
  std::uint64_t frames = 0, bytes = 0;
  const auto flush_run = [&] {
    inbox_.append(run, run_len, options_.inbox_high_water);
    run_len = 0;
  };
  while (size > 0) {
    const auto r = decoder_.next(data, size);
    if (r.what == frame_decoder::status::frame) {
      ++frames;
      bytes += r.size;
      if (r.consumed == frame_header_size + r.size && r.data == data + frame_header_size) {
        if (run + run_len != data) {
          flush_run();
          run = data;
        }
        run_len += r.consumed;
      } else {
        // Assembled across reads (from the decoder's buffer, or a header split
        // over two reads): frame it again.
        flush_run();
        char header[frame_header_size];
        encode_frame_header(static_cast<std::uint32_t>(r.size), header);
        inbox_.append(header, frame_header_size, options_.inbox_high_water);
        inbox_.append(r.data, r.size, options_.inbox_high_water);
        run = data + r.consumed;
      }
    } else if (r.what == frame_decoder::status::too_long) {
      error = "protocol error: peer announced a frame of " + std::to_string(r.bad_length) + " bytes, above max_frame " +
              std::to_string(options_.max_frame);
      break;
    }
    data += r.consumed;
    size -= r.consumed;
  }
  flush_run();
  decoder_.trim();
  if (frames) {
    inbox_frames_ += frames;
    messages_received_.fetch_add(frames, std::memory_order_relaxed);
    bytes_received_.fetch_add(bytes, std::memory_order_relaxed);
    cv_.notify_all();
  }
  return error.empty();
}

void messaging_client::arm_idle_release_locked() {
  sent_at_idle_arm_ = messages_sent_;
  idle_timer_ = reactor_->post_after(idle_release_delay, [this] {
    idle_timer_ = 0;
    release_if_idle();
  });
}

void messaging_client::release_if_idle() {
  if (writing_off_ < writing_.size()) return;  // writing: the drain that empties the queue re-arms
  std::lock_guard<std::mutex> lock(mutex_);
  if (!pending_.empty() || direct_writer_) return;  // busy again: likewise
  if (messages_sent_ != sent_at_idle_arm_) {
    arm_idle_release_locked();  // frames went through meanwhile: not idle yet
    return;
  }
  reactor_->buffers().give(std::move(writing_));
  reactor_->buffers().give(std::move(pending_));
}

void messaging_client::read_ready() {
  char* buf = reactor_->read_buffer();
  for (int i = 0; i < reads_per_event && fd_; ++i) {
    std::size_t want = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      want = std::min(read_room_locked(), reactor::read_buffer_size);
      if (want == 0) {
        read_paused_ = true;
        ++reads_paused_;
      }
    }
    if (want == 0) {
      pause_reading();
      return;
    }
    // Never more than the inbox has room for: what is read is kept, and what
    // the inbox cannot take stays in the kernel, which pushes back on the peer.
    const ssize_t n = ::recv(fd_.get(), buf, want, 0);
    if (n == 0) {
      bool closing = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        closing = state_ == state::closing;
      }
      if (decoder_.mid_frame()) {
        close_on_loop("peer closed the connection in the middle of a frame (" + std::to_string(decoder_.buffered()) +
                      " bytes of it received)");
      } else {
        close_on_loop(closing ? "disconnected" : "peer closed the connection");
      }
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_on_loop(std::string("recv failed: ") + std::strerror(errno));
      return;
    }
    std::string error;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      decode_locked(buf, static_cast<std::size_t>(n), error);
    }
    if (!error.empty()) {
      close_on_loop(error);
      return;
    }
    if (static_cast<std::size_t>(n) < want) break;
  }
}

void messaging_client::release_loop_state() {
  if (registered_) reactor_->remove(fd_.get());
  registered_ = false;
  interest_ = 0;
  if (idle_timer_ != 0) reactor_->cancel(idle_timer_);
  idle_timer_ = 0;
  reactor_->buffers().give(std::move(writing_));
  writing_off_ = 0;
  decoder_ = frame_decoder(options_.max_frame);
}

void messaging_client::close_locked(const std::string& reason) {
  fd_.reset();  // under the lock: a caller writing while connected holds it
  if (state_ != state::closed) {
    std::string why = reason;
    if (queued_bytes_ > 0) why += " (" + std::to_string(queued_bytes_.load()) + " queued bytes dropped)";
    state_ = state::closed;
    close_reason_ = std::move(why);
  }
  reactor_->buffers().give(std::move(pending_));
  queued_bytes_ = 0;
  flush_scheduled_ = false;
  read_paused_ = false;
  kernel_full_ = false;
  next_send_direct_ = false;
  cv_.notify_all();
}

void messaging_client::close_on_loop(const std::string& reason) {
  if (!fd_) return;
  release_loop_state();
  std::lock_guard<std::mutex> lock(mutex_);
  close_locked(reason);
  close_batch_ = reactor_->batches_done();  // this batch's number: it is still running
  closed_unseen_ = false;
}

bool messaging_client::close_while_asleep_locked(const std::string& reason) {
  return reactor_->run_while_asleep([&] {
    // The loop is held asleep: this thread may do its part of the close. Not
    // with a task still queued that refers to us (it runs after, on the loop).
    if (!fd_ || tasks_in_flight_.load(std::memory_order_acquire) != 0) return false;
    if (registered_ && !reactor_->forget(this)) return false;
    release_loop_state();
    close_locked(reason);
    closed_unseen_ = true;  // no event of the interrupted wait reaches us: quiescent now
    return true;
  });
}

}  // namespace netcore
