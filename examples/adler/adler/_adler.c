/* adler._adler: Adler-32 in C.
 *
 * adler32(data, value=1) -> int, as zlib.adler32. ADLER_PLANT=leak switches on a planted
 * defect (a scratch buffer lost on every call), so that the example shows pyharness
 * catching it at this file's line; the planted line carries a "PLANTED" comment.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#define MOD_ADLER 65521u

/* Escapes the optimiser: a store it cannot prove unused. */
void *volatile adler_sink = NULL;

static int planted(const char *defect) {
  const char *which = getenv("ADLER_PLANT");
  return which != NULL && strcmp(which, defect) == 0;
}

static PyObject *adler32(PyObject *self, PyObject *args) {
  (void)self;
  Py_buffer in;
  unsigned long value = 1;
  if (!PyArg_ParseTuple(args, "y*|k", &in, &value)) return NULL;
  if (planted("leak")) {
    char *scratch = malloc(48); /* PLANTED: leak */
    if (scratch != NULL) scratch[0] = 1;
    adler_sink = scratch;
    adler_sink = NULL;
  }
  const unsigned char *p = in.buf;
  unsigned long a = value & 0xffffu, b = (value >> 16) & 0xffffu;
  for (Py_ssize_t i = 0; i < in.len; i++) {
    a = (a + p[i]) % MOD_ADLER;
    b = (b + a) % MOD_ADLER;
  }
  PyBuffer_Release(&in);
  return PyLong_FromUnsignedLong((b << 16) | a);
}

static PyMethodDef methods[] = {
    {"adler32", adler32, METH_VARARGS, "adler32(data, value=1) -> int, as zlib.adler32."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "adler._adler", "Adler-32 in C.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__adler(void) { return PyModule_Create(&module); }
