"""CP decomposition of a standard convolution into four cheap layers (Lebedev et al., 2015).

A kernel ``W[Cout, Cin, kh, kw]`` approximated by a rank-R CP (CANDECOMP/PARAFAC) model
(Kolda & Bader, 2009)::

    W[o, c, y, x] ~ sum_r last[o, r] * first[r, c] * vertical[r, y] * horizontal[r, x]

is computed exactly by the sequence

1. ``first``: 1x1 convolution Cin -> R (no stride, no padding);
2. ``vertical``: kh x 1 depthwise convolution on R channels, stride (sh, 1), padding (ph, 0);
3. ``horizontal``: 1 x kw depthwise convolution on R channels, stride (1, sw), padding (0, pw);
4. ``last``: 1x1 convolution R -> Cout, plus the original bias.

The CP weights (lambda) are folded into ``last``: the columns of the other three factors have
unit L2 norm, so ``last`` carries all the scale. Stride and padding are split by axis between
the two depthwise layers; zero padding commutes with the bias-free 1x1 ``first`` layer, so the
sequence equals the convolution with the reconstructed kernel to rounding error.

The decomposition itself is tensorly's ALS ``parafac`` with a fixed random initialisation
(``random_state=seed``), so results are reproducible. Its built-in stopping test estimates the
error from ``||W||^2 + ||W_hat||^2 - 2<W, W_hat>``, which cancels to noise below about 1e-8, so
this module stops ALS itself on the exact relative error, computed every iteration.
"""

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InvalidOptionError, InvalidShapeError
from .layers import Layer, LayerKind
from .refconv import as_pair, conv2d, conv2d_output_hw

__all__ = [
    "CPDecomposition", "CPFactors", "DecomposeReport", "DecomposedConv", "SequenceLayer",
    "apply_decomposed", "conv_macs", "cp_decompose", "decompose_report", "decomposed_macs",
    "decomposed_sequence", "parse_rank_rule", "random_kernel", "rank_for", "reconstruct_kernel",
]

Pair = tuple[int, int]
Shape4 = tuple[int, int, int, int]
RankRule = int | str | tuple[str, float]

#: Named rank rules accepted by :func:`rank_for` (besides an int and ``("mac_ratio", r)``).
RANK_RULES = ("channels", "max3")
#: ALS initialisations accepted by :func:`cp_decompose`.
INITS = ("random", "svd")

#: Largest kernel :func:`decompose_report` and :func:`cp_decompose` take, in elements
#: (Cout*Cin*kh*kw): 2^24, 128 MiB as float64; ALS holds a few copies.
MAX_KERNEL_ELEMENTS = 1 << 24
#: Largest CP rank: 2^14 (ALS solves rank x rank systems and holds rank-wide factors).
MAX_RANK = 1 << 14
#: Most ALS sweeps: 10^5 (the default is 1000; the stopping test usually ends far sooner).
MAX_ITERATIONS = 100_000
#: Seeds go to numpy's legacy RandomState (via tensorly), which takes 0..2^32-1.
MAX_SEED = (1 << 32) - 1
#: Layer names of the decomposed sequence, in execution order.
LAYER_NAMES = ("first", "vertical", "horizontal", "last")


# --------------------------------------------------------------------------------------------
# validation helpers

def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_shape(shape) -> Shape4:
    """Return ``shape`` as four positive ints ``(Cout, Cin, kh, kw)`` or raise."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise InvalidShapeError(f"kernel shape must be (Cout, Cin, kh, kw), not {shape!r}") from None
    if len(dims) != 4:
        raise InvalidShapeError(
            f"kernel shape must have 4 dimensions (Cout, Cin, kh, kw), not {len(dims)}: {shape!r}")
    if not all(_is_int(d) and d >= 1 for d in dims):
        raise InvalidShapeError(f"kernel shape dimensions must be integers >= 1, not {shape!r}")
    elements = math.prod(int(d) for d in dims)
    if elements > MAX_KERNEL_ELEMENTS:
        raise InvalidShapeError(
            f"kernel shape {'x'.join(map(str, dims))} has {elements:,} elements, above the limit "
            f"of {MAX_KERNEL_ELEMENTS:,} (scanfuse.network.decompose.MAX_KERNEL_ELEMENTS)")
    return tuple(int(d) for d in dims)


def _default_padding(kernel: Pair, padding) -> Pair:
    """``None`` means ``(kh // 2, kw // 2)``: "same" for odd kernels (3x3 -> 1, 7x7 -> 3)."""
    if padding is None:
        return kernel[0] // 2, kernel[1] // 2
    return as_pair("padding", padding, 0)


def _check_rank(rank) -> int:
    if not _is_int(rank) or rank < 1:
        raise InvalidOptionError(f"rank must be an integer >= 1, not {rank!r}")
    if rank > MAX_RANK:
        raise InvalidOptionError(f"rank {rank:,} is above the limit of {MAX_RANK:,} "
                                 f"(scanfuse.network.decompose.MAX_RANK)")
    return int(rank)


# --------------------------------------------------------------------------------------------
# the four-layer sequence, shapes only

@dataclass(frozen=True)
class SequenceLayer:
    """One layer of the decomposed sequence (shapes only).

    ``kind`` is :attr:`LayerKind.POINTWISE` (groups 1) or :attr:`LayerKind.DEPTHWISE`
    (groups == cin == cout == R); kernel, stride and padding are ``(h, w)`` pairs in pixels.
    """

    name: str
    kind: LayerKind
    cin: int
    cout: int
    kernel: Pair
    stride: Pair
    padding: Pair
    groups: int

    def output_hw(self, input_hw: Pair) -> Pair:
        """Output ``(Ho, Wo)`` in pixels for an ``input_hw`` input."""
        return conv2d_output_hw(input_hw, self.kernel, self.stride, self.padding)

    def macs(self, input_hw: Pair) -> int:
        """Multiply-accumulates for one image: ``Ho*Wo*cout*(cin/groups)*kh*kw``."""
        ho, wo = self.output_hw(input_hw)
        return ho * wo * self.cout * (self.cin // self.groups) * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True)
class DecomposedConv:
    """The four layers replacing a ``Cout x Cin x kh x kw`` convolution at rank R."""

    shape: Shape4
    rank: int
    stride: Pair
    padding: Pair
    layers: tuple[SequenceLayer, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "shape", _check_shape(self.shape))
        object.__setattr__(self, "rank", _check_rank(self.rank))
        object.__setattr__(self, "stride", as_pair("stride", self.stride, 1))
        object.__setattr__(self, "padding", as_pair("padding", self.padding, 0))
        cout, cin, kh, kw = self.shape
        r, (sh, sw), (ph, pw) = self.rank, self.stride, self.padding
        pointwise, depthwise = LayerKind.POINTWISE, LayerKind.DEPTHWISE
        layers = (
            SequenceLayer("first", pointwise, cin, r, (1, 1), (1, 1), (0, 0), 1),
            SequenceLayer("vertical", depthwise, r, r, (kh, 1), (sh, 1), (ph, 0), r),
            SequenceLayer("horizontal", depthwise, r, r, (1, kw), (1, sw), (0, pw), r),
            SequenceLayer("last", pointwise, r, cout, (1, 1), (1, 1), (0, 0), 1),
        )
        object.__setattr__(self, "layers", layers)

    def layer_hw(self, input_hw: Pair) -> tuple[Pair, ...]:
        """Input size of every layer followed by the final output size (5 pairs, pixels)."""
        sizes = [tuple(input_hw)]
        for layer in self.layers:
            sizes.append(layer.output_hw(sizes[-1]))
        return tuple(sizes)

    def output_hw(self, input_hw: Pair) -> Pair:
        """Output size in pixels; equals the original convolution's."""
        return self.layer_hw(input_hw)[-1]

    def macs(self, input_hw: Pair) -> int:
        """Total multiply-accumulates of the four layers for one ``input_hw`` image."""
        sizes = self.layer_hw(input_hw)
        return sum(layer.macs(hw) for layer, hw in zip(self.layers, sizes))

    def to_layers(self, input_hw: Pair, prefix: str = "", block: str | None = None) -> tuple[Layer, ...]:
        """The sequence as :class:`~scanfuse.network.layers.Layer` objects named ``prefix + name``."""
        sizes = self.layer_hw(input_hw)
        return tuple(
            Layer(prefix + s.name, s.kind, s.cin, s.cout, s.kernel, s.stride, s.padding, s.groups,
                  hin[0], hin[1], hout[0], hout[1], block)
            for s, hin, hout in zip(self.layers, sizes[:-1], sizes[1:]))


def decomposed_sequence(shape: Shape4, rank: int, stride: int | Pair = 1,
                        padding: int | Pair | None = None) -> DecomposedConv:
    """Describe the four layers replacing a ``shape = (Cout, Cin, kh, kw)`` conv at ``rank``.

    ``stride`` >= 1 and ``padding`` >= 0 are ints or ``(h, w)`` pairs; ``padding=None`` means
    ``(kh // 2, kw // 2)``.
    """
    shape = _check_shape(shape)
    return DecomposedConv(shape, rank, stride, _default_padding(shape[2:], padding))


def conv_macs(shape: Shape4, input_hw: Pair, stride: int | Pair = 1,
              padding: int | Pair | None = None) -> int:
    """Multiply-accumulates of the original convolution for one image: ``Ho*Wo*Cout*Cin*kh*kw``.

    ``input_hw`` is the input ``(H, W)`` in pixels; stride and padding as in
    :func:`decomposed_sequence`.
    """
    cout, cin, kh, kw = _check_shape(shape)
    input_hw = as_pair("input_hw", input_hw, 1)
    ho, wo = conv2d_output_hw(input_hw, (kh, kw), as_pair("stride", stride, 1),
                        _default_padding((kh, kw), padding))
    return ho * wo * cout * cin * kh * kw


def decomposed_macs(shape: Shape4, rank: int, input_hw: Pair, stride: int | Pair = 1,
                    padding: int | Pair | None = None) -> int:
    """Multiply-accumulates of the four-layer sequence for one image.

    ``R * (H*W*Cin + Ho*W*kh + Ho*Wo*kw + Ho*Wo*Cout)``: the first 1x1 runs at the input
    resolution, the vertical layer at ``Ho x W``, the other two at the output resolution.
    """
    return decomposed_sequence(shape, rank, stride, padding).macs(as_pair("input_hw", input_hw, 1))


# --------------------------------------------------------------------------------------------
# rank rules

def _rank_for_mac_ratio(shape: Shape4, ratio, input_hw: Pair, stride, padding) -> int:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.floating, np.integer)) \
            or not math.isfinite(ratio) or ratio <= 0:
        raise InvalidOptionError(f"mac_ratio must be a finite number > 0, not {ratio!r}")
    original = conv_macs(shape, input_hw, stride, padding)
    per_rank = decomposed_macs(shape, 1, input_hw, stride, padding)
    rank = math.floor(ratio * original / per_rank)
    if rank < 1:
        raise InvalidOptionError(
            f"mac_ratio {ratio:g} allows no rank: rank 1 already costs {per_rank / original:.3g} "
            f"x the original MACs")
    return min(rank, MAX_RANK)


def rank_for(shape: Shape4, rule: RankRule, input_hw: Pair = (56, 56), stride: int | Pair = 1,
             padding: int | Pair | None = None) -> int:
    """The CP rank R given by ``rule`` for a ``shape = (Cout, Cin, kh, kw)`` convolution.

    Rules
    -----
    ``"channels"``
        R = Cout, the reproduction default (method.md section 9: R equal to the bottleneck width).
    ``"max3"``
        R = max(shape) // 3, at least 1 (a common heuristic).
    int >= 1
        That rank.
    ``("mac_ratio", r)`` with r > 0
        The largest R whose sequence costs at most ``r`` times the original convolution's MACs
        for an ``input_hw`` input (stride and padding as given), at least 1. The sequence costs
        R times its rank-1 cost, so ``R = max(1, floor(r * conv_macs / decomposed_macs(R=1)))``.

    Raises
    ------
    InvalidOptionError
        Unknown rule, rank < 1 or ratio <= 0.
    InvalidShapeError
        Bad shape, stride, padding or input size.
    """
    shape = _check_shape(shape)
    if _is_int(rule):
        return _check_rank(rule)
    if rule == "channels":
        return shape[0]
    if rule == "max3":
        return max(1, max(shape) // 3)
    if isinstance(rule, tuple) and len(rule) == 2 and rule[0] == "mac_ratio":
        return _rank_for_mac_ratio(shape, rule[1], as_pair("input_hw", input_hw, 1), stride, padding)
    raise InvalidOptionError(
        f"rank rule must be an integer >= 1, 'channels', 'max3' or ('mac_ratio', r > 0), not {rule!r}")


def parse_rank_rule(text: str) -> RankRule:
    """Parse a command-line rank rule: ``"64"``, ``"channels"``, ``"max3"`` or ``"mac_ratio:0.5"``."""
    text = str(text).strip()
    if text.isascii() and text.isdigit():
        return _check_rank(int(text))
    if text in RANK_RULES:
        return text
    name, sep, value = text.partition(":")
    if name == "mac_ratio" and sep:
        try:
            ratio = float(value)
        except ValueError:
            ratio = None
        if ratio is not None and math.isfinite(ratio) and ratio > 0:
            return ("mac_ratio", ratio)
    raise InvalidOptionError(
        f"rank must be an integer >= 1, 'channels', 'max3' or 'mac_ratio:R' with R > 0, not {text!r}")


# --------------------------------------------------------------------------------------------
# factors

def _frozen(array: np.ndarray) -> np.ndarray:
    out = np.array(array, dtype=np.float64)  # a private copy
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class CPFactors:
    """Factor matrices of the four-layer sequence, with the CP weights folded into ``last``.

    Members
    -------
    first : array [R, Cin]
        1x1 convolution Cin -> R; rows have unit L2 norm.
    vertical : array [R, kh]
        kh x 1 depthwise filters (stride (sh, 1), padding (ph, 0)); rows have unit norm.
    horizontal : array [R, kw]
        1 x kw depthwise filters (stride (1, sw), padding (0, pw)); rows have unit norm.
    last : array [Cout, R]
        1x1 convolution R -> Cout carrying lambda; components are ordered by decreasing
        ``||last[:, r]||`` (the norm of each rank-1 term) when produced by :func:`cp_decompose`.
    bias : array [Cout] or None
        The original convolution's bias, added by ``last``.
    stride, padding : (h, w) pairs
        The original convolution's stride (>= 1) and zero padding (>= 0), in pixels.

    Arrays are read-only float64 copies.
    """

    first: np.ndarray
    vertical: np.ndarray
    horizontal: np.ndarray
    last: np.ndarray
    bias: np.ndarray | None = None
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)

    def __post_init__(self):
        for name in LAYER_NAMES:
            value = np.asarray(getattr(self, name))
            if value.ndim != 2:
                raise InvalidShapeError(f"factor {name} must be a 2-D matrix, not shape {value.shape}")
            object.__setattr__(self, name, _frozen(value))
        rank = self.first.shape[0]
        for name in ("vertical", "horizontal"):
            if getattr(self, name).shape[0] != rank:
                raise InvalidShapeError(
                    f"factor {name} has {getattr(self, name).shape[0]} rows, first has {rank}")
        if self.last.shape[1] != rank:
            raise InvalidShapeError(f"factor last has {self.last.shape[1]} columns, first has {rank} rows")
        if min(self.first.shape + self.vertical.shape + self.horizontal.shape + self.last.shape) < 1:
            raise InvalidShapeError("factor matrices must be non-empty")
        if self.bias is not None:
            bias = np.asarray(self.bias)
            if bias.shape != (self.cout,):
                raise InvalidShapeError(f"bias must have shape ({self.cout},), not {bias.shape}")
            object.__setattr__(self, "bias", _frozen(bias))
        object.__setattr__(self, "stride", as_pair("stride", self.stride, 1))
        object.__setattr__(self, "padding", as_pair("padding", self.padding, 0))

    @property
    def rank(self) -> int:
        return self.first.shape[0]

    @property
    def cin(self) -> int:
        return self.first.shape[1]

    @property
    def cout(self) -> int:
        return self.last.shape[0]

    @property
    def kernel(self) -> Pair:
        return self.vertical.shape[1], self.horizontal.shape[1]

    @property
    def shape(self) -> Shape4:
        """Shape ``(Cout, Cin, kh, kw)`` of the convolution the factors replace."""
        return (self.cout, self.cin) + self.kernel

    def sequence(self) -> DecomposedConv:
        """Shapes, strides and paddings of the four layers."""
        return DecomposedConv(self.shape, self.rank, self.stride, self.padding)

    def conv_weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The four layers' weights in :func:`~scanfuse.network.refconv.conv2d` layout.

        ``first [R, Cin, 1, 1]``, ``vertical [R, 1, kh, 1]``, ``horizontal [R, 1, 1, kw]``,
        ``last [Cout, R, 1, 1]``.
        """
        return (self.first[:, :, None, None], self.vertical[:, None, :, None],
                self.horizontal[:, None, None, :], self.last[:, :, None, None])

    def factor_shapes(self) -> dict[str, tuple[int, int]]:
        """Shape of each factor matrix, keyed by layer name."""
        return {name: tuple(getattr(self, name).shape) for name in LAYER_NAMES}


def reconstruct_kernel(factors: CPFactors) -> np.ndarray:
    """Rebuild ``W_hat[Cout, Cin, kh, kw] = sum_r last[o,r] first[r,c] vertical[r,y] horizontal[r,x]``."""
    return np.einsum("or,rc,ry,rx->ocyx", factors.last, factors.first, factors.vertical,
                     factors.horizontal, optimize=True)


def apply_decomposed(x: np.ndarray, factors: CPFactors) -> np.ndarray:
    """Run the four-layer sequence on one image ``x[Cin, H, W]`` with the reference convolution.

    Returns ``y[Cout, Ho, Wo]`` (float64), equal to
    ``conv2d(x, reconstruct_kernel(factors), factors.bias, factors.stride, factors.padding)`` up to
    rounding. Raises :class:`InvalidShapeError` if ``x`` does not have ``Cin`` channels.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[0] != factors.cin:
        raise InvalidShapeError(f"input must have shape [{factors.cin}, H, W], not {x.shape}")
    for spec, weights in zip(factors.sequence().layers, factors.conv_weights()):
        bias = factors.bias if spec.name == "last" else None
        x = conv2d(x, weights, bias, spec.stride, spec.padding, spec.groups)
    return x


# --------------------------------------------------------------------------------------------
# decomposition

@dataclass(frozen=True, eq=False)
class CPDecomposition:
    """Result of :func:`cp_decompose`.

    ``rel_error`` is ``||W - W_hat||_F / ||W||_F`` (0 for an all-zero kernel); ``converged``
    says whether ``rel_error <= tol`` was reached. ``seed`` and ``iterations`` belong to the
    attempt kept (the first to converge, else the one with the lowest error); ``attempts`` is
    how many ALS runs were made (at most ``restarts``).
    """

    factors: CPFactors
    rel_error: float
    converged: bool
    seed: int
    iterations: int
    attempts: int


def _check_kernel(w) -> np.ndarray:
    w = np.asarray(w)
    if w.ndim != 4:
        raise InvalidShapeError(
            f"kernel must be 4-D [Cout, Cin, kh, kw], not {w.ndim}-D with shape {w.shape}")
    _check_shape(w.shape)
    if not np.issubdtype(w.dtype, np.number) or np.iscomplexobj(w):
        raise InvalidOptionError(f"kernel must hold real numbers, not dtype {w.dtype}")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)):
        raise InvalidOptionError("kernel must hold finite numbers (found NaN or inf)")
    return w


def _check_als_options(seed, n_iter_max, tol, stall_tol, init, restarts, rank: int,
                       shape: Shape4) -> None:
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise InvalidOptionError(f"seed must be an integer from 0 to {MAX_SEED:,}, not {seed!r}")
    if not _is_int(restarts) or restarts < 1:
        raise InvalidOptionError(f"restarts must be an integer >= 1, not {restarts!r}")
    if not _is_int(n_iter_max) or not 1 <= n_iter_max <= MAX_ITERATIONS:
        raise InvalidOptionError(f"n_iter_max (--iters) must be an integer from 1 to "
                                 f"{MAX_ITERATIONS:,}, not {n_iter_max!r}")
    for name, value in (("tol", tol), ("stall_tol", stall_tol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise InvalidOptionError(f"{name} must be a number in [0, 1), not {value!r}")
    if init not in INITS:
        raise InvalidOptionError(f"init must be one of {', '.join(INITS)}, not {init!r}")
    if init == "svd" and rank > min(shape):
        raise InvalidOptionError(
            f"init='svd' needs rank <= the smallest kernel dimension ({min(shape)}), not {rank}: "
            f"use init='random'")


def _fold(weights: np.ndarray, factors: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Fold CP weights into the output factor; unit-norm the others; sort terms by norm.

    ``factors`` are tensorly's ``[Uo (Cout x R), Ui (Cin x R), Uh (kh x R), Uw (kw x R)]``.
    Returns ``(first [R, Cin], vertical [R, kh], horizontal [R, kw], last [Cout, R])``.
    """
    uo, *inner = (np.asarray(f, dtype=np.float64) for f in factors)
    scale = np.asarray(weights, dtype=np.float64).copy()
    unit = []
    for u in inner:
        norms = np.linalg.norm(u, axis=0)
        safe = np.where(norms > 0, norms, 1.0)  # an all-zero column stays zero
        unit.append(u / safe)
        scale = scale * norms
    last = uo * scale
    order = np.argsort(-np.linalg.norm(last, axis=0), kind="stable")
    first, vertical, horizontal = (u[:, order].T for u in unit)
    return first, vertical, horizontal, last[:, order]


def _run_als(w: np.ndarray, rank: int, seed: int, n_iter_max: int, tol: float, stall_tol: float,
             init: str):
    """tensorly ALS with our own stop: exact relative error <= tol, or its decrease stalls.

    Stops after the first sweep whose relative error is <= ``tol`` or decreased by less than
    ``stall_tol`` times the previous error (an increase counts as a stall). Returns
    ``(weights, factors, sweeps)``.
    """
    from tensorly.cp_tensor import cp_to_tensor
    from tensorly.decomposition import parafac

    norm = np.linalg.norm(w)
    history: list[float] = []

    def stop(cp, _estimate) -> bool:
        error = float(np.linalg.norm(w - cp_to_tensor(cp)) / norm)
        history.append(error)  # the first call is the initialisation, before any sweep
        if len(history) < 2:
            return False
        return error <= tol or history[-2] - error < stall_tol * history[-2]

    # tol=0 disables tensorly's own (noisy) criterion; return_errors=True keeps it computing
    # the estimate it passes to the callback.
    cp, _ = parafac(w, rank, init=init, random_state=seed, n_iter_max=n_iter_max, tol=0,
                    return_errors=True, callback=stop)
    return cp.weights, cp.factors, len(history) - 1


def cp_decompose(w: np.ndarray, rank: int, bias: np.ndarray | None = None,
                 stride: int | Pair = 1, padding: int | Pair | None = None, *, seed: int = 0,
                 n_iter_max: int = 1000, tol: float = 1e-13, stall_tol: float = 1e-9,
                 init: str = "random", restarts: int = 1) -> CPDecomposition:
    """Rank-``rank`` CP decomposition of ``w[Cout, Cin, kh, kw]`` into the four-layer sequence.

    Parameters
    ----------
    w : array [Cout, Cin, kh, kw]
        Real, finite kernel (converted to float64).
    rank : int >= 1
        Number of CP components R (see :func:`rank_for` for the rules).
    bias : array [Cout] or None
        The convolution's bias, carried by the last layer.
    stride : int or (sh, sw), >= 1
        The convolution's stride; sh goes to the vertical layer, sw to the horizontal one.
    padding : int or (ph, pw), >= 0, or None
        The convolution's zero padding, split the same way; None means ``(kh // 2, kw // 2)``.
    seed : int >= 0
        ``random_state`` of the first ALS initialisation: the same seed gives the same factors.
    n_iter_max : int >= 1
        Maximum number of ALS sweeps. One sweep costs about ``4 * Cout*Cin*kh*kw * R``
        multiply-adds; 64x64x3x3 at R=64 takes tens of milliseconds a sweep.
    tol : float in [0, 1)
        Stop once ``||W - W_hat|| / ||W|| <= tol``. The default is near float64 resolution.
    stall_tol : float in [0, 1)
        Stop once a sweep lowers the relative error by less than ``stall_tol`` times itself.
    init : {"random", "svd"}
        ALS initialisation; ``"svd"`` needs ``rank <= min(w.shape)`` (and makes restarts
        pointless: it does not depend on the seed).
    restarts : int >= 1
        ALS runs to try, with seeds ``seed, seed + 1, ...``; stops at the first that reaches
        ``tol`` and otherwise keeps the lowest error. ALS can stall in a "swamp" even on an
        exactly rank-R kernel, so ask for a few restarts when exactness matters; each failed
        attempt costs up to ``n_iter_max`` sweeps.

    Returns
    -------
    CPDecomposition
        Folded factors, relative reconstruction error, sweeps run and whether ``tol`` was met.

    Raises
    ------
    InvalidShapeError
        Kernel not 4-D or with a zero dimension, bias of the wrong shape, stride < 1, padding < 0.
    InvalidOptionError
        rank < 1, non-finite kernel, or an ALS option out of range.
    """
    w = _check_kernel(w)
    rank = _check_rank(rank)
    shape = tuple(w.shape)
    stride = as_pair("stride", stride, 1)
    padding = _default_padding(shape[2:], padding)
    _check_als_options(seed, n_iter_max, tol, stall_tol, init, restarts, rank, shape)
    cout, cin, kh, kw = shape

    if not np.any(w):  # ALS would divide by zero; the zero kernel is exactly rank 0
        factors = CPFactors(np.zeros((rank, cin)), np.zeros((rank, kh)), np.zeros((rank, kw)),
                            np.zeros((cout, rank)), bias, stride, padding)
        return CPDecomposition(factors, 0.0, True, seed, 0, 0)

    best = None
    for attempt in range(restarts):
        weights, raw, sweeps = _run_als(w, rank, seed + attempt, n_iter_max, tol, stall_tol, init)
        factors = CPFactors(*_fold(weights, raw), bias=bias, stride=stride, padding=padding)
        error = float(np.linalg.norm(w - reconstruct_kernel(factors)) / np.linalg.norm(w))
        if best is None or error < best.rel_error:
            best = CPDecomposition(factors, error, error <= tol, seed + attempt, sweeps, attempt + 1)
        if error <= tol:
            break
    return replace(best, attempts=attempt + 1)


# --------------------------------------------------------------------------------------------
# report for the CLI

@dataclass(frozen=True)
class DecomposeReport:
    """What ``scanfuse decompose`` prints: shapes, MACs and (optionally) the fit of one kernel.

    MACs are for one ``input_hw`` image. ``rel_error`` and ``iterations`` are None when the
    decomposition was not computed (``compute=False``: shapes and MACs only).
    """

    shape: Shape4
    rank: int
    stride: Pair
    padding: Pair
    input_hw: Pair
    output_hw: Pair
    kernel_source: str
    seed: int
    layers: tuple[SequenceLayer, ...]
    layer_macs: tuple[int, ...]
    factor_shapes: tuple[tuple[str, tuple[int, int]], ...]
    macs_original: int
    macs_decomposed: int
    rel_error: float | None
    iterations: int | None

    @property
    def mac_ratio(self) -> float:
        """Decomposed MACs over original MACs."""
        return self.macs_decomposed / self.macs_original

    def to_json(self) -> dict:
        """Plain dicts, lists, strings and numbers (``json.dumps``-ready)."""
        return {
            "shape": list(self.shape),
            "rank": self.rank,
            "stride": list(self.stride),
            "padding": list(self.padding),
            "input_hw": list(self.input_hw),
            "output_hw": list(self.output_hw),
            "kernel": self.kernel_source,
            "seed": self.seed,
            "factors": {name: list(dims) for name, dims in self.factor_shapes},
            "layers": [
                {"name": s.name, "kind": s.kind.value, "cin": s.cin, "cout": s.cout,
                 "kernel": list(s.kernel), "stride": list(s.stride), "padding": list(s.padding),
                 "groups": s.groups, "macs": macs}
                for s, macs in zip(self.layers, self.layer_macs)],
            "macs_original": self.macs_original,
            "macs_decomposed": self.macs_decomposed,
            "mac_ratio": self.mac_ratio,
            "rel_error": self.rel_error,
            "iterations": self.iterations,
        }


def random_kernel(shape: Shape4, seed: int = 0) -> np.ndarray:
    """A seeded standard-normal kernel of ``shape`` (numpy ``default_rng(seed)``)."""
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise InvalidOptionError(f"seed must be an integer from 0 to {MAX_SEED:,}, not {seed!r}")
    return np.random.default_rng(seed).standard_normal(_check_shape(shape))


def decompose_report(shape: Shape4, rank: RankRule, stride: int | Pair = 1,
                     kernel: np.ndarray | None = None, input_hw: Pair = (56, 56),
                     padding: int | Pair | None = None, *, seed: int = 0, n_iter_max: int = 1000,
                     restarts: int = 1, compute: bool = True) -> DecomposeReport:
    """Decompose one convolution and report factor shapes, MACs and reconstruction error.

    Parameters
    ----------
    shape : (Cout, Cin, kh, kw)
        The convolution's weight shape (all >= 1).
    rank : int >= 1 or rule
        Rank or rank rule, see :func:`rank_for`.
    stride, padding
        As in :func:`cp_decompose`.
    kernel : array of ``shape`` or None
        The weights to decompose; None uses :func:`random_kernel` ``(shape, seed)``.
    input_hw : (H, W)
        Input size in pixels for the MAC counts (default ResNet-50 conv2_x, 56x56).
    seed, n_iter_max, restarts
        Passed to :func:`cp_decompose` (seed also seeds the random kernel).
    compute : bool
        False skips the ALS (shapes and MACs only; ``rel_error`` is None).

    Raises
    ------
    InvalidShapeError
        Bad shape, kernel not matching ``shape``, stride, padding or input size out of range.
    InvalidOptionError
        Bad rank rule or ALS option.
    """
    shape = _check_shape(shape)
    input_hw = as_pair("input_hw", input_hw, 1)
    r = rank_for(shape, rank, input_hw, stride, padding)
    if compute:
        _check_als_options(seed, n_iter_max, 0.0, 0.0, "random", restarts, r, shape)
    sequence = decomposed_sequence(shape, r, stride, padding)
    if kernel is not None:
        kernel = _check_kernel(kernel)
        if tuple(kernel.shape) != shape:
            raise InvalidShapeError(f"kernel has shape {tuple(kernel.shape)}, expected {shape}")
    rel_error = iterations = None
    if compute:
        w = random_kernel(shape, seed) if kernel is None else kernel
        result = cp_decompose(w, r, None, sequence.stride, sequence.padding, seed=seed,
                              n_iter_max=n_iter_max, restarts=restarts)
        rel_error, iterations = result.rel_error, result.iterations
    sizes = sequence.layer_hw(input_hw)
    cout, cin, kh, kw = shape
    factor_shapes = (("first", (r, cin)), ("vertical", (r, kh)), ("horizontal", (r, kw)), ("last", (cout, r)))
    return DecomposeReport(
        shape=shape, rank=r, stride=sequence.stride, padding=sequence.padding, input_hw=input_hw,
        output_hw=sizes[-1], kernel_source="random" if kernel is None else "given", seed=seed,
        layers=sequence.layers, layer_macs=tuple(s.macs(hw) for s, hw in zip(sequence.layers, sizes)),
        factor_shapes=factor_shapes, macs_original=conv_macs(shape, input_hw, stride, padding),
        macs_decomposed=sequence.macs(input_hw), rel_error=rel_error, iterations=iterations)
