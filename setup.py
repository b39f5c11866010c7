"""Builds the native TFLite custom-op kernels (csrc/) with this machine's C++ compiler.

The package's metadata is in setup.cfg. The kernel library needs a C++17 compiler and
the flexbuffers header (Debian/Ubuntu: apt-get install g++ libflatbuffers-dev). Without
them the build of the library fails and the package installs without it:
convert(..., custom_ops=True) and the custom-op interpreters then say how to get it.
"""

import os

from setuptools import Extension, setup

SOURCES = [
    "csrc/keras_wht/kernels.cc",
    "csrc/keras_wht/kernels_scalar.cc",
    "csrc/keras_wht/kernels_avx2.cc",
    "csrc/keras_wht/kernels_neon.cc",
    "csrc/keras_wht/thread_pool.cc",
    "csrc/keras_wht/tflite_ops.cc",
]

kernels = Extension(
    # A plain shared library loaded with ctypes (it has no Python module init).
    "keras_wht.tflite._keras_wht_ops",
    sources=SOURCES,
    include_dirs=["csrc", *filter(None, [os.environ.get("FLATBUFFERS_INCLUDE")])],
    # FLATBUFFERS_LOCALE_INDEPENDENT=0: the header alone, without libflatbuffers' objects.
    define_macros=[("FLATBUFFERS_LOCALE_INDEPENDENT", "0")],
    extra_compile_args=["-std=c++17", "-O3", "-fvisibility=hidden", "-fno-math-errno"],
    extra_link_args=["-pthread"],
    language="c++",
    optional=os.environ.get("KERAS_WHT_REQUIRE_KERNELS") != "1",
)

setup(ext_modules=[kernels])
