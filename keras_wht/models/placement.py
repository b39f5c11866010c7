"""Where a model builder puts WHT layers: the `wht=` argument of keras_wht.models."""

import dataclasses
import numbers


@dataclasses.dataclass(frozen=True)
class Placement:
    """Which layers of a network become WHT layers.

    Args:
        blocks: indices of the blocks to change (negative counts from the end, as in
            Python); `"all"` for every block.
        layers: which layers inside those blocks: the builder's kinds, e.g. for
            MobileNetV2 "expand" and "project" (1x1 convs -> WHT1D) and "depthwise"
            (3x3 depthwise conv -> WHT2D).
        last_conv: also the 1x1 convolution after the last block (-> WHT1D).
        head: a trainable WHT2D before global average pooling.

    Example:
        >>> Placement(blocks=(-2, -1), layers=("expand", "project"))
        Placement(blocks=(-2, -1), layers=('expand', 'project'), last_conv=False, head=False)

    A builder takes one as `wht=`, or the same as a dict, or a preset's name.
    """

    blocks: object = ()
    layers: tuple = ()
    last_conv: bool = False
    head: bool = False

    def replaces(self, block, kind):
        return block in self.blocks and kind in self.layers


def resolve(wht, *, model, presets, num_blocks, kinds):
    """`wht` as a Placement with non-negative block indices; an empty one for None."""
    if wht is None:
        return Placement()
    if isinstance(wht, str):
        if wht not in presets:
            raise ValueError(
                f"Unknown `wht` preset {wht!r} for {model}; the presets are: {', '.join(sorted(presets))}."
            )
        wht = presets[wht]
    elif isinstance(wht, dict):
        fields = [f.name for f in dataclasses.fields(Placement)]
        unknown = sorted(set(wht) - set(fields))
        if unknown:
            raise ValueError(f"`wht` has unknown key(s) {unknown}; the keys are {fields}.")
        wht = Placement(**wht)
    elif not isinstance(wht, Placement):
        raise ValueError(
            f"`wht` must be None, a preset name, a dict or a keras_wht.models.Placement, got {wht!r}."
        )
    blocks = range(num_blocks) if wht.blocks == "all" else wht.blocks
    if isinstance(blocks, (str, numbers.Integral)):
        raise ValueError(f"`wht` blocks must be a list of block indices or 'all', got {wht.blocks!r}.")
    checked = []
    for b in blocks:
        if isinstance(b, bool) or not isinstance(b, numbers.Integral) or not -num_blocks <= b < num_blocks:
            raise ValueError(
                f"`wht` names block {b!r}, but {model} has blocks 0..{num_blocks - 1} "
                f"(or -{num_blocks}..-1 from the end)."
            )
        checked.append(int(b) % num_blocks)
    layers = (wht.layers,) if isinstance(wht.layers, str) else tuple(wht.layers)
    bad = [k for k in layers if k not in kinds]
    if bad:
        raise ValueError(f"`wht` names layer kind(s) {bad} that {model} does not have; its kinds are {list(kinds)}.")
    return dataclasses.replace(wht, blocks=tuple(sorted(set(checked))), layers=layers,
                               last_conv=bool(wht.last_conv), head=bool(wht.head))
