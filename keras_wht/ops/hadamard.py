"""Sylvester Hadamard matrices and their orderings (NumPy; used to build graph constants)."""

import functools

import numpy as np

from keras_wht import _checks

ORDERS = ("hadamard", "sequency")


@functools.lru_cache(maxsize=64)
def sequency_permutation(n):
    """Row indices that put H_n in sequency (Walsh) order.

    Row k of the result has k sign changes: it is the natural-order row whose index is
    the bit reversal of the Gray code of k.
    """
    n = _checks.power_of_two("n", n)
    bits = n.bit_length() - 1
    k = np.arange(n)
    gray = k ^ (k >> 1)
    reversed_ = np.zeros_like(gray)
    for b in range(bits):
        reversed_ |= ((gray >> b) & 1) << (bits - 1 - b)
    perm = reversed_
    perm.setflags(write=False)
    return perm


@functools.lru_cache(maxsize=64)
def _sylvester(n):
    h = np.ones((1, 1), dtype=np.float64)
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    h.setflags(write=False)
    return h


def hadamard_matrix(n, order="hadamard"):
    """The n x n matrix of +-1 entries (float64) in the given order; symmetric for both orders."""
    n = _checks.power_of_two("n", n)
    _checks.one_of("order", order, ORDERS)
    h = _sylvester(n)
    return h[sequency_permutation(n)] if order == "sequency" else h


def natural_order(values, axes):
    """Per-coefficient parameters of a sequency-ordered transform, rearranged for the
    natural (Hadamard) order over the first `axes` axes (1: a block, 2: a tile).

    W S_p(W x) with W = P H / sqrt(n) (P the sequency permutation, W symmetric) equals
    H S_q(H x) / n with q[perm[k]] = p[k]: the same layer computed in natural order.
    """
    values = np.asarray(values)
    out = np.empty_like(values)
    out[np.ix_(*[sequency_permutation(values.shape[a]) for a in range(axes)])] = values
    return out
