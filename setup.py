"""Builds the native TFLite custom-op kernels (csrc/) with this machine's C++ compiler.

The package's metadata is in setup.cfg. The kernel library needs a C++17 compiler and
the flexbuffers header (Debian/Ubuntu: apt-get install g++ libflatbuffers-dev). Without
them the build of the library fails and the package installs without it:
convert(..., custom_ops=True) and the custom-op interpreters then say how to get it.
"""

import glob
import os

from setuptools import Extension, setup


def native_sources():
    """The kernel library's sources as paths from here: csrc/sources.txt, the list CMake
    reads too (lines relative to csrc/; blank lines and # comments skipped)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc", "sources.txt")) as f:
        lines = (line.strip() for line in f)
        return [f"csrc/{line}" for line in lines if line and not line.startswith("#")]


SOURCES = native_sources()

kernels = Extension(
    # A plain shared library loaded with ctypes (it has no Python module init).
    "keras_wht.tflite._keras_wht_ops",
    sources=SOURCES,
    depends=sorted(glob.glob("csrc/keras_wht/*.h")),  # rebuilds when a header (op_contract.h) changes
    include_dirs=["csrc", *filter(None, [os.environ.get("FLATBUFFERS_INCLUDE")])],
    # FLATBUFFERS_LOCALE_INDEPENDENT=0: the header alone, without libflatbuffers' objects.
    define_macros=[("FLATBUFFERS_LOCALE_INDEPENDENT", "0")],
    extra_compile_args=["-std=c++17", "-O3", "-fvisibility=hidden", "-fno-math-errno"],
    extra_link_args=["-pthread"],
    language="c++",
    optional=os.environ.get("KERAS_WHT_REQUIRE_KERNELS") != "1",
)

setup(ext_modules=[kernels])
