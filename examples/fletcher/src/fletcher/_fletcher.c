/* fletcher._fletcher: Fletcher-16 in C, built by CMake (scikit-build-core).
 *
 * fletcher16(data) -> int. FLETCHER_PLANT=leak switches on a planted defect (a
 * scratch buffer lost on every call), so that the example shows pyharness catching
 * it at this file's line; the planted line carries a "PLANTED" comment.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

/* Escapes the optimiser: a store it cannot prove unused. */
void *volatile fletcher_sink = NULL;

static int planted(const char *defect) {
  const char *which = getenv("FLETCHER_PLANT");
  return which != NULL && strcmp(which, defect) == 0;
}

static PyObject *fletcher16(PyObject *self, PyObject *arg) {
  (void)self;
  Py_buffer in;
  if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) != 0) return NULL;
  if (planted("leak")) {
    char *scratch = malloc(40); /* PLANTED: leak */
    if (scratch != NULL) scratch[0] = 1;
    fletcher_sink = scratch;
    fletcher_sink = NULL;
  }
  const unsigned char *p = in.buf;
  unsigned int sum1 = 0, sum2 = 0;
  for (Py_ssize_t i = 0; i < in.len; i++) {
    sum1 = (sum1 + p[i]) % 255u;
    sum2 = (sum2 + sum1) % 255u;
  }
  PyBuffer_Release(&in);
  return PyLong_FromUnsignedLong((unsigned long)((sum2 << 8) | sum1));
}

static PyMethodDef methods[] = {
    {"fletcher16", fletcher16, METH_O, "fletcher16(data) -> int: the Fletcher-16 checksum."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fletcher._fletcher", "Fletcher-16 in C.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fletcher(void) { return PyModule_Create(&module); }
