// pyharness._canaries: deliberate defects, one per function, for the self-test.
//
// Every detector in the matrix is proven on a defect it must catch. Each canary
// is written so that the optimiser (release or debugoptimized) cannot delete or
// constant-fold the defect away: results escape through volatile objects or an
// opaque global, and inputs come from the caller. The messaging core never links
// this module; only the self-test and the parser captures import it.
//
// Bound with CPython's C API, not pybind11: the module is rebuilt in every variant
// the self-test runs, and its pybind11 binding cost more to compile than the rest of
// it (measured, gcc 12, -O1 ASan+UBSan: 15.3 s for this file with pybind11). What the
// self-test proves of pybind11 frames (attribution below the dispatcher) the core's
// own mutants prove, in the core's own bindings.
//
// Raw new/delete and uninitialised reads are the point here, against STYLE rule 7.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <thread>
#include <vector>

namespace canaries {

// Each canary stays a function of its own, as a call through pybind11's dispatcher kept
// it: inlined into its binding, Valgrind and heaptrack name the inlined frame without its
// namespace (`leak`, measured), and the reports should name `canaries::leak(unsigned long)`.
#define NOT_INLINED [[gnu::noinline]]

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
NOT_INLINED void leak(std::size_t nbytes) {
  auto* block = static_cast<char*>(std::malloc(nbytes == 0 ? 1 : nbytes));
  if (block == nullptr) throw std::bad_alloc();
  for (std::size_t i = 0; i < nbytes; i += 64) block[i] = static_cast<char>(i);
  leak_escape = block;
  leak_escape = nullptr;
}

/// Read one element past the end of a heap array.
NOT_INLINED int heap_overflow_read() {
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
NOT_INLINED int use_after_free() {
  auto* array = new int[8];
  for (int i = 0; i < 8; ++i) array[i] = i * 3;
  int* volatile dangling = array;  // volatile: keep the read after delete from being reordered or removed
  delete[] array;
  return dangling[2];
}

/// Branch on heap memory that was never written.
NOT_INLINED int uninitialised_branch() {
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
NOT_INLINED int signed_overflow(int x) {
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
/// times (its binding releases the GIL): a data race ThreadSanitizer must report.
/// Both threads are joined before it returns the count (less than
/// 2 * iterations when increments were lost).
NOT_INLINED long race(long iterations) {
  race_counter = 0;
  std::thread first(race_worker, iterations);
  std::thread second(race_worker, iterations);
  first.join();
  second.join();
  return race_counter;
}

/// Keep nbytes more per call: per-cycle growth that only an RSS slope sees.
NOT_INLINED std::size_t grow(std::size_t nbytes) {
  auto block = std::make_unique<char[]>(nbytes == 0 ? 1 : nbytes);
  for (std::size_t i = 0; i < nbytes; i += 4096) block[i] = 1;  // touch every page so RSS grows
  grown().push_back(std::move(block));
  return grown().size();
}

/// Correct work of the same shape: allocate, use, free. Must give no finding anywhere.
NOT_INLINED std::uint64_t clean() {
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

// --- the Python bindings --------------------------------------------------------
// Each binding converts its arguments, calls one canary, and turns a C++ exception
// into a Python one: none may cross into the interpreter.

PyObject* raise_current() {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return PyErr_NoMemory();
  } catch (const std::exception& err) {
    PyErr_SetString(PyExc_RuntimeError, err.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "a canary threw a non-standard exception");
  }
  return nullptr;
}

bool size_arg(PyObject* arg, std::size_t& out) {
  const Py_ssize_t value = PyLong_AsSsize_t(arg);  // a non-int argument raises TypeError
  if (value == -1 && PyErr_Occurred()) return false;
  if (value < 0) {
    PyErr_SetString(PyExc_ValueError, "nbytes must not be negative");
    return false;
  }
  out = static_cast<std::size_t>(value);
  return true;
}

PyObject* py_leak(PyObject*, PyObject* nbytes) try {
  std::size_t n = 0;
  if (!size_arg(nbytes, n)) return nullptr;
  leak(n);
  Py_RETURN_NONE;
} catch (...) {
  return raise_current();
}

PyObject* py_heap_overflow_read(PyObject*, PyObject*) try {
  return PyLong_FromLong(heap_overflow_read());
} catch (...) {
  return raise_current();
}

PyObject* py_use_after_free(PyObject*, PyObject*) try {
  return PyLong_FromLong(use_after_free());
} catch (...) {
  return raise_current();
}

PyObject* py_uninitialised_branch(PyObject*, PyObject*) try {
  return PyLong_FromLong(uninitialised_branch());
} catch (...) {
  return raise_current();
}

PyObject* py_signed_overflow(PyObject*, PyObject* x) {
  const long value = PyLong_AsLong(x);
  if (value == -1 && PyErr_Occurred()) return nullptr;
  if (value < INT_MIN || value > INT_MAX) {
    PyErr_SetString(PyExc_OverflowError, "signed_overflow: x does not fit in a C int");
    return nullptr;
  }
  return PyLong_FromLong(signed_overflow(static_cast<int>(value)));
}

PyObject* py_grow(PyObject*, PyObject* nbytes) try {
  std::size_t n = 0;
  if (!size_arg(nbytes, n)) return nullptr;
  return PyLong_FromSize_t(grow(n));
} catch (...) {
  return raise_current();
}

PyObject* py_grown_blocks(PyObject*, PyObject*) { return PyLong_FromSize_t(grown().size()); }

PyObject* py_race(PyObject*, PyObject* iterations) {
  const long rounds = PyLong_AsLong(iterations);
  if (rounds == -1 && PyErr_Occurred()) return nullptr;
  long count = 0;
  bool started = true;
  Py_BEGIN_ALLOW_THREADS  // under the GIL the threads could not overlap
  try {
    count = race(rounds);
  } catch (...) {  // std::thread could not start a thread (std::system_error)
    started = false;
  }
  Py_END_ALLOW_THREADS
  if (!started) {
    PyErr_SetString(PyExc_RuntimeError, "race: could not start its two threads");
    return nullptr;
  }
  return PyLong_FromLong(count);
}

PyObject* py_clean(PyObject*, PyObject*) try {
  return PyLong_FromUnsignedLongLong(clean());
} catch (...) {
  return raise_current();
}

PyMethodDef methods[] = {
    {"leak", py_leak, METH_O, "leak($module, nbytes, /)\n--\n\nAllocate nbytes and lose the pointer (definite leak)."},
    {"heap_overflow_read", py_heap_overflow_read, METH_NOARGS, "Read one int past a heap array."},
    {"use_after_free", py_use_after_free, METH_NOARGS, "Read a heap array after delete[]."},
    {"uninitialised_branch", py_uninitialised_branch, METH_NOARGS, "Branch on uninitialised heap memory."},
    {"signed_overflow", py_signed_overflow, METH_O,
     "signed_overflow($module, x, /)\n--\n\nReturn x + INT_MAX (signed overflow for x > 0)."},
    {"grow", py_grow, METH_O, "grow($module, nbytes, /)\n--\n\nKeep nbytes more per call; return the number of blocks held."},
    {"grown_blocks", py_grown_blocks, METH_NOARGS, "How many blocks grow() holds."},
    {"race", py_race, METH_O,
     "race($module, iterations, /)\n--\n\nTwo threads increment one plain global with the GIL released (a data race); "
     "return the count."},
    {"clean", py_clean, METH_NOARGS, "Correct work of the same shape as the defects."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_canaries",
    "Deliberate defects for the self-test: each function is one defect a tool must catch.",
    -1,  // single-phase: the module keeps process-wide state (grown(), the race counter)
    methods,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

}  // namespace canaries

PyMODINIT_FUNC PyInit__canaries() { return PyModule_Create(&canaries::module); }
