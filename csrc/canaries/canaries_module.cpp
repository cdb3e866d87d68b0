// pyharness._canaries: deliberate defects, one per function, for the self-test.
//
// Every detector in the matrix is proven on a defect it must catch. Each canary
// is written so that the optimiser (release or debugoptimized) cannot delete or
// constant-fold the defect away: results escape through volatile objects or an
// opaque global, and inputs come from the caller. The messaging core never links
// this module; only the self-test and the parser captures import it.
//
// Raw new/delete and uninitialised reads are the point here, against STYLE rule 7.
#include <pybind11/pybind11.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

namespace py = pybind11;
using namespace pybind11::literals;

namespace canaries {

// Written and then overwritten: the store makes the allocation observable, the
// overwrite loses the only pointer to it, so leak checkers see a definite leak.
void* volatile leak_escape = nullptr;

// Written only on one side of uninitialised_branch()'s branch.
volatile int uninit_sink = 0;

// Keeps what grow() allocated: reachable, so it is growth, not a leak.
std::vector<std::unique_ptr<char[]>>& grown() {
  static std::vector<std::unique_ptr<char[]>> blocks;
  return blocks;
}

/// Allocate nbytes, touch them, and lose the pointer (a definite leak).
void leak(std::size_t nbytes) {
  auto* block = static_cast<char*>(std::malloc(nbytes == 0 ? 1 : nbytes));
  if (block == nullptr) throw std::bad_alloc();
  for (std::size_t i = 0; i < nbytes; i += 64) block[i] = static_cast<char>(i);
  leak_escape = block;
  leak_escape = nullptr;
}

/// Read one element past the end of a heap array.
int heap_overflow_read() {
  auto* array = new int[8];
  for (int i = 0; i < 8; ++i) array[i] = i;
  // Through a volatile pointer and index: the compiler can neither fold the read
  // away nor let UBSan's object-size check (which knows new[]'s size) report it
  // before ASan does; the defect must reach ASan as a heap-buffer-overflow.
  int* volatile view = array;
  volatile std::size_t index = 8;
  const int value = view[index];
  delete[] array;
  return value;
}

/// Read a heap object after it was freed.
int use_after_free() {
  auto* array = new int[8];
  for (int i = 0; i < 8; ++i) array[i] = i * 3;
  int* volatile dangling = array;  // volatile: keep the read after delete from being reordered or removed
  delete[] array;
  return dangling[2];
}

/// Branch on heap memory that was never written.
int uninitialised_branch() {
  // malloc, not new int[]: value-initialisation must not sneak in.
  auto* cell = static_cast<int*>(std::malloc(sizeof(int) * 4));
  if (cell == nullptr) throw std::bad_alloc();
  int* volatile view = cell;  // volatile: the load cannot be proven undefined and dropped
  // The branch guards a volatile store, so the optimiser must emit a real
  // conditional jump here (a cmov or setcc would carry the undefined value
  // silently into the interpreter, and memcheck would blame libpython).
  if (view[1] > 42) uninit_sink = 1;
  std::free(cell);
  return 0;
}

/// x + INT_MAX: a signed overflow for any positive x (UBSan signed-integer-overflow).
int signed_overflow(int x) {
  volatile int big = INT_MAX;  // volatile: no constant folding, no "x > 0" reasoning
  return x + big;
}

// The race canary's counter, a plain long: both threads read-modify-write it.
long race_counter = 0;
// Through this volatile pointer: reloaded every iteration, so the compiler can
// neither keep the counter in a register nor fold the loop into one addition;
// every increment is a real load and store of race_counter.
long* volatile race_target = &race_counter;

/// One side of the race: `rounds` unsynchronised increments.
void race_worker(long rounds) {
  for (long i = 0; i < rounds; ++i) *race_target = *race_target + 1;
}

/// Two threads each add 1 to one plain (non-atomic) global `iterations`
/// times, with the GIL released: a data race ThreadSanitizer must report.
/// Both threads are joined before it returns the count (less than
/// 2 * iterations when increments were lost).
long race(long iterations) {
  race_counter = 0;
  {
    py::gil_scoped_release no_gil;  // under the GIL the threads could not overlap
    std::thread first(race_worker, iterations);
    std::thread second(race_worker, iterations);
    first.join();
    second.join();
  }
  return race_counter;
}

/// Keep nbytes more per call: per-cycle growth that only an RSS slope sees.
std::size_t grow(std::size_t nbytes) {
  auto block = std::make_unique<char[]>(nbytes == 0 ? 1 : nbytes);
  for (std::size_t i = 0; i < nbytes; i += 4096) block[i] = 1;  // touch every page so RSS grows
  grown().push_back(std::move(block));
  return grown().size();
}

/// Correct work of the same shape: allocate, use, free. Must give no finding anywhere.
std::uint64_t clean() {
  std::vector<std::uint64_t> values(64);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = i * i;
    sum += values[i];
  }
  auto owned = std::make_unique<int[]>(16);
  owned[15] = static_cast<int>(sum & 0xff);
  return sum + static_cast<std::uint64_t>(owned[15]);
}

}  // namespace canaries

// The explicit option keeps -Wpedantic happy (the macro is variadic); it is the default.
PYBIND11_MODULE(_canaries, m, py::multiple_interpreters::not_supported()) {
  m.doc() = "Deliberate defects for the self-test: each function is one defect a tool must catch.";
  m.def("leak", &canaries::leak, "nbytes"_a, "Allocate nbytes and lose the pointer (definite leak).");
  m.def("heap_overflow_read", &canaries::heap_overflow_read, "Read one int past a heap array.");
  m.def("use_after_free", &canaries::use_after_free, "Read a heap array after delete[].");
  m.def("uninitialised_branch", &canaries::uninitialised_branch, "Branch on uninitialised heap memory.");
  m.def("signed_overflow", &canaries::signed_overflow, "x"_a, "Return x + INT_MAX (signed overflow for x > 0).");
  m.def("grow", &canaries::grow, "nbytes"_a, "Keep nbytes more per call; return the number of blocks held.");
  m.def("grown_blocks", []() { return canaries::grown().size(); }, "How many blocks grow() holds.");
  m.def("race", &canaries::race, "iterations"_a,
        "Two threads increment one plain global with the GIL released (a data race); return the count.");
  m.def("clean", &canaries::clean, "Correct work of the same shape as the defects.");
}
