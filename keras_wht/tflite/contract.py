"""The custom-op contract: the one definition of what the converter writes and the native
kernels read, i.e. the operators' names (KerasWht1D, KerasWht2D), their inputs, their
flexbuffer option keys with the Python type of each value, and the largest block the
kernels take. The C++
side gets the same facts from csrc/keras_wht/op_contract.h, which `header()` generates
(`python -m keras_wht.tflite.contract > csrc/keras_wht/op_contract.h`) and a test keeps
equal to it. Pure Python, importing nothing heavy: devices without TensorFlow or numpy
read it too.
"""

import dataclasses

MAX_BLOCK_ELEMENTS = 1 << 16
"""The largest block (1-D) or tile (2-D, block_h * block_w) the kernels take, in elements."""

INPUTS = ("x", "scale", "threshold", "post_scale", "post_offset")
"""Each op's inputs, in order: the layer's input (float32, or int8 with per-tensor
quantization), its scale and threshold (float32 constants), and optionally, both or
neither, a batch norm folded into the op: `post_scale` and `post_offset`, float32 of shape
(output channels,), applied to the layer's output (after the residual) before the
activation option. Models converted before the fold have the first three."""
REQUIRED_INPUTS = 3

ACTIVATIONS = ("relu", "relu6", "hard_swish")
"""The values of the `activation` option: an activation folded into the op."""


@dataclasses.dataclass(frozen=True)
class Option:
    """One key of an op's flexbuffer options map. `block` marks a block length: a power of
    two; the product of an op's block options is at most MAX_BLOCK_ELEMENTS. `optional`
    keys may be absent (a key added after models were converted without it)."""

    key: str
    type: type  # bool, int or str
    doc: str
    block: bool = False
    optional: bool = False
    choices: tuple = ()  # a str option's values


@dataclasses.dataclass(frozen=True)
class Op:
    """A custom operator: its name in the model, its options (in the order written) and,
    for the C header, the tag of its macro and constant (KERAS_WHT_OP_<tag>, kOp<tag>)."""

    name: str
    tag: str
    options: tuple
    doc: str

    @property
    def keys(self):
        return tuple(option.key for option in self.options)


_RESIDUAL = Option("residual", bool, "adds the layer's input to its output")
_ACTIVATION = Option("activation", str, "an activation after the output (and post_scale, post_offset); absent: none",
                     optional=True, choices=ACTIVATIONS)

WHT1D_OP = Op(
    "KerasWht1D",
    "1D",
    (
        Option("block", int, "the transform's length along the channels", block=True),
        Option("channels", int, "the output's channels, at least 1: fewer than the input's average "
               "groups of input // channels adjacent channels first; absent: the input's", optional=True),
        _RESIDUAL,
        _ACTIVATION,
    ),
    "the WHT1D layer: a blockwise transform of the last axis, threshold, inverse",
)
WHT2D_OP = Op(
    "KerasWht2D",
    "2D",
    (
        Option("block_h", int, "the tile's height", block=True),
        Option("block_w", int, "the tile's width", block=True),
        Option("per_channel", bool, "one scale and threshold per channel, else shared"),
        _RESIDUAL,
        _ACTIVATION,
    ),
    "the WHT2D layer: a tiled transform of height and width (NHWC), threshold, inverse",
)
OPS = (WHT1D_OP.name, WHT2D_OP.name)
_BY_NAME = {op.name: op for op in (WHT1D_OP, WHT2D_OP)}


def op(name):
    """The Op called `name` ("KerasWht1D" or "KerasWht2D"); ValueError for another name."""
    if name not in _BY_NAME:
        raise ValueError(f"unknown custom op {name!r}; the ops are {', '.join(OPS)}")
    return _BY_NAME[name]


def check_options(which, mapping):
    """A dict of `mapping` in the op's key order, after checking it has exactly the keys of
    `which` (an Op or its name) with values of their types, and block lengths the kernels
    take; ValueError naming the key and value otherwise.

    >>> check_options(WHT1D_OP, {"residual": False, "block": 8})
    {'block': 8, 'residual': False}
    >>> check_options("KerasWht1D", {"block": 8, "residual": 1})
    Traceback (most recent call last):
    ...
    ValueError: KerasWht1D option 'residual' must be a bool, got 1 (int)
    """
    spec = which if isinstance(which, Op) else op(which)
    missing = [o.key for o in spec.options if o.key not in mapping and not o.optional]
    unknown = [key for key in mapping if key not in spec.keys]
    if missing or unknown:
        parts = ([f"lack {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"have unknown {', '.join(f'{k!r} (= {mapping[k]!r})' for k in unknown)}"] if unknown else []
        )
        raise ValueError(f"{spec.name} options {' and '.join(parts)}; its keys are {', '.join(spec.keys)}")
    product = 1
    for option in spec.options:
        if option.key not in mapping:
            continue
        value = mapping[option.key]
        # bool is an int subclass: an int option takes no bool, a bool option no int.
        if not isinstance(value, option.type) or (option.type is int and isinstance(value, bool)):
            article = "an" if option.type is int else "a"
            raise ValueError(f"{spec.name} option {option.key!r} must be {article} {option.type.__name__}, "
                             f"got {value!r} ({type(value).__name__})")
        if option.choices and value not in option.choices:
            raise ValueError(f"{spec.name} option {option.key!r} must be one of {', '.join(option.choices)}, "
                             f"got {value!r}")
        if option.block:
            if value < 1 or value & (value - 1) or value > MAX_BLOCK_ELEMENTS:
                raise ValueError(f"{spec.name} option {option.key!r} must be a power of two up to "
                                 f"{MAX_BLOCK_ELEMENTS}, got {value!r}")
            product *= value
    if product > MAX_BLOCK_ELEMENTS:
        blocks = " * ".join(f"{o.key} {mapping[o.key]}" for o in spec.options if o.block)
        raise ValueError(f"{spec.name} options' {blocks} = {product} exceeds {MAX_BLOCK_ELEMENTS} elements")
    return {key: mapping[key] for key in spec.keys if key in mapping}


def _constant(key):
    return "kKey" + "".join(part[:1].upper() + part[1:] for part in key.split("_"))


def header():
    """The text of csrc/keras_wht/op_contract.h: C macros for the names and the limit, and
    in C++ constexpr names for them and the option keys (namespace keras_wht::contract)."""
    ops = (WHT1D_OP, WHT2D_OP)
    lines = [
        "// Generated by python -m keras_wht.tflite.contract; do not edit",
        "// (regenerate: python -m keras_wht.tflite.contract > csrc/keras_wht/op_contract.h).",
        "//",
        "// keras-wht's custom-op contract, defined in keras_wht/tflite/contract.py: the",
        "// operators' names, their flexbuffer option keys and the largest block the kernels take.",
        "#ifndef KERAS_WHT_OP_CONTRACT_H_",
        "#define KERAS_WHT_OP_CONTRACT_H_",
        "",
        "// The operators' custom names (C and C++).",
    ]
    for o in ops:
        lines += [f"// {o.name}: {o.doc}.", f'#define KERAS_WHT_OP_{o.tag} "{o.name}"']
    lines += [
        "// The largest block (1-D) or tile (2-D, block_h * block_w), in elements.",
        f"#define KERAS_WHT_MAX_BLOCK_ELEMENTS {MAX_BLOCK_ELEMENTS}",
        f"// The inputs: {', '.join(INPUTS)}; the first {REQUIRED_INPUTS} required, the others both or neither.",
        f"#define KERAS_WHT_REQUIRED_INPUTS {REQUIRED_INPUTS}",
        f"#define KERAS_WHT_MAX_INPUTS {len(INPUTS)}",
        "",
        "#ifdef __cplusplus",
        "#include <stdint.h>",
        "",
        "namespace keras_wht {",
        "namespace contract {",
        "",
    ]
    lines += [f"constexpr char kOp{o.tag}[] = KERAS_WHT_OP_{o.tag};" for o in ops]
    lines += ["constexpr int64_t kMaxBlockElements = KERAS_WHT_MAX_BLOCK_ELEMENTS;",
              "constexpr int kRequiredInputs = KERAS_WHT_REQUIRED_INPUTS;",
              "constexpr int kMaxInputs = KERAS_WHT_MAX_INPUTS;", ""]
    lines.append("// The keys of the options maps, by op:")
    for o in ops:
        lines.append(f"//   {o.name}: {', '.join(o.keys)}")
    seen = {}
    for o in ops:
        for option in o.options:
            seen.setdefault(option.key, (option, []))[1].append(o.name)
    for key, (option, names) in seen.items():
        kind = ("int, a power of two" if option.block else option.type.__name__) + (", optional" if option.optional
                                                                                  else "")
        lines += [f"// {kind} ({', '.join(names)}): {option.doc}.",
                  f'constexpr char {_constant(key)}[] = "{key}";']
        for choice in option.choices:
            lines.append(f'constexpr char {_constant(key)}{_constant(choice)[4:]}[] = "{choice}";')
    lines += [
        "",
        "}  // namespace contract",
        "}  // namespace keras_wht",
        "#endif  // __cplusplus",
        "",
        "#endif  // KERAS_WHT_OP_CONTRACT_H_",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(header())
