/* tally._tally: how often each byte value occurs, in C.
 *
 * histogram(data) -> tuple of 256 counts. TALLY_PLANT=leak switches on a
 * planted defect: the counts array is not freed (its allocation carries "PLANTED":
 * a leak is reported where the block was allocated).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

static PyObject *histogram(PyObject *self, PyObject *arg) {
  (void)self;
  Py_buffer in;
  if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) != 0) return NULL;
  Py_ssize_t *counts = calloc(256, sizeof *counts); /* PLANTED: leak (never freed when TALLY_PLANT=leak) */
  if (counts == NULL) {
    PyBuffer_Release(&in);
    return PyErr_NoMemory();
  }
  const unsigned char *bytes = in.buf;
  for (Py_ssize_t i = 0; i < in.len; i++) counts[bytes[i]]++;
  PyBuffer_Release(&in);
  PyObject *out = PyTuple_New(256);
  for (int v = 0; out != NULL && v < 256; v++) {
    PyObject *n = PyLong_FromSsize_t(counts[v]);
    if (n == NULL) Py_CLEAR(out);
    else PyTuple_SET_ITEM(out, v, n);
  }
  const char *plant = getenv("TALLY_PLANT");
  if (plant == NULL || strcmp(plant, "leak") != 0) free(counts);
  return out;
}

static PyMethodDef methods[] = {
    {"histogram", histogram, METH_O, "histogram(data) -> tuple of 256 counts, one per byte value."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "tally._tally", "Byte histograms in C.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__tally(void) { return PyModule_Create(&module); }
