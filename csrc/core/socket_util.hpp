// Small socket helpers shared by the server and the client.
#pragma once

#include <cstdint>
#include <string>

#include "unique_fd.hpp"

namespace netcore {

/// Binds and listens on host:port (port 0 picks a free port), non-blocking.
unique_fd make_listener(const std::string& host, std::uint16_t port, int backlog);

/// The port a bound socket listens on.
std::uint16_t local_port(int fd);

/// Connects a non-blocking socket to host:port, waiting at most `timeout_s`.
/// Throws os_error (e.g. ECONNREFUSED) or timeout_error.
unique_fd connect_with_timeout(const std::string& host, std::uint16_t port, double timeout_s);

/// Disables Nagle's algorithm: frames are batched by the core already.
void set_nodelay(int fd) noexcept;

}  // namespace netcore
