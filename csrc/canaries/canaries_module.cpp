// pyharness._canaries: placeholder until the self-test canaries land.
#include <pybind11/pybind11.h>

PYBIND11_MODULE(_canaries, m, pybind11::multiple_interpreters::not_supported()) { m.doc() = "Deliberate defects for the self-test."; }
