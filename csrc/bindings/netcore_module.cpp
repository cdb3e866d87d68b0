// pybind11 bindings: pyharness._netcore, the Python face of the messaging core.
//
// Blocking calls release the GIL. The reactor threads never call into Python,
// so nothing here can deadlock on the GIL. Core exceptions map to Python ones:
// os_error -> OSError with errno (so ECONNREFUSED arrives as
// ConnectionRefusedError), timeout_error -> TimeoutError, and the rest to the
// module's NetcoreError family. A std::system_error from the standard library
// (a thread that cannot be started) is an OSError with its errno too.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <cmath>
#include <string>
#include <system_error>

#include "core/errors.hpp"
#include "core/frame_decoder.hpp"
#include "core/messaging_client.hpp"
#include "core/messaging_server.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace {

/// A contiguous read-only view of a bytes-like argument, kept alive for the call.
class byte_view {
 public:
  explicit byte_view(const py::handle& obj) {
    if (PyBytes_Check(obj.ptr())) {
      char* p = nullptr;
      Py_ssize_t n = 0;
      PyBytes_AsStringAndSize(obj.ptr(), &p, &n);
      data_ = p;
      size_ = static_cast<std::size_t>(n);
      return;
    }
    if (PyObject_GetBuffer(obj.ptr(), &buffer_, PyBUF_SIMPLE) != 0) {
      PyErr_Clear();
      throw py::type_error("expected a bytes-like object, got " + std::string(Py_TYPE(obj.ptr())->tp_name));
    }
    held_ = true;
    data_ = static_cast<const char*>(buffer_.buf);
    size_ = static_cast<std::size_t>(buffer_.len);
  }
  byte_view(const byte_view&) = delete;
  byte_view& operator=(const byte_view&) = delete;
  ~byte_view() {
    if (held_) PyBuffer_Release(&buffer_);
  }
  const char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  Py_buffer buffer_{};
  bool held_ = false;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

double check_timeout(double timeout, const char* what) {
  if (std::isnan(timeout) || timeout < 0)
    throw py::value_error(std::string(what) + " must be a non-negative number of seconds");
  return timeout;
}

std::uint16_t check_port(int port) {
  if (port < 0 || port > 65535) throw py::value_error("port must be in 0..65535, got " + std::to_string(port));
  return static_cast<std::uint16_t>(port);
}

std::int64_t optional_count(const py::object& value, const char* what) {
  if (value.is_none()) return -1;
  const auto n = value.cast<std::int64_t>();
  if (n < 0) throw py::value_error(std::string(what) + " must be >= 0");
  return n;
}

py::dict server_stats_dict(const netcore::server_stats& s) {
  return py::dict(
      "sessions"_a = s.sessions, "sessions_total"_a = s.sessions_total, "messages_received"_a = s.messages_received,
      "bytes_received"_a = s.bytes_received, "messages_sent"_a = s.messages_sent, "bytes_sent"_a = s.bytes_sent,
      "protocol_errors"_a = s.protocol_errors, "accept_errors"_a = s.accept_errors, "reads_paused"_a = s.reads_paused,
      "echo_queued_bytes"_a = s.echo_queued_bytes, "echo_buffer_bytes"_a = s.echo_buffer_bytes);
}

const char* state_name(netcore::client_state s) {
  switch (s) {
    case netcore::client_state::idle:
      return "idle";
    case netcore::client_state::connected:
      return "connected";
    case netcore::client_state::closing:
      return "closing";
    case netcore::client_state::closed:
      return "closed";
  }
  return "unknown";
}

py::dict client_stats_dict(const netcore::client_stats& s) {
  return py::dict("messages_sent"_a = s.messages_sent, "bytes_sent"_a = s.bytes_sent,
                  "messages_received"_a = s.messages_received, "bytes_received"_a = s.bytes_received,
                  "queued_bytes"_a = s.queued_bytes, "inbox_frames"_a = s.inbox_frames, "inbox_bytes"_a = s.inbox_bytes,
                  "reads_paused"_a = s.reads_paused, "state"_a = state_name(s.state), "connected"_a = s.connected,
                  "close_reason"_a = s.close_reason);
}

/// The module's exception types, for translate_core_exception.
struct core_error_types {
  py::handle netcore, backpressure, not_connected;
};
core_error_types error_types;

/// Sets the Python error for a core exception; lets any other exception
/// through (pybind11's translator protocol: the next translator tries it).
void translate_core_exception(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const netcore::os_error& e) {
    py::object err = py::module_::import("builtins").attr("OSError")(e.code(), e.what());
    PyErr_SetObject(py::type::handle_of(err).ptr(), err.ptr());
  } catch (const std::system_error& e) {
    py::object err = py::module_::import("builtins").attr("OSError")(e.code().value(), e.what());
    PyErr_SetObject(py::type::handle_of(err).ptr(), err.ptr());
  } catch (const netcore::timeout_error& e) {
    PyErr_SetString(PyExc_TimeoutError, e.what());
  } catch (const netcore::backpressure_error& e) {
    py::set_error(error_types.backpressure, e.what());
  } catch (const netcore::not_connected_error& e) {
    py::set_error(error_types.not_connected, e.what());
  } catch (const netcore::netcore_error& e) {
    py::set_error(error_types.netcore, e.what());
  }
}

/// Sets the Python error for the exception in flight, as pybind11's dispatcher
/// would (for functions that bypass it). Call only inside a catch block.
void set_python_error() noexcept {
  try {
    try {
      translate_core_exception(std::current_exception());
    } catch (py::error_already_set& e) {
      e.restore();
    } catch (const py::builtin_exception& e) {
      e.set_error();
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_NoMemory();
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unexpected C++ exception");
  }
}

/// MessagingClient.send(data, timeout=0.0) as a METH_FASTCALL method. A Python
/// send loop is one call per frame, and pybind11's generic dispatcher (argument
/// loaders, overload resolution) cost about 600 of the ~2,400 instructions per
/// 1 KiB frame measured under callgrind; this parses its two arguments directly.
/// Same arguments, checks and errors as the pybind11 binding it replaces.
PyObject* client_send_fast(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) noexcept {
  PyObject* data = nargs >= 1 ? args[0] : nullptr;
  PyObject* timeout_obj = nargs >= 2 ? args[1] : nullptr;
  if (nargs > 2) {
    PyErr_Format(PyExc_TypeError, "send() takes at most 2 positional arguments (%zd given)", nargs);
    return nullptr;
  }
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < nkw; ++i) {
    PyObject* name = PyTuple_GET_ITEM(kwnames, i);
    PyObject** slot = nullptr;
    if (PyUnicode_CompareWithASCIIString(name, "data") == 0) {
      slot = &data;
    } else if (PyUnicode_CompareWithASCIIString(name, "timeout") == 0) {
      slot = &timeout_obj;
    } else {
      PyErr_Format(PyExc_TypeError, "send() got an unexpected keyword argument '%U'", name);
      return nullptr;
    }
    if (*slot) {
      PyErr_Format(PyExc_TypeError, "send() got multiple values for argument '%U'", name);
      return nullptr;
    }
    *slot = args[nargs + i];
  }
  if (!data) {
    PyErr_SetString(PyExc_TypeError, "send() missing required argument 'data'");
    return nullptr;
  }
  double timeout = 0.0;
  if (timeout_obj) {
    timeout = PyFloat_AsDouble(timeout_obj);
    if (timeout == -1.0 && PyErr_Occurred()) return nullptr;
  }
  try {
    auto& client = py::cast<netcore::messaging_client&>(py::handle(self));
    check_timeout(timeout, "timeout");
    const byte_view view(data);
    if (timeout > 0) {
      py::gil_scoped_release nogil;
      client.send(view.data(), view.size(), timeout);
    } else {
      client.send(view.data(), view.size(), 0);  // never blocks: keep the GIL, skip the handoff
    }
  } catch (...) {
    set_python_error();
    return nullptr;
  }
  Py_RETURN_NONE;
}

}  // namespace

// The explicit option keeps -Wpedantic happy (the macro is variadic); it is the default.
PYBIND11_MODULE(_netcore, m, py::multiple_interpreters::not_supported()) {
  m.doc() = "The C++ TCP messaging core: length-prefixed frames over an epoll reactor.";
  m.attr("DEFAULT_MAX_FRAME") = netcore::default_max_frame;
  m.attr("HEADER_SIZE") = netcore::frame_header_size;

  static py::exception<netcore::netcore_error> netcore_error(m, "NetcoreError");
  static py::exception<netcore::backpressure_error> backpressure_error(m, "BackpressureError", netcore_error.ptr());
  static py::exception<netcore::not_connected_error> not_connected_error(m, "NotConnectedError", netcore_error.ptr());
  static py::exception<netcore::netcore_error> protocol_error(m, "ProtocolError", netcore_error.ptr());
  error_types = {netcore_error, backpressure_error, not_connected_error};
  py::register_exception_translator(translate_core_exception);

  m.def(
      "encode_frame",
      [](const py::object& payload) {
        const byte_view view(payload);
        if (view.size() > UINT32_MAX) throw py::value_error("payload too large for a 4-byte length");
        std::string out(netcore::frame_header_size + view.size(), '\0');
        netcore::encode_frame_header(static_cast<std::uint32_t>(view.size()), out.data());
        if (view.size()) std::memcpy(out.data() + netcore::frame_header_size, view.data(), view.size());
        return py::bytes(out);
      },
      "payload"_a, "Return `payload` with its 4-byte big-endian length prefix.");

  py::class_<netcore::frame_decoder>(m, "FrameDecoder",
                                     "Incremental frame decoder (the one the server uses), for tests and tools.")
      .def(py::init<std::uint32_t>(), "max_frame"_a = netcore::default_max_frame)
      .def(
          "feed",
          [](netcore::frame_decoder& d, const py::object& data) {
            const byte_view view(data);
            py::list frames;
            const char* p = view.data();
            std::size_t left = view.size();
            while (left > 0) {
              const auto r = d.next(p, left);
              p += r.consumed;
              left -= r.consumed;
              if (r.what == netcore::frame_decoder::status::frame) {
                frames.append(py::bytes(r.data, r.size));
              } else if (r.what == netcore::frame_decoder::status::too_long) {
                PyErr_SetString(protocol_error.ptr(), ("frame length " + std::to_string(r.bad_length) +
                                                       " exceeds max_frame " + std::to_string(d.max_frame()))
                                                          .c_str());
                throw py::error_already_set();
              }
            }
            d.trim();  // every frame is copied into a bytes object by now
            return frames;
          },
          "data"_a, "Decode `data` (any slice of the stream); return the frames it completes.")
      .def_property_readonly("mid_frame", &netcore::frame_decoder::mid_frame)
      .def_property_readonly("owned_bytes", &netcore::frame_decoder::owned_bytes);

  py::class_<netcore::messaging_server>(m, "MessagingServer", "A TCP server decoding frames on its own thread.")
      .def(py::init([](std::string name, bool echo, std::uint32_t max_frame, std::size_t write_high_water) {
             netcore::server_options o;
             o.echo = echo;
             o.max_frame = max_frame;
             o.write_high_water = write_high_water;
             return std::make_unique<netcore::messaging_server>(std::move(name), o);
           }),
           "name"_a, py::kw_only(), "echo"_a = false, "max_frame"_a = netcore::default_max_frame,
           "write_high_water"_a = netcore::server_options{}.write_high_water)
      .def(
          "start",
          [](netcore::messaging_server& s, const std::string& host, int port) {
            const auto p = check_port(port);
            py::gil_scoped_release nogil;
            return s.start(host, p);
          },
          "host"_a = "127.0.0.1", "port"_a = 0, "Listen on host:port (0 = any free port); return the bound port.")
      .def("stop", &netcore::messaging_server::stop, py::call_guard<py::gil_scoped_release>(),
           "Close the listener and every connection; join the thread. Idempotent.")
      .def("stats", [](const netcore::messaging_server& s) { return server_stats_dict(s.stats()); })
      .def(
          "wait_for",
          [](netcore::messaging_server& s, const py::object& messages, const py::object& sessions, double timeout) {
            const auto m_ = optional_count(messages, "messages");
            const auto s_ = optional_count(sessions, "sessions");
            check_timeout(timeout, "timeout");
            py::gil_scoped_release nogil;
            return s.wait_for(m_, s_, timeout);
          },
          "messages"_a = py::none(), "sessions"_a = py::none(), "timeout"_a = 10.0,
          "Wait until >= `messages` frames arrived and exactly `sessions` are open; return whether that happened.")
      .def_property_readonly("name", &netcore::messaging_server::name)
      .def_property_readonly("port", &netcore::messaging_server::port)
      .def_property_readonly("running", &netcore::messaging_server::running)
      .def("__enter__", [](netcore::messaging_server& s) -> netcore::messaging_server& { return s; })
      .def("__exit__", [](netcore::messaging_server& s, const py::args&) {
        py::gil_scoped_release nogil;
        s.stop();
      });

  py::class_<netcore::messaging_client>(m, "MessagingClient", "One connection to a server.")
      .def(py::init([](std::string name, std::uint32_t max_frame, std::size_t send_high_water,
                       std::size_t inbox_high_water) {
             netcore::client_options o;
             o.max_frame = max_frame;
             o.send_high_water = send_high_water;
             o.inbox_high_water = inbox_high_water;
             return std::make_unique<netcore::messaging_client>(std::move(name), o);
           }),
           "name"_a, py::kw_only(), "max_frame"_a = netcore::default_max_frame,
           "send_high_water"_a = netcore::client_options{}.send_high_water,
           "inbox_high_water"_a = netcore::client_options{}.inbox_high_water)
      .def(
          "connect",
          [](netcore::messaging_client& c, const std::string& host, int port, double timeout) {
            const auto p = check_port(port);
            check_timeout(timeout, "timeout");
            py::gil_scoped_release nogil;
            c.connect(host, p, timeout);
          },
          "host"_a, "port"_a, "timeout"_a = 5.0, "Connect; return only once connected (raises on failure).")
      .def(
          "send_repeated",
          [](netcore::messaging_client& c, const py::object& data, std::uint64_t count, double timeout) {
            check_timeout(timeout, "timeout");
            const std::string copy = data.cast<py::bytes>();
            py::gil_scoped_release nogil;
            c.send_repeated(copy.data(), copy.size(), count, timeout);
          },
          "data"_a, "count"_a, "timeout"_a = 10.0,
          "Queue `count` copies of one frame from C++, waiting for queue room (core-driven sending).")
      .def(
          "flush",
          [](netcore::messaging_client& c, double timeout) {
            check_timeout(timeout, "timeout");
            py::gil_scoped_release nogil;
            c.flush(timeout);
          },
          "timeout"_a = 10.0, "Wait until every queued byte is handed to the kernel.")
      .def(
          "recv",
          [](netcore::messaging_client& c, double timeout) {
            check_timeout(timeout, "timeout");
            std::string frame;
            {
              py::gil_scoped_release nogil;
              frame = c.receive(timeout);
            }
            return py::bytes(frame);
          },
          "timeout"_a = 5.0, "Return the next received frame (echo mode); raises TimeoutError.")
      .def(
          "disconnect",
          [](netcore::messaging_client& c, double timeout) {
            check_timeout(timeout, "timeout");
            py::gil_scoped_release nogil;
            c.disconnect(timeout);
          },
          "timeout"_a = 5.0,
          "Graceful close: hand every queued byte to the kernel, then close (the peer reads all, then EOF).")
      .def("abort", &netcore::messaging_client::abort, py::call_guard<py::gil_scoped_release>(),
           "Close at once, dropping anything queued.")
      .def("stats", [](const netcore::messaging_client& c) { return client_stats_dict(c.stats()); })
      .def_property_readonly("name", &netcore::messaging_client::name)
      .def_property_readonly("connected", [](const netcore::messaging_client& c) { return c.stats().connected; });

  static PyMethodDef send_def = {
      "send", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&client_send_fast)),
      METH_FASTCALL | METH_KEYWORDS,
      "send(data, timeout=0.0)\n--\n\nQueue one frame. A full queue raises BackpressureError (after waiting "
      "`timeout` s if > 0)."};
  py::object client_type = m.attr("MessagingClient");
  py::object send_method = py::reinterpret_steal<py::object>(
      PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(client_type.ptr()), &send_def));
  if (!send_method) throw py::error_already_set();
  client_type.attr("send") = send_method;
}
