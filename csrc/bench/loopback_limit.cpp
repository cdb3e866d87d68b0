// loopback_limit: the kernel's own rate for 1 KiB writes over loopback, the
// benchmark's reference row. No framing, no reactor, no queue: a blocking
// sender and a blocking receiver, each in its own process, as every peer of
// the benchmark is.
//
//   loopback_limit receive --count N [--size S] [--timeout SECONDS]
//   loopback_limit send --port P --count N [--size S] [--batch K]
//
// `receive` listens on 127.0.0.1 and an ephemeral port, prints
// {"port": P, "pid": N}, accepts one connection and reads it until N x S bytes
// arrived, then prints {"ok": true, "t": T, "messages": N, "bytes": B}: T is
// CLOCK_MONOTONIC (Python's time.monotonic) when the last byte was read.
// `send` connects, prints {"ready": true, "pid": N}, waits for one line on
// stdin (the go signal, so the caller can sample the process first), then
// writes N messages of S bytes, K per call (1: one write(2) per message;
// more: one writev(2) of K buffers, all the same payload), and prints {"t0": T0, "sent": N}.
// Both set TCP_NODELAY, as the core and asyncio do. Exit 0 on success, 1 on
// a failure (said on stderr), 2 on a usage error.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/unique_fd.hpp"

namespace {

using netcore::unique_fd;

/// Bytes per recv: the reactor's shared read buffer is this size too.
constexpr std::size_t read_buffer_size = 256 * 1024;
/// Largest message: one write stays one syscall's worth of a frame.
constexpr std::size_t max_message_size = 16 * 1024 * 1024;
/// Buffers per writev (IOV_MAX on Linux).
constexpr std::size_t max_batch = 1024;
/// Bytes of one writev at most.
constexpr std::size_t max_batch_bytes = 64 * 1024 * 1024;
constexpr double default_timeout_s = 60.0;

/// A failed system call, with its errno text.
std::runtime_error sys_error(const std::string& what) { return std::runtime_error(what + ": " + std::strerror(errno)); }

/// A usage error: the command line is wrong.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

double monotonic_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// The command line.
struct options {
  std::string mode;
  std::uint16_t port = 0;
  std::uint64_t count = 0;
  std::size_t size = 1024;
  std::size_t batch = 1;
  double timeout_s = default_timeout_s;
};

std::uint64_t number(const char* flag, const char* text, std::uint64_t lo, std::uint64_t hi) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
    throw usage_error(std::string(flag) + " wants a whole number in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "], got '" + text + "'");
  }
  return v;
}

options parse(int argc, char** argv) {
  if (argc < 2) throw usage_error("missing mode (receive or send)");
  options o;
  o.mode = argv[1];
  if (o.mode != "receive" && o.mode != "send") throw usage_error("unknown mode '" + o.mode + "'");
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw usage_error(flag + " needs a value");
    const char* value = argv[i + 1];
    if (flag == "--port") {
      o.port = static_cast<std::uint16_t>(number("--port", value, 1, 65535));
    } else if (flag == "--count") {
      o.count = number("--count", value, 1, UINT64_MAX / max_message_size);
    } else if (flag == "--size") {
      o.size = number("--size", value, 1, max_message_size);
    } else if (flag == "--batch") {
      o.batch = number("--batch", value, 1, max_batch);
    } else if (flag == "--timeout") {
      o.timeout_s = static_cast<double>(number("--timeout", value, 1, 24 * 3600));
    } else {
      throw usage_error("unknown option " + flag);
    }
  }
  if (o.count == 0) throw usage_error("--count is required");
  if (o.mode == "send" && o.port == 0) throw usage_error("send needs --port");
  if (o.size * o.batch > max_batch_bytes) throw usage_error("--size x --batch is above 64 MiB");
  return o;
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

void set_nodelay(int fd) {
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) throw sys_error("setsockopt(TCP_NODELAY)");
}

/// Blocks until `fd` is readable or `timeout_s` passed (then throws).
void wait_readable(int fd, double timeout_s, const char* what) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, static_cast<int>(timeout_s * 1000));
    if (rc > 0) return;
    if (rc == 0) throw std::runtime_error(std::string(what) + ": nothing within " + std::to_string(timeout_s) + " s");
    if (errno != EINTR) throw sys_error("poll");
  }
}

int receive(const options& o) {
  unique_fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) throw sys_error("socket");
  sockaddr_in addr = loopback(0);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw sys_error("bind");
  if (::listen(listener.get(), 1) != 0) throw sys_error("listen");
  socklen_t len = sizeof addr;
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw sys_error("getsockname");
  std::printf("{\"port\": %u, \"pid\": %d}\n", static_cast<unsigned>(ntohs(addr.sin_port)),
              static_cast<int>(::getpid()));
  std::fflush(stdout);

  wait_readable(listener.get(), o.timeout_s, "accept");
  unique_fd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) throw sys_error("accept");
  set_nodelay(conn.get());
  listener.reset();
  const timeval tv{static_cast<time_t>(o.timeout_s), 0};
  if (::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
    throw sys_error("setsockopt(SO_RCVTIMEO)");

  std::vector<char> buf(read_buffer_size);
  const std::uint64_t want = o.count * o.size;
  std::uint64_t got = 0;
  while (got < want) {
    const ssize_t n = ::recv(conn.get(), buf.data(), buf.size(), 0);
    if (n > 0) {
      got += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) break;  // the sender closed early: reported below, not a number
    throw sys_error("recv");
  }
  const double t = monotonic_s();
  std::printf("{\"ok\": %s, \"t\": %.9f, \"messages\": %llu, \"bytes\": %llu}\n", got == want ? "true" : "false", t,
              static_cast<unsigned long long>(got / o.size), static_cast<unsigned long long>(got));
  std::fflush(stdout);
  return got == want ? 0 : 1;
}

int send(const options& o) {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw sys_error("socket");
  set_nodelay(fd.get());
  const sockaddr_in addr = loopback(o.port);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) throw sys_error("connect");
  std::printf("{\"ready\": true, \"pid\": %d}\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  char go[256];
  if (std::fgets(go, sizeof go, stdin) == nullptr) throw std::runtime_error("stdin closed before the go signal");

  // One payload, its address repeated K times in the vector: the kernel copies
  // from one hot buffer, as fast as it can (a queue's distinct buffers would
  // add their own cache misses).
  std::vector<char> payload(o.size, '\xa5');
  std::vector<iovec> iov(o.batch);
  const double t0 = monotonic_s();
  std::uint64_t sent = 0;
  while (sent < o.count) {
    const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(o.batch, o.count - sent));
    std::size_t left = k * o.size;
    std::size_t off = 0;  // bytes of this batch written
    while (left > 0) {
      ssize_t n;
      if (k == 1) {
        n = ::write(fd.get(), payload.data() + off, left);
      } else {
        // Rebuild the vector from where the last short write stopped.
        std::size_t skip = off % o.size;
        std::size_t m = 0;
        for (std::size_t i = off / o.size; i < k; ++i, skip = 0, ++m) {
          iov[m] = {payload.data() + skip, o.size - skip};
        }
        n = ::writev(fd.get(), iov.data(), static_cast<int>(m));
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        throw sys_error("write");
      }
      off += static_cast<std::size_t>(n);
      left -= static_cast<std::size_t>(n);
    }
    sent += k;
  }
  std::printf("{\"t0\": %.9f, \"sent\": %llu}\n", t0, static_cast<unsigned long long>(sent));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const options o = parse(argc, argv);
    return o.mode == "receive" ? receive(o) : send(o);
  } catch (const usage_error& e) {
    std::fprintf(stderr,
                 "loopback_limit: %s\nusage: loopback_limit receive|send [--port P] --count N [--size S] "
                 "[--batch K] [--timeout S]\n",
                 e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loopback_limit: error: %s\n", e.what());
    return 1;
  }
}
