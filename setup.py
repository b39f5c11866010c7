"""Builds the native TFLite custom-op kernels (csrc/) with this machine's C++ compiler.

The package's metadata is in setup.cfg. The kernel library needs a C++17 compiler and
the flexbuffers header (Debian/Ubuntu: apt-get install g++ libflatbuffers-dev). Without
them the build of the library fails and the package installs without it:
convert(..., custom_ops=True) and the custom-op interpreters then say how to get it.

The ops' threads come from pthreadpool (the pool XNNPACK uses; Debian bookworm:
apt-get install libpthreadpool-dev) where its header and library are on the compiler's
default paths or in PTHREADPOOL_INCLUDE / PTHREADPOOL_LIB, else from the library's
built-in pool. KERAS_WHT_PTHREADPOOL=AUTO (default), ON (required) or OFF, as in CMake.
"""

import contextlib
import glob
import os
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


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



@contextlib.contextmanager
def _quiet():
    """Hides the compiler's output (a failed probe is not an error)."""
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1), os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        os.close(saved[0]), os.close(saved[1])


class BuildExt(build_ext):
    """build_ext that links pthreadpool when this compiler finds it (KERAS_WHT_PTHREADPOOL)."""

    def build_extensions(self):
        mode = os.environ.get("KERAS_WHT_PTHREADPOOL", "AUTO").upper()
        if mode not in ("AUTO", "ON", "OFF"):
            raise SystemExit(f"KERAS_WHT_PTHREADPOOL must be AUTO, ON or OFF, got {mode!r}")
        include, lib = os.environ.get("PTHREADPOOL_INCLUDE"), os.environ.get("PTHREADPOOL_LIB")
        found = mode != "OFF" and self._links_pthreadpool(include, lib)
        if mode == "ON" and not found:
            raise SystemExit("KERAS_WHT_PTHREADPOOL=ON but pthreadpool is not found: apt-get install "
                             "libpthreadpool-dev, or set PTHREADPOOL_INCLUDE and PTHREADPOOL_LIB")
        print(f"keras-wht thread pool: {'pthreadpool' if found else 'built-in'}", file=sys.stderr)
        if found:
            for ext in self.extensions:
                ext.define_macros.append(("KERAS_WHT_PTHREADPOOL", None))
                ext.libraries.append("pthreadpool")
                ext.include_dirs.extend(filter(None, [include]))
                ext.library_dirs.extend(filter(None, [lib]))
                ext.runtime_library_dirs.extend(filter(None, [lib]))
        super().build_extensions()

    def _links_pthreadpool(self, include, lib):
        """Whether a program calling pthreadpool_create compiles and links here."""
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "probe.c")
            with open(source, "w") as f:
                f.write("#include <pthreadpool.h>\n"
                        "int main(void) { pthreadpool_destroy(pthreadpool_create(1)); return 0; }\n")
            try:
                with _quiet():
                    objects = self.compiler.compile([source], output_dir=tmp, include_dirs=list(filter(None, [include])))
                    self.compiler.link_executable(objects, os.path.join(tmp, "probe"), libraries=["pthreadpool"],
                                                  library_dirs=list(filter(None, [lib])))
            except Exception:  # CompileError, LinkError, a missing compiler
                return False
        return True


setup(ext_modules=[kernels], cmdclass={"build_ext": BuildExt})
