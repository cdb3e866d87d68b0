/* rle._rle: run-length encoding of bytes, in C.
 *
 * encode(data) -> pairs of (count, byte), runs of at most 255; decode() the reverse.
 * encode_all(list) -> list: encode() of every item.
 * Defects can be switched on at run time, so that the example shows pyharness
 * catching them at this file's lines (RLE_PLANT=leak,overflow: several at once):
 * - RLE_PLANT=leak loses a scratch buffer on every encode() call;
 * - RLE_PLANT=overflow writes one byte past decode()'s output buffer;
 * - RLE_PLANT=misaligned reads a 64-bit word at an odd address in encode()
 *   (undefined behaviour: UBSan reports it, and the run goes on);
 * - RLE_PLANT=borrowed_decref releases the list items encode_all() only borrowed
 *   (PyList_GetItem returns a borrowed reference): the caller's list then holds
 *   freed objects, and the interpreter's next use of one reads freed memory.
 * - RLE_PLANT=leak_all loses a buffer on every encode_all() call: only the test
 *   that calls it leaks, and pyharness must name that test;
 * - RLE_PLANT=fd opens /dev/null when decode() refuses odd-length data and never
 *   closes it: one test leaves a descriptor open;
 * - RLE_PLANT=race counts the bytes encoded while the GIL is released (encode()
 *   releases it for large inputs): a data race only when two Python threads encode
 *   at once, as pytest-run-parallel has them do.
 * Each planted line carries a "PLANTED" comment (the tests look for it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* True when `defect` is one of the comma-separated names in RLE_PLANT. */
static int planted(const char *defect) {
  const char *which = getenv("RLE_PLANT");
  const size_t len = strlen(defect);
  for (const char *p = which; p != NULL && *p != '\0'; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
    if (strncmp(p, defect, len) == 0 && (p[len] == ',' || p[len] == '\0')) return 1;
  }
  return 0;
}

/* Escapes the optimiser: a store it cannot prove unused. */
void *volatile rle_sink = NULL;

/* Bytes encode() has encoded, for statistics; only ever updated holding the GIL. */
size_t rle_bytes_encoded = 0;

/* Inputs at least this long are encoded with the GIL released: other threads run meanwhile. */
#define RLE_NOGIL_BYTES ((Py_ssize_t)65536)

/* Writes the (count, byte) pairs of src[0..n) to out; returns how many bytes it wrote. */
static Py_ssize_t encode_runs(const unsigned char *src, Py_ssize_t n, unsigned char *out) {
  Py_ssize_t o = 0;
  for (Py_ssize_t i = 0; i < n;) {
    unsigned char b = src[i];
    Py_ssize_t run = 1;
    while (i + run < n && src[i + run] == b && run < 255) run++;
    out[o++] = (unsigned char)run;
    out[o++] = b;
    i += run;
  }
  return o;
}

static PyObject *encode(PyObject *self, PyObject *arg) {
  (void)self;
  Py_buffer in;
  if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) != 0) return NULL;
  const unsigned char *src = in.buf;
  Py_ssize_t n = in.len;
  unsigned char *out = malloc(n > 0 ? (size_t)n * 2 : 1);
  if (out == NULL) {
    PyBuffer_Release(&in);
    return PyErr_NoMemory();
  }
  if (planted("leak")) {
    char *scratch = malloc(64); /* PLANTED: leak */
    if (scratch != NULL) scratch[0] = 1;
    rle_sink = scratch;
    rle_sink = NULL;
  }
  if (planted("misaligned") && n >= 9) {
    rle_sink = (void *)(uintptr_t) * (const uint64_t *)(src + 1); /* PLANTED: misaligned */
    rle_sink = NULL;
  }
  Py_ssize_t o;
  if (n >= RLE_NOGIL_BYTES) {
    const int race = planted("race");
    Py_BEGIN_ALLOW_THREADS
    o = encode_runs(src, n, out);
    if (race) rle_bytes_encoded += (size_t)n; /* PLANTED: race */
    Py_END_ALLOW_THREADS
    if (!race) rle_bytes_encoded += (size_t)n;
  } else {
    o = encode_runs(src, n, out);
    rle_bytes_encoded += (size_t)n;
  }
  PyBuffer_Release(&in);
  PyObject *result = PyBytes_FromStringAndSize((const char *)out, o);
  free(out);
  return result;
}

static PyObject *decode(PyObject *self, PyObject *arg) {
  (void)self;
  Py_buffer in;
  if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) != 0) return NULL;
  const unsigned char *src = in.buf;
  if (in.len % 2 != 0) {
    if (planted("fd")) {
      rle_sink = (void *)(intptr_t)open("/dev/null", O_RDONLY); /* PLANTED: fd */
      rle_sink = NULL;
    }
    PyBuffer_Release(&in);
    PyErr_SetString(PyExc_ValueError, "run-length data has an odd length");
    return NULL;
  }
  size_t total = 0;
  for (Py_ssize_t i = 0; i < in.len; i += 2) total += src[i];
  unsigned char *out = malloc(total > 0 ? total : 1);
  if (out == NULL) {
    PyBuffer_Release(&in);
    return PyErr_NoMemory();
  }
  size_t o = 0;
  for (Py_ssize_t i = 0; i < in.len; i += 2) {
    memset(out + o, src[i + 1], src[i]);
    o += src[i];
  }
  if (planted("overflow") && total > 0) {
    out[total] = 0; /* PLANTED: overflow */
  }
  PyBuffer_Release(&in);
  PyObject *result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)o);
  free(out);
  return result;
}

static PyObject *encode_all(PyObject *self, PyObject *arg) {
  if (!PyList_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "encode_all() takes a list of bytes-like objects");
    return NULL;
  }
  const Py_ssize_t n = PyList_GET_SIZE(arg);
  if (planted("leak_all")) {
    char *index = malloc(16 + (size_t)n); /* PLANTED: leak_all */
    if (index != NULL) index[0] = 1;
    rle_sink = index;
    rle_sink = NULL;
  }
  PyObject *out = PyList_New(n);
  if (out == NULL) return NULL;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = PyList_GetItem(arg, i); /* borrowed: the list keeps its reference */
    PyObject *encoded = item != NULL ? encode(self, item) : NULL;
    if (encoded == NULL) {
      Py_DECREF(out);
      return NULL;
    }
    PyList_SET_ITEM(out, i, encoded);
    if (planted("borrowed_decref")) {
      Py_DECREF(item); /* PLANTED: borrowed_decref */
    }
  }
  return out;
}

/* How many runs encode() would write. The project's tests never call it: the coverage
 * tool's own test expects it listed among the functions no workload executed. */
static PyObject *count_runs(PyObject *self, PyObject *arg) {
  (void)self;
  Py_buffer in;
  if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) != 0) return NULL;
  const unsigned char *src = in.buf;
  Py_ssize_t runs = 0;
  for (Py_ssize_t i = 0; i < in.len; ++runs) {
    Py_ssize_t j = i;
    while (j < in.len && src[j] == src[i] && j - i < 255) ++j;
    i = j;
  }
  PyBuffer_Release(&in);
  return PyLong_FromSsize_t(runs);
}

static PyMethodDef methods[] = {
    {"encode", encode, METH_O, "encode(data) -> bytes: (count, byte) pairs, runs of at most 255."},
    {"encode_all", encode_all, METH_O, "encode_all(list) -> list: encode() of every item."},
    {"decode", decode, METH_O, "decode(data) -> bytes: the inverse of encode()."},
    {"count_runs", count_runs, METH_O, "count_runs(data) -> int: how many runs encode(data) writes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rle._rle", "Run-length encoding in C.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__rle(void) { return PyModule_Create(&module); }
