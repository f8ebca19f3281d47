"""The fused-block descriptor: one inverted-residual block ``[1x1] -> depthwise -> 1x1 (+ X)``,
or a CP chain ``1x1 -> 3x1 depthwise -> 1x3 depthwise -> 1x1`` (``dw2``), as the :class:`~scanfuse.hw.block_engine.BlockEngine` runs it, and its legality rules.

One layout, defined once (:class:`FusedDescriptor`, an Amaranth ``data.StructLayout``): the
driver (:mod:`scanfuse.program.fused_block`) packs it with ``FusedDescriptor(bcfg).const(...)``
and the engine takes it on its ``desc`` port. The rules are written once,
:func:`fused_rules`, with the operators that mean the same on Python integers and on Amaranth
values (``+ * & | == != > >=``, like :func:`scanfuse.hw.program.descriptor_rules`):
:func:`check_fused` evaluates them on integers and :class:`FusedChecker` elaborates the very
same expressions into gates, so the two cannot drift apart. An illegal descriptor gives an
error code (:class:`FusedError`), never a hang.

The block's numerics are issue 15's (``scanfuse.sim.fused_golden``): symmetric int8
activations and weights, ``acc = sum(x * w) + bias`` in int32 per stage, each stage's int8
output from its :class:`~scanfuse.hw.requant.RequantParams`, depthwise padding with zeros,
residual ``y = clamp(requant(acc_project) + x, -128, 127)``.

Geometry of the schedule (strips outer, hidden chunks inner; :class:`BlockOrder`): the output
is cut into ``strips`` strips of ``strip_rows`` full-width output rows (the last may be
shorter); for each strip the engine reads the X rows the strip's depthwise windows need that the previous
strip did not (the X buffer is a ring of ``x_rows_bound`` rows: the halo rows two strips share
stay on chip, so every X row is read once), and for each of ``chunks`` hidden
chunks of ``chunk`` channels it computes the expand GEMM of those rows, the depthwise outputs
of the strip, and the project GEMM of the chunk, accumulating over chunks on chip. Weights and
the chunk's biases are read once when ``chunks == 1`` (they stay on chip for every strip),
otherwise once per strip and chunk, the next chunk's W1 and W2 prefetched into the other half
of their memories while the running chunk's expand GEMM runs (so W1 and W2 hold two chunks).
The hidden tensors never leave the chip.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Shape, Signal, Value, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from .params import DIM_BITS, AccelConfig, round_up
from .program import _Word, _misaligned
from .requant import RequantParams

__all__ = ["BlockConfig", "Kernel", "BlockOrder", "FusedError", "FUSED_RULE_TEXT",
           "FusedDescriptor", "fused_rules", "FUSED_RULE_INPUTS", "check_fused",
           "FusedChecker", "DW_WORD_BEATS", "x_rows_bound"]

#: AXI beats (= bytes / axi_bytes) of one depthwise weight word: 9 taps x lanes int8 and
#: lanes int32 biases, lanes = axi_bytes (:class:`scanfuse.hw.depthwise.DwWeights`).
DW_WORD_BEATS = 13


@dataclass(frozen=True)
class BlockConfig:
    """Parameters of the fused-block engine: the PE array and bus of ``accel``, and the
    capacities of its on-chip memories (entries = bytes for int8, accumulators for int32).

    Attributes
    ----------
    accel : AccelConfig
        PE array ``rows x cols`` and AXI width; needs :meth:`AccelConfig.check_engine` and
        ``cols == axi_bytes`` (one hidden-channel group of ``cols`` channels is one AXI beat, one
        depthwise lane group and one PE-array column block).
    x_entries : int
        X ring (int8): a strip's input rows, ``round_up(W, rows) * Cin`` bytes each.
    d_entries : int
        Depthwise-output buffer (int8): ``round_up(strip pixels, rows) * chunk``.
    p_entries : int
        Project accumulators (int32): ``strip_rows * Wo * Cout``.
    w1_entries, w2_entries : int
        Expand and project weight chunks (int8): ``Cin * chunk`` and ``chunk * Cout``, twice
        that when a block has several chunks (the next one is prefetched).
    max_chunk : int
        Most hidden channels of one chunk (depthwise lanes x groups, chunk biases).
    max_cout : int
        Most output channels (project biases).
    max_width : int
        Widest input row, pixels (the depthwise line buffer).
    cp : bool
        The engine has the second (1x3) depthwise unit of CP chains (descriptor ``dw2``): its
        weight words and line buffer add ``13 * max_chunk + 2 * max_width * max_chunk`` bytes.
        Without it a ``dw2`` descriptor is refused (``BAD_KERNEL``).
    """

    accel: AccelConfig = AccelConfig()
    x_entries: int = 16384
    d_entries: int = 16384
    p_entries: int = 8192
    w1_entries: int = 16384
    w2_entries: int = 16384
    max_chunk: int = 192
    max_cout: int = 320
    max_width: int = 112
    cp: bool = True

    def __post_init__(self):
        if not isinstance(self.accel, AccelConfig):
            raise TypeError(f"accel must be an AccelConfig, not {self.accel!r}")
        self.accel.check_engine()
        if self.accel.cols != self.accel.axi_bytes:
            raise ValueError(f"the block engine needs cols == axi_bytes (one channel group per "
                             f"beat), not cols={self.accel.cols}, axi_bytes={self.accel.axi_bytes}")
        if not isinstance(self.cp, bool):
            raise ValueError(f"cp must be a bool, not {self.cp!r}")
        lane = self.lane
        words = {"x_entries": self.accel.rows * lane, "d_entries": self.accel.rows * lane,
                 "p_entries": lane, "w1_entries": lane, "w2_entries": lane,
                 "max_chunk": lane, "max_cout": lane, "max_width": 1}
        for name, word in words.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1 << 24:
                raise ValueError(f"{name} must be an integer in 1..2**24, not {value!r}")
            if value % word:
                raise ValueError(f"{name} ({value}) must be a multiple of {word} "
                                 f"(whole memory words)")

    @property
    def lane(self) -> int:
        """Channels per group (= cols = axi_bytes)."""
        return self.accel.cols

    @property
    def on_chip_bytes(self) -> int:
        """Bytes of the engine's block memories (X, D, P, W1, W2, chunk and project biases,
        each depthwise unit's weights and two line-buffer rows)."""
        dw = DW_WORD_BEATS * self.max_chunk + 2 * self.max_width * self.max_chunk
        return (self.x_entries + self.d_entries + 4 * self.p_entries + self.w1_entries
                + self.w2_entries + 4 * self.max_chunk + 4 * self.max_cout
                + dw * (1 + self.cp))


class Kernel(enum.Enum, shape=2):
    """Depthwise kernel (of the first depthwise stage). 3x1 and 1x3 are loaded as the centre
    column / row of the 3x3 taps (:func:`scanfuse.hw.depthwise.kernel_offset`); code 3 is
    illegal (``BAD_KERNEL``). A CP chain (``dw2``) has ``K3X1`` here, stride ``(stride_h, 1)``,
    and its second stage is a 1x3 of stride ``(1, stride_w)``."""

    K3X3 = 0
    K3X1 = 1
    K1X3 = 2

    @property
    def shape(self) -> tuple[int, int]:
        return {Kernel.K3X3: (3, 3), Kernel.K3X1: (3, 1), Kernel.K1X3: (1, 3)}[self]


class BlockOrder(enum.Enum, shape=1):
    """The fused loop nest: strips outer, hidden chunks inner (``docs/fusion.md``'s
    ``strips`` mode, raster). Code 1 (chunks outer) is not implemented: ``BAD_ORDER``."""

    STRIPS = 0


class FusedError(enum.Enum, shape=5):
    """Why a fused descriptor is illegal: the first rule broken, in this order."""

    NONE = 0
    ZERO_DIM = 1
    ZERO_SCHEDULE = 2
    BAD_CHANNELS = 3
    BAD_STRIDE = 4
    BAD_KERNEL = 5
    BAD_GEOMETRY = 6
    BAD_STRIPS = 7
    BAD_CHUNKS = 8
    BAD_EXPAND = 9
    BAD_RESIDUAL = 10
    BAD_ORDER = 11
    ROW_TOO_LONG = 12
    WIDTH_OVERFLOW = 13
    X_OVERFLOW = 14
    D_OVERFLOW = 15
    P_OVERFLOW = 16
    W1_OVERFLOW = 17
    W2_OVERFLOW = 18
    CHUNK_OVERFLOW = 19
    COUT_OVERFLOW = 20


#: One line per rule (messages and docs/tile-program.md).
FUSED_RULE_TEXT: dict[FusedError, str] = {
    FusedError.NONE: "legal",
    FusedError.ZERO_DIM: "H, W, Ho, Wo, cin, hidden or cout is 0",
    FusedError.ZERO_SCHEDULE: "strip_rows, strips, chunk or chunks is 0",
    FusedError.BAD_CHANNELS: "cin, hidden, cout or chunk is not a multiple of the lane (cols)",
    FusedError.BAD_STRIDE: "stride_h or stride_w is not 1 or 2",
    FusedError.BAD_KERNEL: ("kernel is the reserved code 3, or dw2 with a kernel other than 3x1 "
                            "or on an engine without the second depthwise unit (cp)"),
    FusedError.BAD_GEOMETRY: "Ho != (H - 1) // stride_h + 1 or Wo != (W - 1) // stride_w + 1",
    FusedError.BAD_STRIPS: "strips * strip_rows < Ho, or (strips - 1) * strip_rows >= Ho",
    FusedError.BAD_CHUNKS: "chunk * chunks != hidden",
    FusedError.BAD_EXPAND: "no expand stage but cin != hidden",
    FusedError.BAD_RESIDUAL: "residual with cin != cout or a stride other than 1",
    FusedError.BAD_ORDER: "order is not STRIPS (0)",
    FusedError.ROW_TOO_LONG: ("a DMA row exceeds 65535 bytes: an X row (W * cin), the chunk's "
                                       "depthwise words (13 * chunk) or biases (4 * chunk, "
                                       "4 * cout)"),
    FusedError.WIDTH_OVERFLOW: "W > max_width",
    FusedError.X_OVERFLOW: ("((strip_rows - 1) * stride_h + 3) * round_up(W, rows) * cin "
                            "> x_entries"),
    FusedError.D_OVERFLOW: "round_up(strip_rows * Wo, rows) * chunk > d_entries",
    FusedError.P_OVERFLOW: "strip_rows * Wo * cout > p_entries",
    FusedError.W1_OVERFLOW: ("cin * chunk > w1_entries, or with chunks > 1 (the next chunk "
                             "prefetched) 2 * cin * chunk > w1_entries"),
    FusedError.W2_OVERFLOW: ("chunk * cout > w2_entries, or with chunks > 1 "
                             "2 * chunk * cout > w2_entries"),
    FusedError.CHUNK_OVERFLOW: "chunk > max_chunk",
    FusedError.COUT_OVERFLOW: "cout > max_cout",
}

_ADDRS = ("x_base", "y_base", "w1_base", "b1_base", "wd_base", "w2_base", "b2_base")
_DIMS = ("H", "W", "Ho", "Wo", "cin", "hidden", "cout", "strip_rows", "strips", "chunk", "chunks")
#: The three requantisation records, in stage order.
REQUANT_FIELDS = ("rq_expand", "rq_dw", "rq_project", "rq_dw2")


class FusedDescriptor(data.StructLayout):
    """One fused block, from bit 0 up (widths for the default configuration in brackets):

    ==============================  ===============  ============================================
    field                           width            meaning
    ==============================  ===============  ============================================
    x_base, y_base                  addr_bits [32]   DRAM byte address of X[0,0,0] / Y[0,0,0]
                                                     (NHWC int8, dense)
    w1_base, b1_base                addr_bits        expand weights (cin, hidden) int8 and
                                                     biases (hidden,) int32 (unused without
                                                     expand)
    wd_base                         addr_bits        depthwise weight words, hidden / lane of
                                                     them, 13 beats each (:class:`DwWeights`)
    w2_base, b2_base                addr_bits        project weights (hidden, cout) int8 and
                                                     biases (cout,) int32
    H, W, Ho, Wo                    16 each          input and output rows / columns
    cin, hidden, cout               16 each          channels (multiples of the lane)
    strip_rows, strips              16 each          Tr output rows per strip; strip count
    chunk, chunks                   16 each          Tc hidden channels per chunk; chunk count
    kernel                          2                :class:`Kernel`
    stride_h, stride_w              2 each           1 or 2
    expand, residual                1 each           expand stage present; Y += X
    order                           1                :class:`BlockOrder`
    rq_expand, rq_dw, rq_project    55 each          :class:`RequantParams` per stage
    wd2_base                        addr_bits        second depthwise stage's weight words (dw2)
    dw2                             1                CP chain: a 1x3 depthwise stage of stride
                                                     (1, stride_w) follows the 3x1 one (whose
                                                     stride is (stride_h, 1))
    rq_dw2                          55               :class:`RequantParams` of that stage
    reserved                        pad              zero; to a whole number of AXI beats
    ==============================  ===============  ============================================
    """

    def __init__(self, bcfg: BlockConfig = BlockConfig()):
        if not isinstance(bcfg, BlockConfig):
            raise TypeError(f"bcfg must be a BlockConfig, not {bcfg!r}")
        cfg = bcfg.accel
        fields = {name: unsigned(cfg.addr_bits) for name in _ADDRS}
        fields |= {name: unsigned(DIM_BITS) for name in _DIMS}
        fields |= {"kernel": Kernel, "stride_h": unsigned(2), "stride_w": unsigned(2),
                   "expand": unsigned(1), "residual": unsigned(1), "order": BlockOrder}
        fields |= {name: RequantParams for name in REQUANT_FIELDS[:3]}
        # The CP chain's second depthwise stage (after the original fields: their offsets
        # stay).
        fields |= {"wd2_base": unsigned(cfg.addr_bits), "dw2": unsigned(1),
                   "rq_dw2": RequantParams}
        used = data.StructLayout(fields).size
        fields["reserved"] = unsigned(-used % cfg.axi_data_bits)
        self.bcfg = bcfg
        self.used_bits = used
        super().__init__(fields)

    @property
    def size_bytes(self) -> int:
        return self.size // 8

    def pack(self, fields) -> int:
        """The descriptor's bits from ``fields`` (a mapping; the requant records as mappings
        of :class:`RequantParams` members), enum fields as members or raw integer codes, so an
        illegal code (kernel 3, order 1) can be encoded for the checker to refuse. Missing
        fields are 0. Raises ``ValueError`` if a value does not fit its field."""
        bits = 0
        for name, fld in self:
            if name == "reserved" or name not in fields:
                continue
            if name in REQUANT_FIELDS:
                sub = data.Layout.cast(RequantParams)
                for leaf, lf in sub:
                    value, width = _code(fields[name].get(leaf, 0)), lf.width
                    if isinstance(lf.shape, Shape) and lf.shape.signed:
                        if not -(1 << width - 1) <= value < 1 << width - 1:
                            raise ValueError(f"{name}.{leaf}={value} is not a signed "
                                             f"{width}-bit value")
                        value &= (1 << width) - 1
                    bits |= _fit(f"{name}.{leaf}", value, width) << (fld.offset + lf.offset)
                continue
            bits |= _fit(name, _code(fields[name]), fld.width) << fld.offset
        return bits


def _fit(name: str, value: int, width: int) -> int:
    if not 0 <= value < 1 << width:
        raise ValueError(f"{name}={value} does not fit in {width} bits")
    return value


def x_rows_bound(strip_rows: int, stride_h: int) -> int:
    """Input rows a strip of ``strip_rows`` output rows may need, halo included (the X buffer
    rule's bound): ``(strip_rows - 1) * stride_h + 3``."""
    return (strip_rows - 1) * stride_h + 3


def fused_rules(bcfg: BlockConfig, f):
    """The legality rules in :class:`FusedError` order: ``[(error, condition), ...]``.

    ``f`` has the attributes of :data:`FUSED_RULE_INPUTS` as Python ints (conditions are
    bools) or as :class:`~scanfuse.hw.program._Word` values (1-bit Amaranth values).
    """
    cfg = bcfg.accel
    lane, rows = bcfg.lane, cfg.rows
    sh, sw = f.stride_h, f.stride_w
    wpad = round_up(f.W, rows)
    strip_px = f.strip_rows * f.Wo
    rules = [
        (FusedError.ZERO_DIM, (f.H == 0) | (f.W == 0) | (f.Ho == 0) | (f.Wo == 0)
         | (f.cin == 0) | (f.hidden == 0) | (f.cout == 0)),
        (FusedError.ZERO_SCHEDULE, (f.strip_rows == 0) | (f.strips == 0) | (f.chunk == 0)
         | (f.chunks == 0)),
        (FusedError.BAD_CHANNELS, _misaligned(f.cin, lane) | _misaligned(f.hidden, lane)
         | _misaligned(f.cout, lane) | _misaligned(f.chunk, lane)),
        (FusedError.BAD_STRIDE, (sh == 0) | (sh == 3) | (sw == 0) | (sw == 3)),
        (FusedError.BAD_KERNEL, (f.kernel >= len(Kernel))
         | ((f.dw2 == 1) & (f.kernel != Kernel.K3X1.value)) | (f.dw2 > int(bcfg.cp))),
        # Ho == (H - 1) // sh + 1  <=>  (Ho - 1) * sh + 1 <= H <= Ho * sh.
        (FusedError.BAD_GEOMETRY, (f.Ho * sh + 1 > f.H + sh) | (f.H > f.Ho * sh)
         | (f.Wo * sw + 1 > f.W + sw) | (f.W > f.Wo * sw)),
        (FusedError.BAD_STRIPS, (f.Ho > f.strips * f.strip_rows)
         | (f.strips * f.strip_rows >= f.Ho + f.strip_rows)),
        (FusedError.BAD_CHUNKS, f.chunk * f.chunks != f.hidden),
        (FusedError.BAD_EXPAND, (f.expand == 0) & (f.cin != f.hidden)),
        (FusedError.BAD_RESIDUAL, (f.residual == 1) & ((f.cin != f.cout) | (sh != 1) | (sw != 1))),
        (FusedError.BAD_ORDER, f.order >= len(BlockOrder)),
        (FusedError.ROW_TOO_LONG, (f.W * f.cin > (1 << DIM_BITS) - 1)
         | (f.chunk * DW_WORD_BEATS > (1 << DIM_BITS) - 1)
         | (f.chunk * 4 > (1 << DIM_BITS) - 1) | (f.cout * 4 > (1 << DIM_BITS) - 1)),
        (FusedError.WIDTH_OVERFLOW, f.W > bcfg.max_width),
        # ((strip_rows - 1) * sh + 3) * wpad * cin > x_entries, with the - 1 moved across.
        (FusedError.X_OVERFLOW, (f.strip_rows * sh + 3) * wpad * f.cin
         > bcfg.x_entries + sh * wpad * f.cin),
        (FusedError.D_OVERFLOW, round_up(strip_px, rows) * f.chunk > bcfg.d_entries),
        (FusedError.P_OVERFLOW, strip_px * f.cout > bcfg.p_entries),
        # Several chunks: two chunks' weights (the running one and the prefetched next).
        (FusedError.W1_OVERFLOW, (f.cin * f.chunk > bcfg.w1_entries)
         | ((f.chunks != 1) & (f.cin * f.chunk * 2 > bcfg.w1_entries))),
        (FusedError.W2_OVERFLOW, (f.chunk * f.cout > bcfg.w2_entries)
         | ((f.chunks != 1) & (f.chunk * f.cout * 2 > bcfg.w2_entries))),
        (FusedError.CHUNK_OVERFLOW, f.chunk > bcfg.max_chunk),
        (FusedError.COUT_OVERFLOW, f.cout > bcfg.max_cout),
    ]
    assert [e for e, _ in rules] == list(FusedError)[1:]
    return rules


class _Reads:
    def __init__(self):
        self.names: list[str] = []

    def __getattr__(self, name):
        if name not in self.names:
            self.names.append(name)
        return 1


def _rule_inputs() -> tuple[str, ...]:
    reads = _Reads()
    fused_rules(BlockConfig(), reads)
    return tuple(reads.names)


#: The descriptor fields the rules read, derived from :func:`fused_rules` itself.
FUSED_RULE_INPUTS = _rule_inputs()


def _code(value) -> int:
    return value.value if isinstance(value, enum.Enum) else int(value)


def check_fused(bcfg: BlockConfig, fields) -> FusedError:
    """The first rule of :func:`fused_rules` that ``fields`` (a mapping or an object with
    attributes; enums as members or codes) break, or ``NONE``. A missing ``dw2`` is 0 (fields
    written before the CP chain's fields describe a one-depthwise block)."""
    if isinstance(fields, Mapping):
        get = lambda n: fields.get(n, 0) if n == "dw2" else fields[n]   # noqa: E731
    else:
        get = lambda n: getattr(fields, n, 0) if n == "dw2" else getattr(fields, n)  # noqa: E731
    f = SimpleNamespace(**{name: _code(get(name)) for name in FUSED_RULE_INPUTS})
    for error, broken in fused_rules(bcfg, f):
        if broken:
            return error
    return FusedError.NONE


def _rule_width(bcfg: BlockConfig) -> int:
    """Bits holding every intermediate of :func:`fused_rules`: products of up to three
    16-bit fields and the capacities."""
    return 3 * (DIM_BITS + 2) + bits_for(max(bcfg.x_entries, bcfg.d_entries, bcfg.p_entries,
                                              bcfg.w1_entries, bcfg.w2_entries)) + 4


class FusedChecker(wiring.Component):
    """Checks a :class:`FusedDescriptor` against :func:`fused_rules`, one per cycle, latency 1:
    ``desc`` presented with ``valid`` in cycle ``t`` has its verdict on ``error`` (held until
    the next check) with ``done`` high in cycle ``t + 1``.

    Members
    -------
    desc : ``In(FusedDescriptor(bcfg))``
    valid : ``In(1)``
    error : ``Out(FusedError)``
    done : ``Out(1)``
    """

    LATENCY = 1

    def __init__(self, bcfg: BlockConfig = BlockConfig()):
        if not isinstance(bcfg, BlockConfig):
            raise TypeError(f"bcfg must be a BlockConfig, not {bcfg!r}")
        self._bcfg = bcfg
        super().__init__({
            "desc": In(FusedDescriptor(bcfg)),
            "valid": In(1),
            "error": Out(FusedError),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        width = _rule_width(self._bcfg)
        f = SimpleNamespace(**{name: _Word(Value.cast(self.desc[name]), width)
                                for name in FUSED_RULE_INPUTS})
        code = FusedError.NONE.value
        for error, broken in reversed(fused_rules(self._bcfg, f)):
            code = Mux(broken, error.value, code)
        verdict = Signal(FusedError)
        m.d.comb += verdict.eq(code)
        m.d.sync += self.done.eq(self.valid)
        with m.If(self.valid):
            m.d.sync += self.error.eq(verdict)
        return m
