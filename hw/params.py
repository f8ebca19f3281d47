"""The accelerator's single source of configuration and geometry (style P1).

Every width and size in ``scanfuse.hw``, in the program stage and in the benches derives from
one :class:`AccelConfig`; no width is typed twice. The architecture's own geometry lives here
too, below both the hardware and the planner (which may import this module and nothing else
of ``scanfuse.hw``): :data:`DIM_BITS`, :func:`split_footprints` (tile regions in separate A, B
and C memories) and :func:`parse_array`, the one parser of a PE-array size.
"""

import re
from dataclasses import dataclass

#: Width in bits of every GEMM dimension and tile size the engine takes (M, N, K, tm, tn, tk).
DIM_BITS = 16

#: Kinds of PE multiplier (:attr:`AccelConfig.pe_multiplier`, built by
#: :func:`scanfuse.hw.multiplier.make_multiplier`): ``inferred`` (a registered ``a * b``, any
#: target) and ``mult18x18d`` (an explicit registered ECP5 DSP block; the ECP5 FPGA build).
PE_MULTIPLIER_KINDS = ("inferred", "mult18x18d")

#: Kinds of A/B tile memory (:attr:`AccelConfig.tile_memory`, built by
#: :class:`scanfuse.hw.buffer.TileBuffer`): ``inferred`` (read latency 1, any target) and
#: ``dp16kd`` (explicit ECP5 block RAMs with output registers, read latency 2;
#: ``scanfuse fpga --tile-memory dp16kd``).
TILE_MEMORY_KINDS = ("inferred", "dp16kd")

#: No padding: every tile region is exactly its element count.
NO_ALIGN = (1, 1, 1, 1)


def round_up(x, q: int):
    """``x`` rounded up to a multiple of ``q`` (``q >= 1``).

    Powers of two use ``+`` and ``&`` only, so ``x`` may be a Python int, a numpy array or a
    hardware word (the engine's descriptor checker); other ``q`` need ``//`` (ints, numpy).
    """
    if q == 1:
        return x
    if q & (q - 1) == 0:
        return (x + (q - 1)) & -q
    return -(-x // q) * q


def split_footprints(tm, tn, tk, copies: int = 1, align: tuple[int, int, int, int] = NO_ALIGN,
                     c_copies: int = 1):
    """Entries of the A, B and C tile regions in separate memories: ``(a, b, c)``.

    Unpadded (``align = (1, 1, 1, 1)``): A ``copies*tm*tk`` int8 entries, B ``copies*tk*tn``,
    C ``c_copies*tm*tn`` accumulators. ``align = (am, ak, bn, cn)`` pads the tile to the memory
    words of an engine: A ``copies * round_up(tm, am) * round_up(tk, ak)``, B
    ``copies * tk * round_up(tn, bn)``, C ``c_copies * tm * round_up(tn, cn)`` (the engine's
    layout, where a double-buffered engine has two C regions:
    :attr:`AccelConfig.tile_align`). The one definition used by the planner's
    :meth:`scanfuse.plan.buffer.BufferModel.fits` and by the engine's descriptor checker
    (``scanfuse.hw.program``); written with ``*``, ``+`` and ``&`` only so Amaranth values
    work too.
    """
    am, ak, bn, cn = align
    return (copies * (round_up(tm, am) * round_up(tk, ak)), copies * (tk * round_up(tn, bn)),
            c_copies * (tm * round_up(tn, cn)))


def parse_array(text: str) -> tuple[int, int]:
    """The one parser of a PE-array size: ``"8,8"`` or ``"8x8"`` -> ``(rows, cols)``.

    Both numbers must be positive integers; whether an engine can be built with them is
    :meth:`AccelConfig.engine_problems`'s question. Raises ``ValueError``.
    """
    parts = re.split(r"[,xX]", str(text).strip())
    if len(parts) != 2 or not all(p.strip().isascii() and p.strip().isdigit() and int(p) > 0
                                  for p in parts):
        raise ValueError(f"a PE array is R,C or RxC (two positive integers, e.g. 8,8), "
                         f"not {text!r}")
    return int(parts[0]), int(parts[1])


@dataclass(frozen=True)
class AccelConfig:
    """Parameters of the pointwise-conv engine.

    Attributes
    ----------
    rows, cols:
        PE array size (rows x cols MACs per cycle), each in 1..64. Default 8x8.
    operand_bits:
        Width of A (activation) and B (weight) elements, signed; 8 (int8).
    acc_bits:
        Width of the accumulators and of raw C outputs, signed; 32 (int32).
    axi_data_bits:
        AXI4 data bus width in bits: 32, 64, 128 or 256. Default 64 (8 bytes per beat).
    addr_bits:
        AXI4 byte-address width, 16..64. Default 32.
    a_entries, b_entries:
        On-chip capacity for A (activation) and B (weight) tile elements, int8 each, 1..2**24.
        Defaults 16384 each (16 KiB).
    c_entries:
        On-chip capacity for C accumulators, int32 each, 1..2**24. Default 8192 (32 KiB).
        Together: the planner's split buffer model (A, B and C capacities apart).
    double_buffer:
        Split A, B and C storage in two halves each: the next A and B tiles load while the
        current ones compute, and the previous C tile is stored from one C region while the
        next accumulates in the other (the planner model's double-buffering flag; its C
        footprint counts two regions, ``BufferModel.c_copies``). Default True: the engine
        that keeps the PE array busy (MobileNetV2 pointwise, ``docs/verification.md``);
        False gives the plain engine (loads, compute and stores take turns; larger tiles,
        fewer DRAM bytes).
    pe_multiplier:
        Platform hook for the PE array's multipliers, one of :data:`PE_MULTIPLIER_KINDS`:
        ``"inferred"`` (default: simulation, Verilog export, any FPGA) or ``"mult18x18d"``
        (explicit registered ECP5 DSP blocks, chosen by the ECP5 FPGA build; 2 cycles more
        array latency, same results). See :mod:`scanfuse.hw.multiplier`.
    tile_memory:
        Platform hook for the A and B memories, one of :data:`TILE_MEMORY_KINDS`:
        ``"inferred"`` (default) or ``"dp16kd"`` (explicit ECP5 ``DP16KD`` blocks with their
        output registers, chosen by ``scanfuse fpga --tile-memory dp16kd``; one more cycle of
        feed latency, same results). See :mod:`scanfuse.hw.ebr` and :mod:`scanfuse.hw.buffer`.
    """

    rows: int = 8
    cols: int = 8
    operand_bits: int = 8
    acc_bits: int = 32
    axi_data_bits: int = 64
    addr_bits: int = 32
    a_entries: int = 16384
    b_entries: int = 16384
    c_entries: int = 8192
    double_buffer: bool = True
    pe_multiplier: str = "inferred"
    tile_memory: str = "inferred"

    def __post_init__(self):
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 64:
                raise ValueError(f"{name} must be an integer in 1..64, not {value!r}")
        if self.operand_bits != 8:
            raise ValueError(f"operand_bits must be 8 (int8 engine), not {self.operand_bits!r}")
        if self.acc_bits not in (32,):
            raise ValueError(f"acc_bits must be 32, not {self.acc_bits!r}")
        if self.axi_data_bits not in (32, 64, 128, 256):
            raise ValueError(f"axi_data_bits must be 32, 64, 128 or 256, not {self.axi_data_bits!r}")
        if not 16 <= self.addr_bits <= 64:
            raise ValueError(f"addr_bits must be in 16..64, not {self.addr_bits!r}")
        for name in ("a_entries", "b_entries", "c_entries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1 << 24:
                raise ValueError(f"{name} must be an integer in 1..2**24, not {value!r}")
        if self.pe_multiplier not in PE_MULTIPLIER_KINDS:
            raise ValueError(f"pe_multiplier must be one of {', '.join(PE_MULTIPLIER_KINDS)}, "
                             f"not {self.pe_multiplier!r}")
        if self.tile_memory not in TILE_MEMORY_KINDS:
            raise ValueError(f"tile_memory must be one of {', '.join(TILE_MEMORY_KINDS)}, "
                             f"not {self.tile_memory!r}")

    @property
    def axi_bytes(self) -> int:
        """Bytes per AXI data beat."""
        return self.axi_data_bits // 8

    @property
    def name(self) -> str:
        """Short tag for artifacts named by configuration, e.g. ``r8c8``."""
        return f"r{self.rows}c{self.cols}"

    @property
    def b_word_bytes(self) -> int:
        """Bytes per word of the B memory: ``max(cols, axi_bytes)`` (a DMA beat or a k step)."""
        return max(self.cols, self.axi_bytes)

    @property
    def tile_align(self) -> tuple[int, int, int, int]:
        """How the engine pads tile regions to its memory words, ``(am, ak, bn, cn)``.

        A words hold ``rows`` lanes of ``axi_bytes`` consecutive k (tm padded to ``rows``, tk
        to ``axi_bytes``); B words hold ``b_word_bytes`` consecutive n of one k row (tn padded
        to it); C words hold ``cols`` int32 of one m row (tn padded to ``cols``). See
        :func:`split_footprints` and ``docs/hardware.md``.
        """
        return (self.rows, self.axi_bytes, self.b_word_bytes, self.cols)

    @property
    def word_entries(self) -> tuple[int, int, int]:
        """Entries per word of the A, B and C memories (on-chip offsets are multiples)."""
        return (self.rows * self.axi_bytes, self.b_word_bytes, self.cols)

    def engine_problems(self) -> list[str]:
        """Why the engine (``scanfuse.hw.engine``) cannot be built for this configuration.

        Empty when it can. The memories are banked in powers of two so that tile padding and
        word addresses need only masks and shifts.
        """
        problems = []
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if value & (value - 1):
                problems.append(f"{name} must be a power of two for the engine, not {value}")
        if 4 * self.cols < self.axi_bytes:
            problems.append(f"cols ({self.cols}) must be at least axi_bytes/4 "
                            f"({self.axi_bytes // 4}): a C word holds whole AXI beats")
        for name, word in zip(("a_entries", "b_entries", "c_entries"), self.word_entries):
            if getattr(self, name) % word:
                problems.append(f"{name} ({getattr(self, name)}) must be a multiple of the "
                                f"memory word ({word} entries)")
        return problems

    def check_engine(self) -> None:
        """Raise ``ValueError`` listing :meth:`engine_problems`, if any."""
        problems = self.engine_problems()
        if problems:
            raise ValueError("; ".join(problems))
