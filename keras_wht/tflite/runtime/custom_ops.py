"""The native custom ops: the kernel library, and their registration on TFLite interpreters.

`pip install` compiles the kernels (csrc/) into `keras_wht/tflite/_keras_wht_ops*.so`.
A Python TFLite interpreter hands each `custom_op_registerers` callable the address of
its `tflite::MutableOpResolver`; `register` finds that runtime's
`MutableOpResolver::AddCustom` (in its dynamic symbols, or else in the ELF symbol table
of the library that holds the resolver's virtual table) and adds KerasWht1D and
KerasWht2D through it. No TFLite header is needed: the kernels declare the stable part of
TFLite's C ABI themselves.
"""

import ctypes
import ctypes.util
import functools
import importlib.util
import os
import re

import numpy as np


_LIBRARY = "keras_wht.tflite._keras_wht_ops"
_ADD_CUSTOM = b"_ZN6tflite17MutableOpResolver9AddCustomEPKcPK18TfLiteRegistrationi"
_RTLD_NOLOAD = 4  # Linux
_HOW_TO_BUILD = (
    "Reinstall keras-wht from source with a C++17 compiler and the flexbuffers header, e.g. on "
    "Debian/Ubuntu: apt-get install g++ libflatbuffers-dev && pip install --force-reinstall --no-deps "
    "--no-binary keras-wht keras-wht (or pip install -e . in a checkout)."
)


class CustomOpsUnavailable(ImportError):
    """keras-wht's kernel library is not built, or this runtime cannot take its ops."""


@functools.lru_cache(maxsize=1)
def library():
    """The kernel library (ctypes.CDLL); CustomOpsUnavailable if it was not built."""
    spec = importlib.util.find_spec(_LIBRARY)
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        raise CustomOpsUnavailable(f"keras-wht's custom-op kernels are not built. {_HOW_TO_BUILD}")
    try:
        lib = ctypes.CDLL(spec.origin)
    except OSError as err:
        raise CustomOpsUnavailable(f"keras-wht's custom-op kernels do not load ({err}). {_HOW_TO_BUILD}") from err
    lib.KerasWht_Isa.restype = ctypes.c_char_p
    lib.KerasWht_ThreadPool.restype = ctypes.c_char_p
    lib.KerasWht_RegisterWith.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.KerasWht_RegisterWith.restype = None
    return lib


def available():
    """Whether the kernel library is built and loads."""
    try:
        library()
    except CustomOpsUnavailable:
        return False
    return True


def isa():
    """The instruction set the kernels use on this CPU: "avx512", "avx2", "neon" or "scalar"."""
    return library().KerasWht_Isa().decode()


def thread_pool():
    """The pool the ops' threads come from: "pthreadpool" (found when the kernels were
    built) or "built-in"."""
    return library().KerasWht_ThreadPool().decode()


def custom_op_registerers():
    """Registerers for a runtime's `InterpreterWithCustomOps(custom_op_registerers=...)`.

    Works with tf.lite (TensorFlow), ai_edge_litert and tflite_runtime interpreters:

        >>> from ai_edge_litert.interpreter import InterpreterWithCustomOps  # doctest: +SKIP
        >>> it = InterpreterWithCustomOps(model_content=buf,  # doctest: +SKIP
        ...                               custom_op_registerers=custom_op_registerers())
    """
    library()
    return [register]


def register(resolver_address):
    """Adds KerasWht1D and KerasWht2D to the `tflite::MutableOpResolver` at this address."""
    if not isinstance(resolver_address, int) or resolver_address <= 0:
        raise ValueError(f"`resolver_address` must be the address of an op resolver, got {resolver_address!r}.")
    add_custom = _add_custom_for(resolver_address)
    library().KerasWht_RegisterWith(resolver_address, add_custom)


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


@functools.lru_cache(maxsize=1)
def _libdl():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
    libc.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    libc.dladdr.restype = ctypes.c_int
    libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.dlopen.restype = ctypes.c_void_p
    libc.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    libc.dlsym.restype = ctypes.c_void_p
    libc.dlclose.argtypes = [ctypes.c_void_p]
    return libc


def _object_of(address):
    """(file, load base) of the loaded library that holds `address`, or None."""
    info = _DlInfo()
    if not address or not _libdl().dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.fsdecode(info.dli_fname), info.dli_fbase


def _add_custom_for(resolver_address):
    # The resolver's first word is its virtual table, which lies in the runtime's library.
    vtable = ctypes.c_void_p.from_address(resolver_address).value
    found = _object_of(vtable)
    if found is None:
        raise CustomOpsUnavailable(
            "keras-wht cannot tell which TFLite runtime made this op resolver (its virtual table is "
            "in no loaded library), so it cannot register its custom ops on it."
        )
    return _add_custom_in(*found)


@functools.lru_cache(maxsize=None)
def _add_custom_in(path, base):
    libdl = _libdl()
    handle = libdl.dlopen(os.fsencode(path), os.RTLD_LAZY | _RTLD_NOLOAD)
    if handle:
        try:
            address = libdl.dlsym(handle, _ADD_CUSTOM)
        finally:
            libdl.dlclose(handle)
        # dlsym also searches the library's dependencies; only this library's own copy
        # matches the resolver's class layout for sure.
        if address and (_object_of(address) or ("",))[0] == path:
            return address
    offset = _symbol_offset(path, _ADD_CUSTOM.decode())
    if offset is None:
        raise CustomOpsUnavailable(
            f"keras-wht cannot register its custom ops on the TFLite runtime in {path}: it has no "
            "tflite::MutableOpResolver::AddCustom symbol (a stripped build?). Use a runtime with symbols "
            "(the ai-edge-litert, tensorflow or tflite-runtime wheels from PyPI)."
        )
    address = base + offset
    if (_object_of(address) or ("",))[0] != path:
        raise CustomOpsUnavailable(f"keras-wht found AddCustom in {path} at an address outside it.")
    return address


# ELF symbol table entries (Elf64_Sym, Elf32_Sym), little-endian.
_SYMBOL = {
    64: np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"), ("value", "<u8"), ("size", "<u8")]),
    32: np.dtype([("name", "<u4"), ("value", "<u4"), ("size", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2")]),
}
_STT_FUNC = 2


def _symbol_offset(path, name):
    """A function symbol's address relative to the load base, from the ELF symbol tables
    (pyelftools finds the sections; NumPy scans the tens of thousands of entries)."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        elf = ELFFile(f)
        if not elf.little_endian:
            return None
        first_load = min((seg["p_vaddr"] for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"), default=0)
        for table in (".symtab", ".dynsym"):
            section = elf.get_section_by_name(table)
            if section is None:
                continue
            strings = elf.get_section(section["sh_link"]).data()
            # Where the name's bytes start (string tables may share a name's tail with a longer one).
            offsets = [m.start() for m in re.finditer(re.escape(name.encode()) + b"\0", strings)]
            if not offsets:
                continue
            symbols = np.frombuffer(section.data(), dtype=_SYMBOL[elf.elfclass])
            hits = symbols[np.isin(symbols["name"], offsets) & ((symbols["info"] & 0xF) == _STT_FUNC)
                           & (symbols["value"] != 0)]
            if len(hits):
                return int(hits[0]["value"]) - (first_load & ~0xFFF)
    return None
