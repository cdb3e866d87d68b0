// memory_profile_demo: RSS checkpoints of the messaging core under three scenarios.
//
//   memory_profile_demo [connections|messages|stability|all] [--json]
//                       [--connections N] [--messages N] [--cycles N]
//
// Per-connection memory is the least-squares slope of server RSS over the
// connection count (checkpoints from 1,000 up), not a difference of two
// readings. The clients live in a forked child process: one process may hold
// only so many descriptors, and it is the server's memory being sized.
// Frames are sent only after connect() has returned, i.e. the connection exists.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/messaging_client.hpp"
#include "core/messaging_server.hpp"
#include "core/unique_fd.hpp"
#include "process_stats.hpp"

namespace {

using netcore::messaging_client;
using netcore::messaging_server;

struct options {
  std::string mode = "all";
  bool json = false;
  std::uint64_t connections = 10000;
  std::uint64_t messages = 100000;
  std::uint64_t cycles = 2000;
};

/// Collects the run's results as text lines and as one JSON object.
class reporter {
 public:
  explicit reporter(bool json) : json_(json) {}
  void heading(const std::string& title) {
    if (!json_) std::printf("\n=== %s ===\n", title.c_str());
  }
  void checkpoint(const std::string& scenario, const std::string& label, std::uint64_t rss, double x = -1) {
    if (!json_) std::printf("[%s] RSS: %.2f MiB\n", label.c_str(), static_cast<double>(rss) / (1024.0 * 1024.0));
    std::string item =
        "{\"scenario\":\"" + scenario + "\",\"label\":\"" + label + "\",\"rss_bytes\":" + std::to_string(rss);
    if (x >= 0) item += ",\"x\":" + std::to_string(static_cast<std::uint64_t>(x));
    checkpoints_.push_back(item + "}");
    std::fflush(stdout);
  }
  void result(const std::string& key, double value, const char* unit) {
    if (!json_) std::printf("%s: %.1f %s\n", key.c_str(), value, unit);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", value);
    results_.push_back("\"" + key + "\":" + buf);
  }
  void finish() const {
    if (!json_) {
      std::printf("\n=== Profiling complete ===\n");
      return;
    }
    std::string out = "{\"checkpoints\":[";
    for (std::size_t i = 0; i < checkpoints_.size(); ++i) out += (i ? "," : "") + checkpoints_[i];
    out += "],\"results\":{";
    for (std::size_t i = 0; i < results_.size(); ++i) out += (i ? "," : "") + results_[i];
    out += "}}";
    std::printf("%s\n", out.c_str());
  }

 private:
  bool json_;
  std::vector<std::string> checkpoints_;
  std::vector<std::string> results_;
};

// --- line protocol between the server (parent) and the client process (child) ---

void write_line(int fd, const std::string& line) {
  const std::string msg = line + "\n";
  std::size_t off = 0;
  while (off < msg.size()) {
    const ssize_t n = ::write(fd, msg.data() + off, msg.size() - off);
    if (n <= 0) throw std::runtime_error("control channel write failed");
    off += static_cast<std::size_t>(n);
  }
}

std::string read_line(int fd) {
  std::string line;
  char c = 0;
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) throw std::runtime_error("control channel closed (client process died?)");
    if (c == '\n') return line;
    line.push_back(c);
  }
}

/// The client process: obeys "connect N" (grow to N clients), "close", "exit".
[[noreturn]] void client_process(int control, std::uint16_t port) {
  int status = 0;
  try {
    std::vector<std::unique_ptr<messaging_client>> clients;
    for (;;) {
      const std::string cmd = read_line(control);
      if (cmd.rfind("connect ", 0) == 0) {
        const auto target = std::stoull(cmd.substr(8));
        while (clients.size() < target) {
          auto c =
              std::make_unique<messaging_client>("client-" + std::to_string(clients.size()), netcore::client_options{});
          c->connect("127.0.0.1", port, 10.0);
          clients.push_back(std::move(c));
        }
        write_line(control, "ok " + std::to_string(demo::current_rss()));
      } else if (cmd == "close") {
        for (auto& c : clients) c->disconnect(5.0);
        clients.clear();
        write_line(control, "ok " + std::to_string(demo::current_rss()));
      } else {
        break;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "client process: %s\n", e.what());
    status = 1;
  }
  std::_Exit(status);
}

void profile_connections(const options& opt, reporter& out) {
  out.heading("Connection memory (server process; clients in a child process)");
  std::vector<std::uint64_t> steps;
  for (std::uint64_t s : {std::uint64_t{100}, std::uint64_t{1000}, opt.connections}) {
    if (s <= opt.connections && (steps.empty() || s > steps.back())) steps.push_back(s);
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw std::runtime_error("socketpair failed");
  netcore::unique_fd parent_end(pair[0]);
  netcore::unique_fd child_end(pair[1]);

  const std::uint64_t before = demo::current_rss();
  out.checkpoint("connections", "Before server start", before);
  // Fork before any thread exists in this process: the child gets a clean copy.
  messaging_server server("profile-server", netcore::server_options{});
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    parent_end.reset();
    // The child waits for the port the parent's server will bind.
    const auto port = static_cast<std::uint16_t>(std::stoul(read_line(child_end.get())));
    client_process(child_end.get(), port);
  }
  child_end.reset();
  const std::uint16_t port = server.start("127.0.0.1", 0);
  write_line(parent_end.get(), std::to_string(port));
  out.checkpoint("connections", "After server start (0 connections)", demo::current_rss(), 0);

  std::vector<double> xs, server_rss, client_rss, slab;
  for (const auto n : steps) {
    write_line(parent_end.get(), "connect " + std::to_string(n));
    const std::string reply = read_line(parent_end.get());
    if (!server.wait_for(-1, static_cast<std::int64_t>(n), 30.0)) {
      throw std::runtime_error("server saw " + std::to_string(server.stats().sessions) + " sessions, expected " +
                               std::to_string(n));
    }
    const std::uint64_t rss = demo::current_rss();
    out.checkpoint("connections", "After " + std::to_string(n) + " connections", rss, static_cast<double>(n));
    if (n >= 1000 || steps.size() < 3) {
      xs.push_back(static_cast<double>(n));
      server_rss.push_back(static_cast<double>(rss));
      client_rss.push_back(std::stod(reply.substr(3)));
      slab.push_back(static_cast<double>(demo::system_slab()));
    }
  }
  write_line(parent_end.get(), "close");
  read_line(parent_end.get());
  server.wait_for(-1, 0, 30.0);
  out.checkpoint("connections", "After cleanup", demo::current_rss(), 0);
  write_line(parent_end.get(), "exit");
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("client process failed");
  out.result("server_bytes_per_connection", demo::slope(xs, server_rss), "B (slope of server RSS)");
  out.result("client_bytes_per_connection", demo::slope(xs, client_rss), "B (slope of client-process RSS)");
  // Both ends of every connection are on this host: the slope covers a client and a server socket.
  out.result("kernel_slab_bytes_per_connection", demo::slope(xs, slab),
             "B (slope of system-wide kernel slab, both ends; not in any RSS)");
}

void profile_messages(const options& opt, reporter& out) {
  out.heading("Message memory (1 KiB frames, one client)");
  messaging_server server("profile-server", netcore::server_options{});
  const std::uint16_t port = server.start("127.0.0.1", 0);
  messaging_client client("profile-client", netcore::client_options{});
  client.connect("127.0.0.1", port, 10.0);  // returns only once connected
  const std::string payload(1024, 'x');
  out.checkpoint("messages", "Before messages", demo::current_rss(), 0);
  std::uint64_t peak = 0;
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t step = std::max<std::uint64_t>(1, opt.messages / 10);
  for (std::uint64_t sent = 0; sent < opt.messages;) {
    const std::uint64_t n = std::min(step, opt.messages - sent);
    client.send_repeated(payload.data(), payload.size(), n, 30.0);
    sent += n;
    const std::uint64_t rss = demo::current_rss();
    peak = std::max(peak, rss);
    out.checkpoint("messages", "After " + std::to_string(sent) + " messages queued", rss, static_cast<double>(sent));
  }
  if (!server.wait_for(static_cast<std::int64_t>(opt.messages), -1, 60.0)) {
    throw std::runtime_error("only " + std::to_string(server.stats().messages_received) + " of " +
                             std::to_string(opt.messages) + " frames arrived");
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto st = server.stats();
  if (st.bytes_received != opt.messages * payload.size()) throw std::runtime_error("byte count mismatch");
  client.disconnect(10.0);
  out.checkpoint("messages", "After processing complete", demo::current_rss(), static_cast<double>(opt.messages));
  out.result("frames_per_second", static_cast<double>(opt.messages) / secs, "frames/s");
  out.result("peak_rss_bytes", static_cast<double>(peak), "B");
}

void profile_stability(const options& opt, reporter& out) {
  out.heading("Long-running stability (connect, send, verify, disconnect)");
  messaging_server server("profile-server", netcore::server_options{});
  const std::uint16_t port = server.start("127.0.0.1", 0);
  const std::size_t fds_start = demo::open_fds();
  out.checkpoint("stability", "Start", demo::current_rss(), 0);
  const std::uint64_t warmup = std::max<std::uint64_t>(1, opt.cycles / 10);
  const std::uint64_t every = std::max<std::uint64_t>(1, opt.cycles / 20);
  std::vector<double> xs, ys;
  for (std::uint64_t i = 1; i <= opt.cycles; ++i) {
    messaging_client client("temp-client", netcore::client_options{});
    client.connect("127.0.0.1", port, 10.0);
    client.send("test", 4, 5.0);
    if (!server.wait_for(static_cast<std::int64_t>(i), -1, 10.0)) throw std::runtime_error("frame not delivered");
    client.disconnect(5.0);
    if (!server.wait_for(-1, 0, 10.0)) throw std::runtime_error("server session not closed");
    if (i % every == 0) {
      const std::uint64_t rss = demo::current_rss();
      out.checkpoint("stability", "After " + std::to_string(i) + " cycles", rss, static_cast<double>(i));
      if (i > warmup) {
        xs.push_back(static_cast<double>(i));
        ys.push_back(static_cast<double>(rss));
      }
    }
  }
  const double per_cycle = demo::slope(xs, ys);
  out.result("rss_bytes_per_cycle_after_warmup", per_cycle, "B/cycle");
  out.result("fd_delta", static_cast<double>(demo::open_fds()) - static_cast<double>(fds_start), "fds");
  out.result("sessions_at_end", static_cast<double>(server.stats().sessions), "sessions");
}

[[noreturn]] void usage(const char* argv0, int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: %s [connections|messages|stability|all] [--json] [--connections N] [--messages N] "
               "[--cycles N]\n",
               argv0);
  std::exit(code);
}

options parse(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto number = [&](const char* name) -> std::uint64_t {
      if (i + 1 >= argc) usage(argv[0], 2);
      char* end = nullptr;
      const auto v = std::strtoull(argv[++i], &end, 10);
      if (*end != '\0' || v == 0) {
        std::fprintf(stderr, "%s: %s needs a positive integer\n", argv[0], name);
        std::exit(2);
      }
      return v;
    };
    if (a == "--json")
      opt.json = true;
    else if (a == "--connections")
      opt.connections = number("--connections");
    else if (a == "--messages")
      opt.messages = number("--messages");
    else if (a == "--cycles")
      opt.cycles = number("--cycles");
    else if (a == "-h" || a == "--help")
      usage(argv[0], 0);
    else if (a == "connections" || a == "messages" || a == "stability" || a == "all")
      opt.mode = a;
    else {
      std::fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], a.c_str());
      usage(argv[0], 2);
    }
  }
  return opt;
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse(argc, argv);
  reporter out(opt.json);
  try {
    const auto limit = demo::raise_fd_limit();
    if (opt.connections + 64 > limit) {
      throw std::runtime_error("--connections " + std::to_string(opt.connections) +
                               " needs more descriptors than the limit " + std::to_string(limit));
    }
    if (opt.mode == "connections" || opt.mode == "all") profile_connections(opt, out);
    if (opt.mode == "messages" || opt.mode == "all") profile_messages(opt, out);
    if (opt.mode == "stability" || opt.mode == "all") profile_stability(opt, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memory_profile_demo: error: %s\n", e.what());
    return 1;
  }
  out.finish();
  return 0;
}
