"""Tile programs: compile planned GEMM layers into the descriptors the engine fetches from DRAM.

A program is a sequence of :class:`~scanfuse.hw.program.LayerDescriptor` records, one per
layer, the last with ``last = 1``. Descriptors are packed with the hardware's own layout
(``LayerDescriptor(cfg).const({...}).as_bits()``, written little-endian; style P4) and checked
with the hardware's own rules (:func:`scanfuse.hw.program.check_descriptor`), so the driver
cannot emit what the engine would refuse.

Example::

    plan = plan_gemm(Gemm(196, 96, 24), BufferModel(8192))
    fields = compile_layer(plan, a_base=0x1000, b_base=0x8000, c_base=0x9000,
                           out_mode=OutMode.RAW_INT32)
    image = pack(fields)          # bytes, LayerDescriptor(cfg).size_bytes long
    assert unpack(image) == fields

``scanfuse program --gemm 196,96,24 --buffer 8192`` prints such a program in hex, one AXI beat
per line.
"""

import enum as py_enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields as dc_fields, make_dataclass, replace

from amaranth.hdl import Shape
from amaranth.lib import data

from ..errors import InvalidOptionError, ScanFuseError
from ..hw.addrgen import LoopOrder, Visit
from ..hw.params import AccelConfig
from ..hw.program import (RULE_TEXT, WALK, DescriptorError, LayerDescriptor, OutMode,
                          check_descriptor, tile_footprints)
from ..hw.requant import Activation, RequantParams
from ..plan import BufferModel, Gemm, GemmPlan, Tiling, VisitOrder, plan_gemm
from .bridges import loop_order_code, visit_code

__all__ = ["IllegalProgramError", "RequantFields", "DescriptorFields", "LayerSpec", "parse_out_mode",
           "ProgramImage", "compile_layer", "build_program", "compile_program", "pack", "unpack",
           "unpack_program"]

#: Enum-typed fields of the descriptor (an illegal code is kept as a plain ``int``).
_ENUM_FIELDS = {"loop_order": LoopOrder, "visit": Visit, "out_mode": OutMode}
_REQUANT_ENUMS = {"mode": Activation}


class IllegalProgramError(ScanFuseError, ValueError):
    """A descriptor breaks a rule of the engine, or a value does not fit its field.

    Attributes
    ----------
    rule : DescriptorError or None
        The broken rule, or ``None`` when a value does not fit its field's width.
    """

    def __init__(self, message: str, rule: "DescriptorError | None" = None):
        super().__init__(message)
        self.rule = rule


def _as_enum(cls, value):
    """``value`` (member or integer code) as a member of ``cls``, or the bare code if reserved."""
    if isinstance(value, cls):
        return value
    if isinstance(value, py_enum.Enum) or isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOptionError(f"expected a {cls.__name__} member or integer code, not {value!r}")
    try:
        return cls(value)
    except ValueError:
        return value


def _code(value) -> int:
    return value.value if isinstance(value, py_enum.Enum) else value


@dataclass(frozen=True)
class RequantFields:
    """The ``requant`` sub-record (:class:`~scanfuse.hw.requant.RequantParams`), plain values.

    Used in INT8 mode; all zero (the default) in RAW_INT32 mode. ``mode`` is an
    :class:`Activation` member (or the reserved code 3 as an ``int``).
    """

    multiplier: int = 0
    shift: int = 0
    zero_point: int = 0
    mode: "Activation | int" = Activation.NONE
    relu6_max: int = 0

    def __post_init__(self):
        object.__setattr__(self, "mode", _as_enum(Activation, self.mode))


#: Defaults of the descriptor fields a caller may leave out (every other field is required).
_FIELD_DEFAULTS = {
    "p_base": 0, "p_stride": 0, "requant": field(default_factory=RequantFields),
    "a_off": 0, "b_off": 0, "c_off": 0, "loop_order": LoopOrder.MNK, "visit": Visit.SCAN,
    "out_mode": OutMode.RAW_INT32, "last": 0,
}


class _DescriptorValues:
    """The behaviour of :class:`DescriptorFields` (its fields come from the layout)."""

    def __post_init__(self):
        for name, cls in _ENUM_FIELDS.items():
            object.__setattr__(self, name, _as_enum(cls, getattr(self, name)))
        rq = self.requant
        if rq is None:
            rq = RequantFields()
        elif isinstance(rq, Mapping):
            rq = RequantFields(**rq)
        elif not isinstance(rq, RequantFields):
            raise InvalidOptionError(f"requant must be RequantFields or a mapping, not {rq!r}")
        object.__setattr__(self, "requant", rq)
        object.__setattr__(self, "last", int(self.last))

    @property
    def gemm(self) -> Gemm:
        return Gemm(self.M, self.K, self.N)

    @property
    def tiling(self) -> Tiling:
        """The tiling and order this descriptor encodes (raises on reserved codes)."""
        if not isinstance(self.loop_order, LoopOrder) or not isinstance(self.visit, Visit):
            raise InvalidOptionError(f"loop order code {self.loop_order!r} is reserved")
        return Tiling(self.tm, self.tn, self.tk, self.loop_order.letters,
                      VisitOrder[self.visit.name])

    @property
    def c_elem_bytes(self) -> int:
        """Bytes per C element in DRAM (4 raw int32, 1 int8)."""
        return self.out_mode.elem_bytes if isinstance(self.out_mode, OutMode) else 0

    def describe(self, cfg: AccelConfig = AccelConfig()) -> str:
        """One line with the values the rules look at (footprints for ``cfg``)."""
        a, b, c = tile_footprints(cfg, self.tm, self.tn, self.tk)
        return (f"M,K,N={self.M},{self.K},{self.N} tiles tm,tn,tk={self.tm},{self.tn},{self.tk} "
                f"footprints A,B,C={a},{b},{c} offsets={self.a_off},{self.b_off},{self.c_off} "
                f"c_base={self.c_base:#x} c_stride={self.c_stride} loop_order={self.loop_order!s} "
                f"out_mode={self.out_mode!s}")


def _fields_of_layout() -> list:
    """``(name, type[, default])`` for :func:`dataclasses.make_dataclass`, in the order of
    :class:`LayerDescriptor`'s fields (``reserved`` is not a field), with the members of the
    ``walk`` struct (:class:`~scanfuse.hw.program.GemmDesc`) in its place, flattened: a plan's
    M, K, N, tiles and orders are what every caller names, so they stay top-level here."""
    spec = []
    layout = LayerDescriptor(AccelConfig())
    for name, fld in layout:
        if name == "reserved":
            continue
        subs = list(fld.shape) if name == WALK else [(name, fld)]
        for sub, sfld in subs:
            shape = sfld.shape
            kind = (RequantFields if sub == "requant" else
                    f"{shape.__name__} | int" if isinstance(shape, type) else int)
            spec.append((sub, kind, _FIELD_DEFAULTS[sub]) if sub in _FIELD_DEFAULTS else (sub, kind))
    return spec


#: Every field of one :class:`LayerDescriptor`, as plain Python values: a frozen dataclass whose
#: field list is derived from the layout itself, so the two cannot drift apart.
#:
#: Field meanings, units and widths: :class:`scanfuse.hw.program.LayerDescriptor` and
#: ``docs/tile-program.md``. Enum fields hold members; a reserved code (e.g. loop order 6)
#: stays an ``int`` so illegal descriptors can be represented, packed with ``check=False`` and
#: unpacked. ``reserved`` bits are not a field: they are written 0 and ignored.
DescriptorFields = make_dataclass(
    "DescriptorFields", _fields_of_layout(), bases=(_DescriptorValues,), frozen=True, kw_only=True,
    namespace={"__module__": __name__, "__doc__": "Every field of one LayerDescriptor, as "
               "plain Python values (field list derived from the layout; see the module)."})


# --- Packing -------------------------------------------------------------------------------

def _leaves(layout: data.StructLayout, values, base: int = 0):
    """``(path, shape, bit offset, value)`` for every leaf field, nested structs flattened:
    ``path`` is the tuple of layout names (``("walk", "M")``, ``("requant", "shift")``);
    values come from the flat record (``values.M``) or its ``requant`` sub-record."""
    for name, fld in layout:
        if name == "reserved":
            continue
        if name == WALK:
            for sub, sfld in fld.shape:
                yield (WALK, sub), sfld.shape, base + fld.offset + sfld.offset, getattr(values, sub)
            continue
        if name == "requant":
            sub = data.Layout.cast(RequantParams)
            for leaf, shape, offset, value in _leaves(sub, values.requant, base=base + fld.offset):
                yield ("requant",) + leaf, shape, offset, value
            continue
        yield (name,), fld.shape, base + fld.offset, getattr(values, name)


def _label(path: tuple) -> str:
    """A leaf's name in messages: ``requant.shift``, and walk members by their own name."""
    return ".".join(path[1:] if path[0] == WALK else path)


def _fits(name: str, shape, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise IllegalProgramError(f"{name} must be an integer, not {value!r}")
    s = Shape.cast(shape)
    lo, hi = (-(1 << s.width - 1), (1 << s.width - 1) - 1) if s.signed else (0, (1 << s.width) - 1)
    if not lo <= value <= hi:
        raise IllegalProgramError(f"{name}={value} does not fit its {s.width}-bit field "
                                  f"(range {lo}..{hi})")


def check_fields(fields: DescriptorFields, cfg: AccelConfig = AccelConfig()) -> None:
    """Raise :class:`IllegalProgramError` if a value overflows its field or a rule is broken."""
    layout = LayerDescriptor(cfg)
    for path, shape, _, value in _leaves(layout, fields):
        _fits(_label(path), shape, _code(value))
    rule = check_descriptor(cfg, fields)
    if rule is not DescriptorError.NONE:
        raise IllegalProgramError(f"illegal descriptor, rule {rule.name}: {RULE_TEXT[rule]} "
                                  f"({fields.describe(cfg)})", rule)


def pack(fields: DescriptorFields, cfg: AccelConfig = AccelConfig(), *, check: bool = True) -> bytes:
    """The descriptor as ``LayerDescriptor(cfg).size_bytes`` little-endian bytes.

    Built with ``LayerDescriptor(cfg).const({...}).as_bits()``. With ``check`` (default) an
    illegal descriptor raises :class:`IllegalProgramError`; with ``check=False`` only values
    that do not fit their fields do (for bring-up and tests of the hardware checker). Reserved
    enum codes, which ``Layout.const`` refuses, are placed at their field's offset.
    """
    layout = LayerDescriptor(cfg)
    if check:
        check_fields(fields, cfg)
    init: dict = {"requant": {}, WALK: {}}
    extra = 0
    for path, shape, offset, value in _leaves(layout, fields):
        _fits(_label(path), shape, _code(value))
        if isinstance(value, int) and isinstance(shape, type) and issubclass(shape, py_enum.Enum):
            extra |= value << offset        # a reserved code: no member to give const()
            continue
        *outer, name = path
        (init[outer[0]] if outer else init)[name] = value
    bits = layout.const(init).as_bits() | extra
    return bits.to_bytes(layout.size_bytes, "little")


def unpack(blob: bytes, cfg: AccelConfig = AccelConfig()) -> DescriptorFields:
    """The fields of one packed descriptor (the inverse of :func:`pack`; ``reserved`` ignored)."""
    layout = LayerDescriptor(cfg)
    if len(blob) != layout.size_bytes:
        raise IllegalProgramError(f"a descriptor is {layout.size_bytes} bytes, not {len(blob)}")
    bits = layout.from_bits(int.from_bytes(blob, "little")).as_bits()
    values: dict = {}
    requant: dict = {}
    probe = _Probe()
    for path, shape, offset, _ in _leaves(layout, probe):
        s = Shape.cast(shape)
        raw = (bits >> offset) & ((1 << s.width) - 1)
        if s.signed and raw >> (s.width - 1):
            raw -= 1 << s.width
        if isinstance(shape, type) and issubclass(shape, py_enum.Enum):
            raw = _as_enum(shape, raw)
        (requant if path[0] == "requant" else values)[path[-1]] = raw
    return DescriptorFields(**values, requant=RequantFields(**requant))


class _Probe:
    """Stands in for a fields object when only the layout's leaves are wanted."""

    def __getattr__(self, name):
        return self


# --- Compiling plans -----------------------------------------------------------------------

def parse_out_mode(value) -> OutMode:
    """The one parser of an output mode: an :class:`OutMode` member, or ``"raw"``
    (``"raw_int32"``, ``"int32"``) or ``"int8"`` in any case; anything else is an
    :class:`InvalidOptionError`."""
    if isinstance(value, OutMode):
        return value
    text = str(value).lower()
    aliases = {"raw": OutMode.RAW_INT32, "raw_int32": OutMode.RAW_INT32, "int32": OutMode.RAW_INT32,
               "int8": OutMode.INT8}
    if text not in aliases:
        raise InvalidOptionError(f"out_mode must be RAW_INT32 (raw) or INT8, not {value!r}")
    return aliases[text]


def compile_layer(plan: GemmPlan, a_base: int, b_base: int, c_base: int, out_mode,
                  requant: "RequantFields | Mapping | None" = None,
                  cfg: AccelConfig = AccelConfig(), *, a_stride: "int | None" = None,
                  b_stride: "int | None" = None, c_stride: "int | None" = None,
                  a_off: int = 0, b_off: int = 0, c_off: int = 0,
                  p_base: "int | None" = None, p_stride: "int | None" = None,
                  last: bool = False) -> DescriptorFields:
    """The descriptor of one planned GEMM layer, validated against the engine's rules.

    Parameters
    ----------
    plan : GemmPlan
        Gives M, K, N, the tile sizes, the loop order and the visit order.
    a_base, b_base, c_base : int
        DRAM byte addresses of A[0,0], B[0,0] and C[0,0].
    out_mode : OutMode or "raw" / "int8"
    requant : RequantFields or mapping, required for INT8 and refused for RAW_INT32.
    cfg : AccelConfig
    a_stride, b_stride, c_stride : int, optional
        Row strides in bytes; dense rows by default (K, N and N * c_elem_bytes).
    a_off, b_off, c_off : int
        On-chip offsets of the tile regions (entries), 0 by default.
    p_base, p_stride : int, optional
        DRAM byte address and row stride of the int32 partial-sum scratch (M x N). Required
        when the plan spills partial sums (K split and C not resident); ``p_stride`` defaults
        to ``N * 4``. Unused (0) otherwise.
    last : bool
        Set ``last`` (:func:`build_program` sets it on the final layer itself).

    Raises
    ------
    IllegalProgramError
        A rule of :func:`~scanfuse.hw.program.check_descriptor` is broken (``.rule`` names it)
        or a value overflows its field.
    InvalidOptionError
        Bad ``out_mode`` or a ``requant`` that does not match it.
    """
    mode = parse_out_mode(out_mode)
    if mode is OutMode.INT8 and requant is None:
        raise InvalidOptionError("INT8 output needs requant parameters")
    if mode is OutMode.RAW_INT32 and requant is not None:
        raise InvalidOptionError("requant parameters apply only to INT8 output, not RAW_INT32")
    gemm, tiling = plan.gemm, plan.tiling
    spills = plan.traffic.c_psum_writes > 0
    if spills and p_base is None:
        raise InvalidOptionError(f"the plan of {gemm} spills partial sums: give p_base, the DRAM "
                                 f"address of an M x N int32 scratch area")
    fields = DescriptorFields(
        M=gemm.M, K=gemm.K, N=gemm.N, tm=tiling.tm, tn=tiling.tn, tk=tiling.tk,
        a_base=a_base, b_base=b_base, c_base=c_base,
        a_stride=gemm.K if a_stride is None else a_stride,
        b_stride=gemm.N if b_stride is None else b_stride,
        c_stride=gemm.N * mode.elem_bytes if c_stride is None else c_stride,
        loop_order=loop_order_code(tiling.loop_order),
        visit=visit_code(tiling.visit_order),
        out_mode=mode, requant=requant, a_off=a_off, b_off=b_off, c_off=c_off, last=int(last),
        p_base=p_base or 0,
        p_stride=(gemm.N * 4 if p_stride is None else p_stride) if spills else (p_stride or 0))
    check_fields(fields, cfg)
    return fields


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a program: the arguments of :func:`compile_layer` (except ``cfg``/``last``).

    Chaining is by addresses: a layer that reads the previous one's int8 output uses that
    layer's ``c_base`` (and ``c_stride``) as its ``a_base`` (``a_stride``).
    """

    plan: GemmPlan
    a_base: int
    b_base: int
    c_base: int
    out_mode: "OutMode | str" = OutMode.INT8
    requant: "RequantFields | Mapping | None" = None
    a_stride: "int | None" = None
    b_stride: "int | None" = None
    c_stride: "int | None" = None
    a_off: int = 0
    b_off: int = 0
    c_off: int = 0
    p_base: "int | None" = None
    p_stride: "int | None" = None

    def compile(self, cfg: AccelConfig = AccelConfig(), last: bool = False) -> DescriptorFields:
        kwargs = {f.name: getattr(self, f.name) for f in dc_fields(self)}
        plan = kwargs.pop("plan")
        return compile_layer(plan, cfg=cfg, last=last, **kwargs)


@dataclass(frozen=True)
class ProgramImage:
    """A whole tile program: its descriptors and the bytes the engine fetches.

    ``descriptors[-1].last == 1`` and no other has ``last`` set.
    """

    descriptors: tuple[DescriptorFields, ...]
    cfg: AccelConfig = AccelConfig()

    def __post_init__(self):
        if not self.descriptors:
            raise InvalidOptionError("a tile program needs at least one layer")
        flags = [d.last for d in self.descriptors]
        if flags[-1] != 1 or any(flags[:-1]):
            raise IllegalProgramError("exactly the final descriptor of a program must set last")

    @property
    def data(self) -> bytes:
        return b"".join(pack(d, self.cfg) for d in self.descriptors)

    def hex_beats(self) -> list[str]:
        """The image as hex, one AXI beat per string, bytes in address order."""
        blob, n = self.data, self.cfg.axi_bytes
        return [blob[i:i + n].hex() for i in range(0, len(blob), n)]


def build_program(layers: Iterable["LayerSpec | DescriptorFields"],
                  cfg: AccelConfig = AccelConfig()) -> ProgramImage:
    """Compile ``layers`` in order; ``last`` is set on the final descriptor only."""
    items = list(layers)
    if not items:
        raise InvalidOptionError("a tile program needs at least one layer")
    out = []
    for i, item in enumerate(items):
        is_last = int(i == len(items) - 1)
        if isinstance(item, LayerSpec):
            desc = item.compile(cfg, last=bool(is_last))
        elif isinstance(item, DescriptorFields):
            desc = replace(item, last=is_last)
            check_fields(desc, cfg)
        else:
            raise InvalidOptionError(f"a program layer is a LayerSpec or DescriptorFields, "
                                     f"not {item!r}")
        out.append(desc)
    return ProgramImage(tuple(out), cfg)


def compile_program(layers: Iterable["LayerSpec | DescriptorFields"],
                    cfg: AccelConfig = AccelConfig()) -> bytes:
    """The bytes of the program of ``layers`` (see :func:`build_program`)."""
    return build_program(layers, cfg).data


def unpack_program(blob: bytes, cfg: AccelConfig = AccelConfig()) -> ProgramImage:
    """Split a program image into descriptors; it must end exactly at the ``last`` one."""
    size = LayerDescriptor(cfg).size_bytes
    if not blob or len(blob) % size:
        raise IllegalProgramError(f"a program is a positive multiple of {size} bytes, "
                                  f"not {len(blob)}")
    descs = tuple(unpack(blob[i:i + size], cfg) for i in range(0, len(blob), size))
    return ProgramImage(descs, cfg)
