// Exceptions the core raises; the bindings map each to a Python exception.
#pragma once

#include <stdexcept>
#include <string>

namespace netcore {

/// Base of every error the core reports.
class netcore_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An operation needs a connection that is not (or no longer) there.
class not_connected_error : public netcore_error {
 public:
  using netcore_error::netcore_error;
};

/// A bounded queue is full: the peer is not keeping up.
class backpressure_error : public netcore_error {
 public:
  using netcore_error::netcore_error;
};

/// A blocking call ran out of time.
class timeout_error : public netcore_error {
 public:
  using netcore_error::netcore_error;
};

/// A system call failed; carries errno so callers can map it (e.g. ECONNREFUSED).
class os_error : public netcore_error {
 public:
  /// `what` names the operation; the errno text is appended.
  os_error(int err, const std::string& what);
  /// The errno value.
  int code() const noexcept { return code_; }

 private:
  int code_;
};

}  // namespace netcore
