// Reading this process's memory and descriptor counts from /proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace demo {

/// Resident set size in bytes (/proc/self/statm, second field).
std::uint64_t current_rss();

/// The kernel's slab memory, system-wide (/proc/meminfo "Slab"): socket
/// structures live there, outside every process's RSS.
std::uint64_t system_slab();

/// Open file descriptors (entries of /proc/self/fd).
std::size_t open_fds();

/// Raises the soft descriptor limit to the hard limit; returns the new soft limit.
std::uint64_t raise_fd_limit();

/// Least-squares slope of y over x (0 when fewer than two distinct x).
double slope(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace demo
