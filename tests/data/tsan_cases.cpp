// Thread defects ThreadSanitizer reports besides a data race, one per case, for
// the tsan parser's captures (tests/data/capture_tool_outputs.py builds and runs
// this with -fsanitize=thread). Not part of the project: the race canary lives in
// pyharness._canaries; these need no Python and must not be importable.
//
//   tsan_cases lock_order     two mutexes taken in both orders (a potential deadlock)
//   tsan_cases thread_leak    a joinable thread that finishes and is never joined
//   tsan_cases signal_unsafe  malloc called inside a signal handler
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace {

std::mutex first_mutex;
std::mutex second_mutex;
void* volatile sink = nullptr;  // keeps the handler's allocation from being optimised away

// One thread takes first then second, a later one second then first. They never
// overlap (joined in turn), so nothing deadlocks: TSan reports the inverted order.
int lock_order() {
  std::thread forward([] {
    std::lock_guard<std::mutex> a(first_mutex);
    std::lock_guard<std::mutex> b(second_mutex);
  });
  forward.join();
  std::thread backward([] {
    std::lock_guard<std::mutex> b(second_mutex);
    std::lock_guard<std::mutex> a(first_mutex);
  });
  backward.join();
  return 0;
}

std::atomic<bool> leaked_done{false};

void* leaked_body(void*) {
  leaked_done = true;
  return nullptr;
}

// pthread_create without join or detach: the thread finishes, its resources are never reclaimed.
int thread_leak() {
  pthread_t thread;
  if (pthread_create(&thread, nullptr, leaked_body, nullptr) != 0) return 1;
  while (!leaked_done) std::this_thread::yield();
  return 0;
}

void unsafe_handler(int) {
  sink = std::malloc(64);  // malloc is not async-signal-safe
  std::free(sink);
}

int signal_unsafe() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = unsafe_handler;
  if (sigaction(SIGUSR1, &sa, nullptr) != 0) return 1;
  return std::raise(SIGUSR1) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* which = argc > 1 ? argv[1] : "";
  if (std::strcmp(which, "lock_order") == 0) return lock_order();
  if (std::strcmp(which, "thread_leak") == 0) return thread_leak();
  if (std::strcmp(which, "signal_unsafe") == 0) return signal_unsafe();
  std::fprintf(stderr, "usage: %s lock_order|thread_leak|signal_unsafe\n", argv[0]);
  return 2;
}
