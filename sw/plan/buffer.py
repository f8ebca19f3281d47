"""The on-chip buffer model and the element widths used to turn elements into bytes."""

from dataclasses import dataclass

from ..errors import InvalidOptionError
from ..hw.params import NO_ALIGN, AccelConfig, round_up, split_footprints

__all__ = ["BufferModel", "ElementWidths", "PlanBytes", "NO_ALIGN", "round_up", "split_footprints"]


@dataclass(frozen=True)
class BufferModel:
    """How tiles occupy an on-chip buffer of ``entries`` entries.

    The baseline model keeps one tile of each operand resident:
    ``a * (Tm*Tk + Tk*Tn) + psum_entries * Tm*Tn <= entries`` with ``a = 2`` when
    ``double_buffer`` (the next A and B tiles load while the current ones compute) else 1.

    Attributes
    ----------
    entries:
        Capacity S in entries (elements), >= 1. The thesis uses 64K = 65,536.
    psum_entries:
        Entries one C element (a partial sum) takes, 1..8. Default 1, as in the thesis (every
        resident element one entry); 4 models int32 accumulators in an int8-wide buffer.
    double_buffer:
        Reserve a second A and B tile so loads overlap compute.
    split:
        ``(a, b, c)`` for separate memories (see :meth:`separate`): A and B tiles (times the
        copies) and C accumulators must each fit their own capacity; ``entries`` is then their
        sum and ``psum_entries`` is 1. ``None`` (default): one shared buffer.
    align:
        With ``split``: ``(am, ak, bn, cn)``, the padding of tile regions to memory words
        (:func:`scanfuse.hw.params.split_footprints`); ``(1, 1, 1, 1)`` for none.
    c_copies:
        With ``split``: C tile regions held at once, 1 or 2. A double-buffered engine has two
        (the previous C tile stores while the next accumulates); :meth:`for_engine` sets it.
    array:
        With ``split``: ``(rows, cols)`` of the engine's PE array, or ``None``. When set the
        planner tiles padding-aware (:func:`scanfuse.plan.search.padding_rules`: ``tm`` a
        multiple of rows or ``M``, ``tn`` of cols or ``N``); :meth:`for_engine` sets it.
    """

    entries: int
    psum_entries: int = 1
    double_buffer: bool = False
    split: tuple[int, int, int] | None = None
    align: tuple[int, int, int, int] = NO_ALIGN
    c_copies: int = 1
    array: tuple[int, int] | None = None

    def __post_init__(self):
        if isinstance(self.entries, bool) or not isinstance(self.entries, int) or self.entries < 1:
            raise InvalidOptionError(f"buffer must be a positive number of entries, not {self.entries!r}")
        if not isinstance(self.psum_entries, int) or not 1 <= self.psum_entries <= 8:
            raise InvalidOptionError(f"psum_entries must be an integer in 1..8, not {self.psum_entries!r}")
        if self.split is not None:
            if (len(self.split) != 3 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                                            for v in self.split)):
                raise InvalidOptionError(f"split capacities must be three positive integers, not {self.split!r}")
            if self.entries != sum(self.split) or self.psum_entries != 1:
                raise InvalidOptionError("a split buffer has entries = a + b + c and psum_entries = 1")
        if (len(self.align) != 4 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                                        for v in self.align)):
            raise InvalidOptionError(f"align must be four positive integers, not {self.align!r}")
        if self.split is None and self.align != NO_ALIGN:
            raise InvalidOptionError("tile alignment applies only to separate memories (split)")
        if self.array is not None and (self.split is None or len(self.array) != 2 or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in self.array)):
            raise InvalidOptionError(f"array is (rows, cols) of an engine with separate "
                                     f"memories, not {self.array!r}")
        if self.c_copies not in (1, 2) or (self.c_copies == 2 and self.split is None):
            raise InvalidOptionError(f"c_copies is 1, or 2 with separate memories, not "
                                     f"{self.c_copies!r}")

    @classmethod
    def separate(cls, a: int, b: int, c: int, double_buffer: bool = False,
                 align: tuple[int, int, int, int] = NO_ALIGN, c_copies: int = 1,
                 array: "tuple[int, int] | None" = None) -> "BufferModel":
        """Separate memories: ``a`` A entries, ``b`` B entries, ``c`` C accumulators, tile
        regions padded by ``align`` (see :func:`split_footprints`).

        This is the engine's organisation (int8 A and B memories, an int32 accumulator
        memory); :meth:`for_engine` builds it for an engine configuration.
        """
        return cls(a + b + c, 1, double_buffer, (a, b, c), tuple(align), c_copies,
                   None if array is None else tuple(array))

    @classmethod
    def for_engine(cls, cfg: AccelConfig) -> "BufferModel":
        """The buffer model the engine built with ``cfg`` implements: separate A, B and C
        memories with the engine's tile padding (:attr:`AccelConfig.tile_align`). Plans made
        for it run on the engine."""
        return cls.separate(cfg.a_entries, cfg.b_entries, cfg.c_entries, cfg.double_buffer,
                            cfg.tile_align, 2 if cfg.double_buffer else 1, (cfg.rows, cfg.cols))

    @property
    def operand_copies(self) -> int:
        """Tiles of A and of B held at once: 2 when double-buffered, else 1."""
        return 2 if self.double_buffer else 1

    def footprint(self, tm, tn, tk):
        """Entries needed by tiles ``tm x tn x tk`` (scalars or numpy arrays)."""
        return self.operand_copies * (tm * tk + tk * tn) + self.psum_entries * tm * tn

    def fits(self, tm, tn, tk):
        if self.split is not None:
            fa, fb, fc = split_footprints(tm, tn, tk, self.operand_copies, self.align,
                                          self.c_copies)
            a, b, c = self.split
            return (fa <= a) & (fb <= b) & (fc <= c)
        return self.footprint(tm, tn, tk) <= self.entries

    def describe(self) -> str:
        if self.split is not None:
            pad = "" if self.align == NO_ALIGN else f", tiles padded to {self.align}"
            pad += ", two C regions" if self.c_copies == 2 else ""
            return (f"A {self.split[0]:,} + B {self.split[1]:,} + C {self.split[2]:,} entries "
                    f"(separate{pad})")
        return f"{self.entries:,} entries"

    @property
    def smallest_footprint(self) -> int:
        """Footprint of the smallest legal tiling (1x1x1)."""
        return int(self.footprint(1, 1, 1))

    @property
    def fits_smallest(self) -> bool:
        """Whether 1x1x1 tiles fit at all."""
        return bool(self.fits(1, 1, 1))


@dataclass(frozen=True)
class ElementWidths:
    """Bytes per element in DRAM.

    ``a``, ``b``: activations and weights (int8: 1). ``c``: final outputs (1 when requantised
    to int8). ``psum``: partial sums spilled to and reloaded from DRAM (int32: 4).
    """

    a: int = 1
    b: int = 1
    c: int = 1
    psum: int = 4

    def __post_init__(self):
        for name in ("a", "b", "c", "psum"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 16:
                raise InvalidOptionError(f"{name} width must be 1..16 bytes, not {value!r}")



class PlanBytes:
    """Byte totals for a plan dataclass with ``traffic`` (any traffic record with
    ``read_bytes(widths)``/``write_bytes(widths)``) and ``widths``."""

    @property
    def read_bytes(self) -> int:
        return self.traffic.read_bytes(self.widths)

    @property
    def write_bytes(self) -> int:
        return self.traffic.write_bytes(self.widths)

    @property
    def total_bytes(self) -> int:
        return self.read_bytes + self.write_bytes
