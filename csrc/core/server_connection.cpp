#include "server_connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "connection_owner.hpp"

namespace netcore {

namespace {
/// Reads per readiness event before yielding to other connections (level-triggered).
constexpr int reads_per_event = 4;
}  // namespace

server_connection::server_connection(connection_owner& owner, unique_fd fd, std::uint32_t max_frame)
    : owner_(owner), fd_(std::move(fd)), decoder_(max_frame) {}

void server_connection::start() {
  interest_ = EPOLLIN | EPOLLRDHUP;
  owner_.loop().add(fd_.get(), interest_, this);
}

void server_connection::set_interest(std::uint32_t events) {
  if (events == interest_ || !fd_) return;
  interest_ = events;
  owner_.loop().modify(fd_.get(), events, this);
}

void server_connection::on_events(std::uint32_t events) {
  if (!fd_) return;  // closed earlier in this batch
  if (events & EPOLLERR) {
    close();
    return;
  }
  if (events & EPOLLOUT) handle_write();
  if (!fd_) return;
  if ((interest_ & EPOLLIN) == 0) {
    // Paused by echo backpressure. EPOLLHUP cannot be masked and means the
    // socket takes no more writes either: the echoes can never be delivered.
    if (events & EPOLLHUP) close();
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) handle_read();
}

std::size_t server_connection::read_room() const noexcept {
  if (!owner_.echo()) return reactor::read_buffer_size;
  const std::size_t high = owner_.write_high_water();
  const std::size_t held = out_.size() + decoder_.buffered();
  if (held < high) return std::min(high - held, reactor::read_buffer_size);
  // Out of room: wait for the queue to drain, unless it is empty and the frame
  // being assembled is itself larger than the mark (then read just that frame).
  return out_.empty() ? std::min(decoder_.to_complete(), reactor::read_buffer_size) : 0;
}

void server_connection::handle_read() {
  char* buf = owner_.loop().read_buffer();
  for (int i = 0; i < reads_per_event && fd_ && !peer_done_; ++i) {
    // Never read more than can be echoed within the bound: the rest stays in the kernel.
    const std::size_t want = read_room();
    if (want == 0) break;
    const ssize_t n = ::recv(fd_.get(), buf, want, 0);
    if (n > 0) {
      consume(buf, static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < want) break;
      continue;
    }
    if (n == 0) {
      // Orderly shutdown from the peer: finish writing what is queued, then close.
      peer_done_ = true;
      break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
    close();
    return;
  }
  if (!fd_) return;
  if (!out_.empty()) {
    handle_write();
  } else if (peer_done_) {
    close();
  }
}

void server_connection::report_queue(std::size_t size_before, std::size_t capacity_before) noexcept {
  if (out_.size() == size_before && out_.capacity() == capacity_before) return;
  owner_.on_echo_queue(static_cast<std::uint64_t>(out_.size()) - size_before,
                       static_cast<std::uint64_t>(out_.capacity()) - capacity_before);
}

void server_connection::consume(const char* data, std::size_t size) {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  const bool echo = owner_.echo();
  const std::size_t high = owner_.write_high_water();
  const std::size_t size_before = out_.size();
  const std::size_t capacity_before = out_.capacity();
  // Frames that arrived whole are contiguous in the read, headers included:
  // they are echoed as runs, one copy per run rather than per frame.
  const char* run = data;
  std::size_t run_len = 0;
  bool bad = false;
  while (size > 0) {
    const auto r = decoder_.next(data, size);
    if (r.what == frame_decoder::status::frame) {
      ++frames;
      bytes += r.size;
      if (echo) {
        if (r.consumed == frame_header_size + r.size && r.data == data + frame_header_size) {
          if (run + run_len != data) {
            out_.append(run, run_len, high);
            run = data;
            run_len = 0;
          }
          run_len += r.consumed;
        } else {
          out_.append(run, run_len, high);
          run_len = 0;
          char header[frame_header_size];
          encode_frame_header(static_cast<std::uint32_t>(r.size), header);
          out_.append(header, frame_header_size, high);
          out_.append(r.data, r.size, high);
          run = data + r.consumed;
        }
      }
    } else if (r.what == frame_decoder::status::too_long) {
      bad = true;
      break;
    }
    data += r.consumed;
    size -= r.consumed;
  }
  if (echo) out_.append(run, run_len, high);
  decoder_.trim();
  if (echo) report_queue(size_before, capacity_before);
  if (frames) {
    owner_.on_frames(frames, bytes);
    if (echo) owner_.on_echoed(frames, bytes);
  }
  if (bad) {
    owner_.on_protocol_error();
    close();
  }
}

void server_connection::handle_write() {
  const std::size_t size_before = out_.size();
  const std::size_t capacity_before = out_.capacity();
  while (!out_.empty()) {
    const ssize_t n = ::send(fd_.get(), out_.front(), out_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out_.consume(static_cast<std::size_t>(n));  // frees the buffer once empty: idle owns none
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    report_queue(size_before, capacity_before);
    close();
    return;
  }
  report_queue(size_before, capacity_before);
  const std::size_t pending = out_.size();
  if (pending == 0 && peer_done_) {
    close();
    return;
  }
  // Backpressure: pause reading when the next read would have no room under
  // the mark, resume once the queue is below half of it.
  const std::size_t high = owner_.write_high_water();
  const std::size_t held = pending + decoder_.buffered();
  const bool reading = (interest_ & EPOLLIN) != 0;
  const bool paused = pending > 0 && (reading ? held >= high : held > high / 2);
  std::uint32_t want = 0;
  if (pending > 0) want |= EPOLLOUT;
  if (!paused && !peer_done_) want |= EPOLLIN | EPOLLRDHUP;
  if (paused && reading) owner_.on_read_paused();
  set_interest(want);
}

void server_connection::close() {
  if (!fd_) return;
  const int fd = fd_.get();
  owner_.loop().remove(fd);
  fd_.reset();
  const std::size_t size_before = out_.size();
  const std::size_t capacity_before = out_.capacity();
  out_.release();
  report_queue(size_before, capacity_before);
  owner_.on_closed(fd);
}

}  // namespace netcore
