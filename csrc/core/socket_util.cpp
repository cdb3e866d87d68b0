#include "socket_util.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include "errors.hpp"

namespace netcore {

os_error::os_error(int err, const std::string& what) : netcore_error(what + ": " + std::strerror(err)), code_(err) {}

namespace {

struct addrinfo_deleter {
  void operator()(addrinfo* ai) const noexcept { ::freeaddrinfo(ai); }
};
using addrinfo_ptr = std::unique_ptr<addrinfo, addrinfo_deleter>;

addrinfo_ptr resolve(const std::string& host, std::uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* out = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &out);
  if (rc != 0) throw netcore_error("cannot resolve host '" + host + "': " + ::gai_strerror(rc));
  return addrinfo_ptr(out);
}

std::string endpoint(const std::string& host, std::uint16_t port) { return host + ":" + std::to_string(port); }

}  // namespace

void set_nodelay(int fd) noexcept {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

unique_fd make_listener(const std::string& host, std::uint16_t port, int backlog) {
  const auto ai = resolve(host, port, true);
  unique_fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd) throw os_error(errno, "socket");
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) throw os_error(errno, "bind " + endpoint(host, port));
  if (::listen(fd.get(), backlog) != 0) throw os_error(errno, "listen " + endpoint(host, port));
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) throw os_error(errno, "getsockname");
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

unique_fd connect_with_timeout(const std::string& host, std::uint16_t port, double timeout_s) {
  const auto ai = resolve(host, port, false);
  unique_fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd) throw os_error(errno, "socket");
  set_nodelay(fd.get());
  if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) return fd;
  if (errno != EINPROGRESS) throw os_error(errno, "connect " + endpoint(host, port));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 && timeout_s >= 0) {
      throw timeout_error("connect " + endpoint(host, port) + " timed out after " + std::to_string(timeout_s) + " s");
    }
    pollfd p{fd.get(), POLLOUT, 0};
    const int rc = ::poll(&p, 1, timeout_s < 0 ? -1 : static_cast<int>(left.count()) + 1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw os_error(errno, "poll");
    }
    if (rc == 0) continue;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) throw os_error(err, "connect " + endpoint(host, port));
    return fd;
  }
}

}  // namespace netcore
