"""The tile program: one fixed-size layer descriptor per GEMM layer, and its legality rules.

The engine fetches a *tile program* from DRAM: a sequence of :class:`LayerDescriptor` records,
each a whole number of AXI beats, the last one flagged by ``last``. The driver
(:mod:`scanfuse.program.descriptors`) packs descriptors with this very layout (style P4), so the bit
positions live in one place.

Legality is defined once, by :func:`descriptor_rules`: a list of ``(DescriptorError, condition)``
pairs written only with operators that mean the same on Python integers and on Amaranth values
(``+ * & | == != > >=``). :func:`check_descriptor` evaluates it on plain Python values and
:class:`DescriptorChecker` elaborates the very same expressions into gates, so software and
hardware cannot drift apart. The on-chip footprint of a tiling is :func:`tile_footprints`, the
one place to change if tiles are ever padded to array-width words.

Bit order is Amaranth's: the first field starts at bit 0, and the driver writes the integer
``Layout.const(...).as_bits()`` little-endian, so bit ``i`` of the descriptor is bit ``i % 8``
of byte ``i // 8`` (byte lane ``j`` of AXI beat ``b`` holds byte ``b * axi_bytes + j``).
See ``docs/tile-program.md`` for the field table (checked against this layout by
``tests/hw/test_descriptor_contract.py``).
"""

from collections.abc import Mapping
from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from .params import DIM_BITS, AccelConfig, round_up, split_footprints
from .multiplier import multiplier_latency
from .product import WideProduct
from .requant import RequantParams

__all__ = ["DIM_BITS", "LoopOrder", "Visit", "OutMode", "DescriptorError", "RULE_TEXT", "RULE_INPUTS",
           "GemmDesc", "WALK", "descriptor_field", "LayerDescriptor",
           "offset_bits", "tile_footprints", "descriptor_rules", "check_descriptor",
           "DescriptorChecker"]


class LoopOrder(enum.Enum, shape=3):
    """Loop order, outermost index first; member ``X.value`` is the planner's
    ``LOOP_ORDERS.index(x)`` (checked where the two meet, :mod:`scanfuse.program.bridges`).

    Codes 6 and 7 of the 3-bit field are illegal (:attr:`DescriptorError.BAD_LOOP_ORDER`).
    """

    MNK = 0
    MKN = 1
    NMK = 2
    NKM = 3
    KMN = 4
    KNM = 5

    @property
    def letters(self) -> str:
        """The planner's string for this order, e.g. ``'mnk'``."""
        return self.name.lower()


class Visit(enum.Enum, shape=1):
    """Visit order: raster (plain nested loops) or Scan (boustrophedon at every level)."""

    RASTER = 0
    SCAN = 1


class OutMode(enum.Enum, shape=2):
    """What a layer writes to DRAM. Codes 2 and 3 are reserved (``BAD_MODE``)."""

    RAW_INT32 = 0   #: the int32 accumulators, 4 bytes per C element
    INT8 = 1        #: requantised int8 (``requant`` applies), 1 byte per C element

    @property
    def elem_bytes(self) -> int:
        """Bytes per C element in DRAM (``c_elem_bytes``)."""
        return 4 if self is OutMode.RAW_INT32 else 1


class DescriptorError(enum.Enum, shape=4):
    """Why a descriptor is illegal: the first rule broken, in this (enum) order."""

    NONE = 0
    ZERO_DIM = 1
    ZERO_TILE = 2
    TILE_TOO_BIG = 3
    A_OVERFLOW = 4
    B_OVERFLOW = 5
    C_OVERFLOW = 6
    BAD_LOOP_ORDER = 7
    BAD_ALIGNMENT = 8
    BAD_MODE = 9
    BAD_OFFSET = 10


#: One line per rule, for error messages and the documentation.
RULE_TEXT: dict[DescriptorError, str] = {
    DescriptorError.NONE: "legal",
    DescriptorError.ZERO_DIM: "M, K or N is 0",
    DescriptorError.ZERO_TILE: "tm, tk or tn is 0",
    DescriptorError.TILE_TOO_BIG: "a tile size exceeds its dimension (tm > M, tk > K or tn > N)",
    DescriptorError.A_OVERFLOW: "a_off + A footprint (padded tm*tk, x2 double-buffered) > a_entries",
    DescriptorError.B_OVERFLOW: "b_off + B footprint (tk*padded tn, x2 double-buffered) > b_entries",
    DescriptorError.C_OVERFLOW: "c_off + C footprint (tm*padded tn, x2 double-buffered) > c_entries",
    DescriptorError.BAD_LOOP_ORDER: "loop_order is the reserved code 6 or 7",
    DescriptorError.BAD_ALIGNMENT: ("p_base or p_stride not a multiple of 4, or RAW_INT32 output "
                                    "with c_base or c_stride not a multiple of 4"),
    DescriptorError.BAD_MODE: "out_mode is the reserved code 2 or 3",
    DescriptorError.BAD_OFFSET: "a_off, b_off or c_off is not a whole memory word (cfg.word_entries)",
}


def offset_bits(entries: int) -> int:
    """Width of an on-chip offset into a memory of ``entries`` elements (addresses 0..entries-1)."""
    return bits_for(entries - 1)


class GemmDesc(data.StructLayout):
    """The walk of one GEMM: the ``walk`` struct of :class:`LayerDescriptor`, taken whole by the
    :class:`~scanfuse.hw.addrgen.TileAddressGenerator` (its ``desc`` stream payload).

    One definition for both: the sequencer connects ``desc.walk`` to the generator without
    copying fields.

    Parameters
    ----------
    dim_bits : int
        Width of every dimension and tile size (:data:`DIM_BITS` in a descriptor).

    Members, from bit 0 up
    ----------------------
    M, K, N : ``unsigned(dim_bits)``
        GEMM dimensions ``C[M,N] = A[M,K] . B[K,N]``, each in ``1 .. 2**dim_bits - 1``.
    tm, tn, tk : ``unsigned(dim_bits)``
        Full tile sizes, each in ``1 .. dim``.
    loop_order : :class:`LoopOrder`
    visit : :class:`Visit`
    """

    #: Member names in bit order.
    FIELDS = ("M", "K", "N", "tm", "tn", "tk", "loop_order", "visit")

    def __init__(self, dim_bits: int = DIM_BITS):
        self.dim_bits = dim_bits
        super().__init__({
            **{name: unsigned(dim_bits) for name in self.FIELDS[:6]},
            "loop_order": LoopOrder,
            "visit": Visit,
        })

    def raw_const(self, **fields: int) -> data.Const:
        """A walk from raw field integers, unchecked (missing fields are 0).

        For bring-up and tests: it can encode what
        :func:`scanfuse.program.bridges.gemm_desc` refuses, such as a zero
        dimension or loop-order code 6.
        """
        bits = 0
        for name, value in fields.items():
            field = self[name]
            width = field.width
            if not 0 <= int(value) < (1 << width):
                raise ValueError(f"{name}={value} does not fit in {width} bits")
            bits |= int(value) << field.offset
        return data.Const(self, bits)


#: Top-level :class:`LayerDescriptor` field that holds a :class:`GemmDesc`.
WALK = "walk"


def descriptor_field(desc, name: str):
    """Field ``name`` of a descriptor view (Amaranth ``data.View`` or ``data.Const``), looking
    inside the ``walk`` struct for its members: ``descriptor_field(d, "tm")`` is
    ``d.walk.tm``. The names are those of :data:`RULE_INPUTS` and of the driver's flat
    ``DescriptorFields``."""
    return desc[WALK][name] if name in GemmDesc.FIELDS else desc[name]


class LayerDescriptor(data.StructLayout):
    """One layer of the tile program: ``C[M,N] = A[M,K] . B[K,N]`` with its tiling and buffers.

    Fields, from bit 0 up (widths for ``cfg``; in brackets for the default ``AccelConfig()``):

    ======================  =====================  ==============================================
    field                   width                  meaning
    ======================  =====================  ==============================================
    a_base, b_base, c_base  addr_bits each [32]    DRAM byte address of element (0, 0)
    a_stride, b_stride,     addr_bits each [32]    DRAM bytes from one row to the next
    c_stride
    p_base, p_stride        addr_bits each [32]    int32 partial-sum scratch (M x N): where C
                                                   tiles are spilled and reloaded when K is
                                                   split; multiples of 4
    walk                    100                    :class:`GemmDesc`: M, K, N (16 each, 1..65535),
                                                   tm, tn, tk (16 each, 1..dim), loop_order (3,
                                                   :class:`LoopOrder`), visit (1,
                                                   :class:`Visit`); what the address generator
                                                   walks
    requant                 55                     :class:`~scanfuse.hw.requant.RequantParams`
                                                   (INT8 mode; write 0 in RAW_INT32 mode)
    a_off                   bits_for(a_entries-1)  first A entry of the tile region [14]
    b_off                   bits_for(b_entries-1)  first B entry [14]
    c_off                   bits_for(c_entries-1)  first C accumulator [13]
    out_mode                2                      :class:`OutMode`
    last                    1                      last descriptor of the program
    reserved                pad                    zero; pads to a whole number of AXI beats
    ======================  =====================  ==============================================

    The wide fields come first so that, with ``addr_bits`` a multiple of 8, addresses, strides
    and the walk's dimensions sit on byte boundaries of a hex dump. Default configuration: 455
    used bits, 512 in all = 64 bytes = 8 beats of 64 bits (:attr:`size_bytes`, :attr:`beats`).
    (Format 2, register map VERSION 2.0: before it, M..tk came first and loop_order/visit sat
    after c_off; docs/tile-program.md.)

    Parameters
    ----------
    cfg : AccelConfig
        Uses ``addr_bits``, ``a_entries``, ``b_entries``, ``c_entries`` and ``axi_data_bits``.
    """

    def __init__(self, cfg: AccelConfig = AccelConfig()):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        fields = {name: unsigned(cfg.addr_bits)
                  for name in ("a_base", "b_base", "c_base", "a_stride", "b_stride", "c_stride",
                               "p_base", "p_stride")}
        fields |= {
            WALK: GemmDesc(DIM_BITS),
            "requant": RequantParams,
            "a_off": unsigned(offset_bits(cfg.a_entries)),
            "b_off": unsigned(offset_bits(cfg.b_entries)),
            "c_off": unsigned(offset_bits(cfg.c_entries)),
            "out_mode": OutMode,
            "last": unsigned(1),
        }
        used = data.StructLayout(fields).size
        beat = cfg.axi_data_bits
        fields["reserved"] = unsigned(-used % beat)
        self.cfg = cfg
        self.used_bits = used
        super().__init__(fields)

    def field_bits(self, name: str) -> tuple[int, int]:
        """``(bit offset, width)`` of a top-level field or a ``walk`` member (named alone,
        as in :data:`RULE_INPUTS` and the driver's ``DescriptorFields``: ``"tm"``)."""
        if name in GemmDesc.FIELDS:
            walk = self[WALK]
            sub = walk.shape[name]
            return walk.offset + sub.offset, sub.width
        fld = self[name]
        return fld.offset, fld.width

    @property
    def size_bytes(self) -> int:
        """Bytes per descriptor (a whole number of AXI beats)."""
        return self.size // 8

    @property
    def beats(self) -> int:
        """AXI beats per descriptor."""
        return self.size // self.cfg.axi_data_bits


def tile_footprints(cfg: AccelConfig, tm, tn, tk):
    """On-chip entries of the A, B and C tile regions: ``(a, b, c)``.

    A region: ``round_up(tm, rows) * round_up(tk, axi_bytes)`` int8 entries, B:
    ``tk * round_up(tn, b_word_bytes)``, C: ``tm * round_up(tn, cols)`` int32 accumulators
    (:attr:`AccelConfig.tile_align`), each doubled when ``cfg.double_buffer``. The
    planner's split-capacity model, :func:`scanfuse.hw.params.split_footprints`: it takes
    Python integers (driver, checks) and Amaranth values (:class:`DescriptorChecker`) alike.
    """
    copies = 2 if cfg.double_buffer else 1
    return split_footprints(tm, tn, tk, copies, cfg.tile_align, copies)


def _misaligned(x, q: int):
    """``x`` is not a multiple of ``q``: a mask for powers of two (hardware), ``%`` otherwise."""
    if q & (q - 1) == 0:
        return (x & (q - 1)) != 0
    return x % q != 0


def descriptor_rules(cfg: AccelConfig, f, footprints=None):
    """The legality rules, in :class:`DescriptorError` order: ``[(error, condition), ...]``.

    ``f`` has attributes ``M K N tm tn tk a_off b_off c_off c_base c_stride p_base p_stride
    loop_order out_mode``, all integers (enum fields as their codes): either Python ``int`` (the condition
    is a ``bool``) or Amaranth values (the condition is a 1-bit value). A descriptor is legal
    when no condition holds; the first one that holds names the error. ``footprints``: the
    ``(a, b, c)`` of :func:`tile_footprints` when already computed (the hardware checker
    registers them a cycle earlier).
    """
    a_fp, b_fp, c_fp = footprints or tile_footprints(cfg, f.tm, f.tn, f.tk)
    wa, wb, wc = cfg.word_entries
    raw = f.out_mode == OutMode.RAW_INT32.value
    rules = [
        (DescriptorError.ZERO_DIM, (f.M == 0) | (f.K == 0) | (f.N == 0)),
        (DescriptorError.ZERO_TILE, (f.tm == 0) | (f.tk == 0) | (f.tn == 0)),
        (DescriptorError.TILE_TOO_BIG, (f.tm > f.M) | (f.tk > f.K) | (f.tn > f.N)),
        (DescriptorError.A_OVERFLOW, f.a_off + a_fp > cfg.a_entries),
        (DescriptorError.B_OVERFLOW, f.b_off + b_fp > cfg.b_entries),
        (DescriptorError.C_OVERFLOW, f.c_off + c_fp > cfg.c_entries),
        (DescriptorError.BAD_LOOP_ORDER, f.loop_order >= len(LoopOrder)),
        # int32 elements must stay word-aligned; int8 needs no alignment (the DMA realigns).
        (DescriptorError.BAD_ALIGNMENT, ((f.p_base & 3) != 0) | ((f.p_stride & 3) != 0)
         | (raw & (((f.c_base & 3) != 0) | ((f.c_stride & 3) != 0)))),
        (DescriptorError.BAD_MODE, f.out_mode >= len(OutMode)),
        (DescriptorError.BAD_OFFSET, _misaligned(f.a_off, wa) | _misaligned(f.b_off, wb)
         | _misaligned(f.c_off, wc)),
    ]
    assert [e for e, _ in rules] == list(DescriptorError)[1:]
    return rules


class _Reads:
    """Stands in for the fields ``f`` of :func:`descriptor_rules` and records which it reads
    (every value is 1, which every rule's arithmetic accepts)."""

    def __init__(self):
        self.names: list[str] = []

    def __getattr__(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
        return 1


def _rule_inputs() -> tuple[str, ...]:
    reads = _Reads()
    descriptor_rules(AccelConfig(), reads)
    return tuple(reads.names)


#: The descriptor fields the rules read, derived from :func:`descriptor_rules` itself (so the
#: Python check and the hardware checker take exactly what the rules use).
RULE_INPUTS = _rule_inputs()


def _code(value) -> int:
    """An enum member or an integer code, as the integer."""
    return value.value if isinstance(value, enum.Enum) else int(value)


def check_descriptor(cfg: AccelConfig, fields) -> DescriptorError:
    """The first rule of :func:`descriptor_rules` that ``fields`` break, or ``NONE``.

    Parameters
    ----------
    cfg : AccelConfig
    fields : mapping or object
        Field values by name (a ``dict`` or an object with attributes, e.g. the driver's
        ``DescriptorFields``); enum fields as members or raw integer codes. Values are assumed to
        fit their field widths (the driver's ``pack`` checks that).
    """
    get = fields.__getitem__ if isinstance(fields, Mapping) else lambda n: getattr(fields, n)
    f = SimpleNamespace(**{name: _code(get(name)) for name in RULE_INPUTS})
    for error, broken in descriptor_rules(cfg, f):
        if broken:
            return error
    return DescriptorError.NONE


class _Word:
    """An unsigned integer of a fixed hardware width, for elaborating :func:`descriptor_rules`.

    Every operand and result is zero-extended or truncated to ``width`` bits, wide enough that
    no rule's arithmetic overflows (so the hardware computes what Python's unbounded integers
    do), and ``== 0`` becomes a reduction (no 16-bit ``!x`` in the Verilog). Comparisons return
    plain 1-bit Amaranth values, which ``&`` and ``|`` combine like Python bools. Yosys still
    trims the zero high bits of ``off`` and of the capacity constants in the three footprint
    rules, which ``verilator -Wall`` reports as WIDTH warnings on those ADD/GT operators.
    """

    def __init__(self, value, width: int):
        # Python integers wrap modulo 2**width (``x & -q`` masks are negative constants).
        value = Const(value % (1 << width), width) if isinstance(value, int) else Value.cast(value)
        if len(value) < width:
            value = Cat(value, Const(0, width - len(value)))
        self.width = width
        self.value = value[:width]

    def _other(self, other):
        return other if isinstance(other, _Word) else _Word(other, self.width)

    def _wrap(self, value):
        return _Word(value[:self.width], self.width)

    def __add__(self, other):
        return self._wrap(self.value + self._other(other).value)

    def __mul__(self, other):
        return self._wrap(self.value * self._other(other).value)

    __radd__, __rmul__ = __add__, __mul__

    def __and__(self, other):
        return _Word(self.value & self._other(other).value, self.width)

    def __eq__(self, other):
        return ~(self.value ^ self._other(other).value).any()

    def __ne__(self, other):
        return (self.value ^ self._other(other).value).any()

    def __gt__(self, other):
        return self.value > self._other(other).value

    def __ge__(self, other):
        return self.value >= self._other(other).value

    __hash__ = None


#: Operand width of the checker's footprint products: the padded dimensions' (at most
#: ``round_up(2**DIM_BITS - 1, align)``, 17 bits for the engine's alignments).
_PRODUCT_BITS = DIM_BITS + 1


def _rule_width(cfg: AccelConfig) -> int:
    """Bits that hold every intermediate value of :func:`descriptor_rules` without overflow."""
    layout = LayerDescriptor(cfg)
    widest = max(layout.field_bits(name)[1] for name in RULE_INPUTS)
    limit = max(cfg.a_entries, cfg.b_entries, cfg.c_entries)
    biggest_fp = max(tile_footprints(cfg, (1 << DIM_BITS) - 1, (1 << DIM_BITS) - 1,
                                     (1 << DIM_BITS) - 1))
    return max(widest, bits_for(limit), bits_for(biggest_fp + limit)) + 1


class DescriptorChecker(wiring.Component):
    """Checks one :class:`LayerDescriptor` per cycle against :func:`descriptor_rules`.

    The rules are elaborated from the same Python expressions as :func:`check_descriptor`, in
    registered stages, so no stage has more than one carry chain or one multiplier between
    flip-flops (an FPGA timing path, ``docs/fpga.md``):

    1. the rule inputs, and the tile dimensions padded to the memory words (``round_up`` of
       :func:`tile_footprints`: one adder each);
    2. the three tile footprints (:func:`~scanfuse.hw.params.split_footprints` on the padded
       dimensions: one :class:`~scanfuse.hw.product.WideProduct` of ``cfg.pe_multiplier``'s
       kind each, times a power of two), in the product's latency: 1 cycle inferred, 3 on
       registered ECP5 DSP blocks, whose input and output registers cut the routes to and
       from the DSP row out of the multiplier's cycle;
    3. every rule's condition, one flip-flop each (the ``off + footprint > capacity`` rules:
       an adder and a compare);
    4. the priority of the broken rules: the verdict.

    The latency is :attr:`latency` cycles (:attr:`LATENCY` = 4 with inferred products, 6 with
    ``"mult18x18d"``): a descriptor presented with ``valid`` high in cycle ``t`` has its
    verdict on ``error`` with ``done`` high in cycle ``t + latency``. ``error`` holds its
    value until the next verdict; ``done`` is a one-cycle strobe. Fully pipelined (a new
    descriptor may come every cycle). Users wait for ``done``, so the latency is free to
    change.

    Parameters
    ----------
    cfg : AccelConfig

    Members
    -------
    desc : ``In(LayerDescriptor(cfg))``
    valid : ``In(1)``
        ``desc`` holds a descriptor to check this cycle.
    error : ``Out(DescriptorError)``
        Verdict on the last descriptor checked (``NONE`` when legal).
    done : ``Out(1)``
        ``error`` was updated at the last clock edge (``latency`` cycles after ``valid``).
    """

    #: :attr:`latency` with one-cycle (inferred) products.
    LATENCY = 4

    def __init__(self, cfg: AccelConfig = AccelConfig()):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        for name in ("rows", "cols"):
            value = getattr(cfg, name)
            if value & (value - 1):
                raise ValueError(f"the descriptor checker needs {name} to be a power of two "
                                 f"(tile padding uses masks), not {value}")
        self._cfg = cfg
        #: Cycles from ``valid`` to ``done``.
        self.latency = self.latency_for(cfg)
        super().__init__({
            "desc": In(LayerDescriptor(cfg)),
            "valid": In(1),
            "error": Out(DescriptorError),
            "done": Out(1),
        })

    @staticmethod
    def latency_for(cfg: AccelConfig) -> int:
        """:attr:`latency` of a checker for ``cfg``: :attr:`LATENCY`, plus the cycles its
        footprint products take beyond one (one :class:`WideProduct` chunk each)."""
        return DescriptorChecker.LATENCY - 1 + multiplier_latency(cfg.pe_multiplier)

    @property
    def cfg(self) -> AccelConfig:
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        width = _rule_width(cfg)
        am, ak, bn, cn = cfg.tile_align
        copies = 2 if cfg.double_buffer else 1
        assert tile_footprints(cfg, 3, 5, 7) == (
            split_footprints(round_up(3, am), 5, round_up(7, ak), copies)[0],
            split_footprints(3, round_up(5, bn), 7, copies)[1],
            split_footprints(3, round_up(5, cn), 7, copies, c_copies=copies)[2]), \
            "tile_footprints is no longer split_footprints of the padded dimensions"
        # Stage 2 multiplies two dimensions per footprint and shifts by log2(copies): that is
        # split_footprints as long as each footprint is `copies` times one product.
        assert copies & (copies - 1) == 0
        for tm, tn, tk in ((3, 5, 7), (11, 2, 13)):
            assert split_footprints(tm, tn, tk, copies, c_copies=copies) == (
                copies * tm * tk, copies * tk * tn, copies * tm * tn), \
                "split_footprints is no longer one product per footprint"

        def stage(values: dict, tag: str, widths: dict | None = None) -> dict:
            """Registers loaded with ``values`` (name -> Amaranth value) every cycle, as wide
            as ``widths[name]`` when given (the value's largest result fits: no wrap)."""
            regs = {}
            for name, value in values.items():
                value = Value.cast(value)
                bits = (widths or {}).get(name, len(value))
                regs[name] = Signal(bits, name=f"{name}_{tag}")
                m.d.sync += regs[name].eq(value)
            return regs

        def word(value):
            return _Word(value, width)

        # Stage 1: the rule inputs and the padded tile dimensions.
        f1 = stage({name: descriptor_field(self.desc, name) for name in RULE_INPUTS}, "s1")
        w = {n: word(Value.cast(self.desc.walk[n])) for n in ("tm", "tn", "tk")}
        # Registers only as wide as the largest padded dimension, so the products of stage 2
        # map to one 18 x 18 multiplier each.
        top = (1 << DIM_BITS) - 1
        pad1 = stage({"tm_a": round_up(w["tm"], am).value, "tk_a": round_up(w["tk"], ak).value,
                      "tn_b": round_up(w["tn"], bn).value, "tn_c": round_up(w["tn"], cn).value},
                     "s1", {"tm_a": bits_for(round_up(top, am)),
                            "tk_a": bits_for(round_up(top, ak)),
                            "tn_b": bits_for(round_up(top, bn)),
                            "tn_c": bits_for(round_up(top, cn))})
        # Stage 2: the footprints (split_footprints on the padded dimensions, no more padding),
        # one product each, `copies` times it a shift; the rule inputs wait beside them.
        fp2 = {}
        for name, x, y in (("a_fp", pad1["tm_a"], pad1["tk_a"]),
                           ("b_fp", f1["tk"], pad1["tn_b"]),
                           ("c_fp", f1["tm"], pad1["tn_c"])):
            assert len(x) <= _PRODUCT_BITS and len(y) <= _PRODUCT_BITS, (name, len(x), len(y))
            m.submodules[f"{name}_product"] = product = WideProduct(
                cfg.pe_multiplier, _PRODUCT_BITS, _PRODUCT_BITS, width)
            m.d.comb += [product.a.eq(x), product.b.eq(y)]
            fp2[name] = (product.p << (copies.bit_length() - 1))[:width]
        assert self.latency == self.LATENCY - 1 + product.latency, product.latency
        f2 = f1
        for i in range(product.latency):
            f2 = stage(f2, f"s2_{i}" if product.latency > 1 else "s2")
        # Stage 3: one flip-flop per rule.
        f = SimpleNamespace(**{name: word(v) for name, v in f2.items()})
        rules = descriptor_rules(cfg, f, tuple(word(fp2[n]) for n in ("a_fp", "b_fp", "c_fp")))
        broken = stage({error.name: cond for error, cond in rules}, "s3")
        # Stage 4: the verdict, built from the lowest priority up: the first broken rule wins.
        code = DescriptorError.NONE.value
        for error, _ in reversed(rules):
            code = Mux(broken[error.name], error.value, code)
        valid = self.valid
        for _ in range(self.latency - 1):
            nxt = Signal()
            m.d.sync += nxt.eq(valid)
            valid = nxt
        m.d.sync += self.done.eq(valid)
        with m.If(valid):
            m.d.sync += self.error.eq(code)
        return m
