"""Numpy golden models of the compute datapath, bit-exact with the RTL in ``scanfuse.hw``.

Pure numpy (no Amaranth import), so the driver, the planners and the benches can all use it.

* :func:`wrap` and :func:`pw_conv_ref`: int8 x int8 -> int32 products, accumulated the way a
  32-bit two's-complement accumulator does (modulo ``2**acc_bits``).
* :func:`block_ref`: one :class:`~scanfuse.hw.pe_array.PEArray` block from its k-step stream.
* :func:`requant_ref`: the :class:`~scanfuse.hw.requant.Requantizer` output stage.
"""

import numpy as np

__all__ = [
    "ACTIVATIONS", "REQUANT_MULTIPLIER_MAX", "REQUANT_SHIFT_MAX",
    "wrap", "pw_conv_ref", "block_ref", "requant_ref",
]

#: Activation names, in the order of their codes in :class:`scanfuse.hw.requant.Activation`.
ACTIVATIONS = ("none", "relu", "relu6")
#: Largest multiplier (unsigned 31-bit); checked against the RTL field width by the tests.
REQUANT_MULTIPLIER_MAX = (1 << 31) - 1
#: Largest right shift (6-bit field).
REQUANT_SHIFT_MAX = 63


def wrap(x, bits: int = 32) -> np.ndarray:
    """Reduce integers to ``bits``-bit two's complement, as a register of that width would.

    Returns ``int32`` for ``bits == 32``, ``int64`` otherwise.
    """
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1) << np.int64(bits - 1)
    y = ((x + half) & ((half << np.int64(1)) - np.int64(1))) - half
    return y.astype(np.int32) if bits == 32 else y


def pw_conv_ref(a: np.ndarray, b: np.ndarray, acc_bits: int = 32) -> np.ndarray:
    """Pointwise convolution as a GEMM: ``C[M, N] = A[M, K] @ B[K, N]`` wrapped to ``acc_bits``.

    Parameters
    ----------
    a : int8-valued array, shape ``(M, K)``
    b : int8-valued array, shape ``(K, N)``
    acc_bits : accumulator width; the sum is reduced modulo ``2**acc_bits`` (two's complement).

    The int64 matmul is exact for ``K < 2**48``, so wrapping the final sum equals wrapping
    after every step, which is what the hardware does.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"expected A[M, K] and B[K, N], got shapes {a.shape} and {b.shape}")
    for name, x in (("a", a), ("b", b)):
        if x.size and (x.min() < -128 or x.max() > 127):
            raise ValueError(f"{name} must hold int8 values")
    return wrap(a.astype(np.int64) @ b.astype(np.int64), acc_bits)


def block_ref(a_steps: np.ndarray, b_steps: np.ndarray, acc_bits: int = 32) -> np.ndarray:
    """Result of one PE-array block from its stream of k steps.

    Parameters
    ----------
    a_steps : shape ``(K, rows)``; ``a_steps[k]`` is the ``a`` field of k step ``k``
        (``A[m0 .. m0 + rows, k]``).
    b_steps : shape ``(K, cols)``; ``b_steps[k]`` is the ``b`` field (``B[k, n0 .. n0 + cols]``).

    Returns
    -------
    ``(rows, cols)`` int32 array; row ``r`` is the payload of the block's output beat ``r``.
    """
    a_steps = np.asarray(a_steps)
    b_steps = np.asarray(b_steps)
    if a_steps.ndim != 2 or b_steps.ndim != 2 or a_steps.shape[0] != b_steps.shape[0]:
        raise ValueError(f"expected (K, rows) and (K, cols), got {a_steps.shape} and {b_steps.shape}")
    if a_steps.shape[0] < 1:
        raise ValueError("a block has at least one k step")
    return pw_conv_ref(a_steps.T, b_steps, acc_bits)


def _activation_name(mode) -> str:
    # Accept "relu", 1, or the Amaranth enum member Activation.RELU (anything with `.name`).
    if isinstance(mode, str):
        name = mode.lower()
    elif hasattr(mode, "name"):
        name = mode.name.lower()
    elif isinstance(mode, (int, np.integer)) and 0 <= int(mode) < len(ACTIVATIONS):
        name = ACTIVATIONS[int(mode)]
    else:
        name = repr(mode)
    if name not in ACTIVATIONS:
        raise ValueError(f"mode must be one of {ACTIVATIONS}, not {mode!r}")
    return name


def requant_ref(acc, multiplier: int, shift: int, zero_point: int = 0,
                mode="none", relu6_max: int = 127) -> np.ndarray:
    """int32 accumulators -> int8, bit-exact with :class:`scanfuse.hw.requant.Requantizer`.

    ::

        p  = acc * multiplier                                  (exact, < 2**62 in magnitude)
        s  = round(p / 2**shift), ties away from zero          (p when shift == 0)
           = (p + 2**(shift-1) - (p < 0)) >> shift             (arithmetic shift)
        y  = s + zero_point
        lo, hi = (-128, 127)                 mode "none"
                 (zero_point, 127)           mode "relu"
                 (zero_point, relu6_max)     mode "relu6"
        q  = min(max(y, lo), hi)             (hi wins if relu6_max < zero_point)

    Parameters
    ----------
    acc : int32-valued array of any shape.
    multiplier : 0 .. 2**31 - 1; the real scale is ``multiplier / 2**shift``.
    shift : 0 .. 63.
    zero_point : int8 output zero point, added after rounding.
    mode : "none" | "relu" | "relu6" (or code 0/1/2, or the ``Activation`` enum member).
    relu6_max : int8 code of real 6.0 (zero point included), the RELU6 upper bound.
    """
    if not 0 <= multiplier <= REQUANT_MULTIPLIER_MAX:
        raise ValueError(f"multiplier must be in 0..{REQUANT_MULTIPLIER_MAX}, not {multiplier!r}")
    if not 0 <= shift <= REQUANT_SHIFT_MAX:
        raise ValueError(f"shift must be in 0..{REQUANT_SHIFT_MAX}, not {shift!r}")
    for name, value in (("zero_point", zero_point), ("relu6_max", relu6_max)):
        if not -128 <= value <= 127:
            raise ValueError(f"{name} must be an int8 value, not {value!r}")
    name = _activation_name(mode)
    acc = np.asarray(acc, dtype=np.int64)
    if acc.size and (acc.min() < -(1 << 31) or acc.max() >= 1 << 31):
        raise ValueError("acc must hold int32 values")

    p = acc * np.int64(multiplier)                   # |p| < 2**62: no int64 overflow
    if shift == 0:
        s = p
    else:
        bias = np.int64(1 << (shift - 1)) - (p < 0).astype(np.int64)
        s = (p + bias) >> np.int64(shift)            # numpy >> on int64 is arithmetic
    y = s + np.int64(zero_point)
    lo, hi = {"none": (-128, 127), "relu": (zero_point, 127),
              "relu6": (zero_point, relu6_max)}[name]
    return np.minimum(np.maximum(y, lo), hi).astype(np.int8)
