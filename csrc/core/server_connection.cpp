#include "server_connection.hpp"

#include <sys/socket.h>

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
  if (events & (EPOLLERR)) {
    close();
    return;
  }
  if (events & EPOLLOUT) handle_write();
  const bool readable = (interest_ & EPOLLIN) && (events & (EPOLLIN | EPOLLRDHUP));
  if (fd_ && (readable || (events & EPOLLHUP))) handle_read();
}

void server_connection::handle_read() {
  char* buf = owner_.loop().read_buffer();
  for (int i = 0; i < reads_per_event && fd_ && !peer_done_; ++i) {
    const ssize_t n = ::recv(fd_.get(), buf, reactor::read_buffer_size, 0);
    if (n > 0) {
      consume(buf, static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < reactor::read_buffer_size) break;
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
  if (out_off_ < out_.size()) handle_write();
  if (fd_ && peer_done_ && out_off_ >= out_.size()) close();
}

void server_connection::consume(const char* data, std::size_t size) {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  const bool echo = owner_.echo();
  while (size > 0) {
    const auto r = decoder_.next(data, size);
    data += r.consumed;
    size -= r.consumed;
    if (r.what == frame_decoder::status::frame) {
      ++frames;
      bytes += r.size;
      if (echo) {
        char header[frame_header_size];
        encode_frame_header(static_cast<std::uint32_t>(r.size), header);
        out_.insert(out_.end(), header, header + frame_header_size);
        out_.insert(out_.end(), r.data, r.data + r.size);
      }
    } else if (r.what == frame_decoder::status::too_long) {
      if (frames) owner_.on_frames(frames, bytes);
      owner_.on_protocol_error();
      close();
      return;
    }
  }
  decoder_.trim();
  if (frames) {
    owner_.on_frames(frames, bytes);
    if (echo) owner_.on_echoed(frames, bytes);
  }
}

void server_connection::handle_write() {
  while (out_off_ < out_.size()) {
    const ssize_t n = ::send(fd_.get(), out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
    if (n > 0) {
      out_off_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    close();
    return;
  }
  const std::size_t pending = out_.size() - out_off_;
  if (pending == 0) {
    std::vector<char>().swap(out_);  // idle connections own no buffer
    out_off_ = 0;
    if (peer_done_) {
      close();
      return;
    }
  }
  // Backpressure: stop reading while the peer is not taking our echoes.
  const std::size_t high = owner_.write_high_water();
  std::uint32_t want = 0;
  if (pending > 0) want |= EPOLLOUT;
  const bool paused = pending > high || ((interest_ & EPOLLIN) == 0 && pending > high / 2);
  if (!paused && !peer_done_) want |= EPOLLIN | EPOLLRDHUP;
  if (paused && (interest_ & EPOLLIN)) owner_.on_read_paused();
  set_interest(want);
}

void server_connection::close() {
  if (!fd_) return;
  const int fd = fd_.get();
  owner_.loop().remove(fd);
  fd_.reset();
  std::vector<char>().swap(out_);
  out_off_ = 0;
  owner_.on_closed(fd);
}

}  // namespace netcore
