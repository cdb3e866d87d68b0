/* rle._rle: run-length encoding of bytes, in C.
 *
 * encode(data) -> pairs of (count, byte), runs of at most 255; decode() the reverse.
 * Two defects can be switched on at run time, so that the example shows pyharness
 * catching them at this file's lines: RLE_PLANT=leak loses a scratch buffer on every
 * encode() call; RLE_PLANT=overflow writes one byte past decode()'s output buffer
 * (RLE_PLANT=leak,overflow: both).
 * Each planted line carries a "PLANTED" comment (the tests look for it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
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
  Py_ssize_t o = 0;
  for (Py_ssize_t i = 0; i < n;) {
    unsigned char b = src[i];
    Py_ssize_t run = 1;
    while (i + run < n && src[i + run] == b && run < 255) run++;
    out[o++] = (unsigned char)run;
    out[o++] = b;
    i += run;
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

static PyMethodDef methods[] = {
    {"encode", encode, METH_O, "encode(data) -> bytes: (count, byte) pairs, runs of at most 255."},
    {"decode", decode, METH_O, "decode(data) -> bytes: the inverse of encode()."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rle._rle", "Run-length encoding in C.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__rle(void) { return PyModule_Create(&module); }
