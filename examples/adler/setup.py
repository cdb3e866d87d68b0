"""The C extension; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    packages=["adler", "adler.tests"],
    ext_modules=[Extension("adler._adler", ["adler/_adler.c"], extra_compile_args=["-std=c11"])],
)
