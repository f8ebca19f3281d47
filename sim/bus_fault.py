"""One faulty AXI response, described once for every memory model that can give it.

A :class:`BusFault` says which response of the engine's AXI4 bus goes wrong and how: the
``burst``-th burst (counting from 0, from reset) on a ``channel`` ("read": an R beat, "write":
a B response) whose start address lies in ``[lo, hi)``; for a read, its ``beat``-th beat (the
last beat if the burst is shorter). That one response carries ``resp`` (``Resp``: SLVERR 2,
DECERR 3, or OKAY/EXOKAY together with a bad ID) and the response ID ``id``. A faulty R beat
carries zero data, as a default slave's would; a faulty write still writes its data (the
fault is in the response only). Every other response is OKAY with ID 0, so a fault fires once
per simulation and a second START after it runs on a clean bus.

The three memory models take the same spec: :class:`scanfuse.sim.amaranth_axi.AxiMemory`
(Amaranth), :class:`scanfuse.sim.cocotb_util.FaultyAxiRam` (cocotbext-axi, Icarus and
Verilator under cocotb) and the C++ harness (``sim/verilator/harness.cpp``, given
:meth:`BusFault.harness_args`). Each reports whether the fault fired, so a test cannot pass by
never reaching the faulty response.

:func:`fault_on` resolves a symbolic target of a DRAM image (the program, layer 0's A, B or C)
into a spec. The engine's expected behaviour (``docs/hardware/engine.md``): STATUS.DONE and
STATUS.ERROR, ERROR = ``EngineError.BUS_ERROR``, no hang, and a later START runs normally.
"""

from dataclasses import asdict, dataclass

from ..errors import InvalidOptionError
from ..hw.axi import Resp
from ..hw.params import AccelConfig
from ..hw.program import LayerDescriptor
from ..hw.regs import Ctrl, Reg, Status
from ..hw.sequencer import EngineError

__all__ = ["BusFault", "TARGETS", "FAULTS", "fault_on", "fault_case", "fault_problems",
           "run_start_while_busy"]

_ADDR_END = 1 << 64


@dataclass(frozen=True)
class BusFault:
    """Which AXI response goes wrong (module docstring). Addresses are byte addresses.

    channel : "read" or "write"
    burst : 0.. ; which matching burst on that channel (0 = the first)
    beat : 0.. ; reads only: which beat of the burst (clipped to the burst's last)
    resp : 0..3 ; the response code (``scanfuse.hw.axi.Resp``)
    id : 0..2**32-1 ; the RID / BID of the faulty response (the engine's ID is 1 bit wide,
        so 1 is the only non-zero ID it can see)
    lo, hi : the burst's start address must satisfy ``lo <= addr < hi``
    """

    channel: str
    burst: int = 0
    beat: int = 0
    resp: int = Resp.SLVERR.value
    id: int = 0
    lo: int = 0
    hi: int = _ADDR_END

    def __post_init__(self):
        if self.channel not in ("read", "write"):
            raise InvalidOptionError(f"fault channel must be 'read' or 'write', not "
                                     f"{self.channel!r}")
        for name, top in (("burst", 1 << 32), ("beat", 256), ("resp", 4), ("id", 1 << 32),
                          ("lo", _ADDR_END), ("hi", _ADDR_END + 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < top:
                raise InvalidOptionError(f"fault {name} must be a whole number in 0..{top - 1}, "
                                         f"not {value!r}")
        if self.lo >= self.hi:
            raise InvalidOptionError(f"fault address range {self.lo:#x}..{self.hi:#x} is empty")
        if self.resp < Resp.SLVERR.value and self.id == 0:
            raise InvalidOptionError("a fault needs resp SLVERR/DECERR or a non-zero id")

    def matches(self, channel: str, addr: int) -> bool:
        """A burst on ``channel`` starting at ``addr`` is one the fault counts."""
        return channel == self.channel and self.lo <= addr < self.hi

    def harness_args(self) -> list[str]:
        """The C++ harness's ``key=value`` arguments for this fault."""
        return [f"fault_{k}={v}" for k, v in asdict(self).items()]


#: Symbolic targets of :func:`fault_on`: (channel, what).
TARGETS = {
    "descriptor": ("read", "the first descriptor fetch"),
    "a": ("read", "the first read of layer 0's A"),
    "b": ("read", "the first read of layer 0's B"),
    "c": ("write", "the first write response of layer 0's C"),
}


def fault_on(image, target: str, *, resp: int = Resp.SLVERR.value, id: int = 0,
             burst: int = 0, beat: int = 0) -> BusFault:
    """A :class:`BusFault` on ``target`` (a key of :data:`TARGETS`) of ``image`` (a
    :class:`~scanfuse.program.image.DramImage` with dense tensors, as ``chain_image`` lays
    them out)."""
    if target not in TARGETS:
        raise InvalidOptionError(f"fault target must be one of {', '.join(TARGETS)}, not "
                                 f"{target!r}")
    layer = image.layers[0]
    g = layer.plan.gemm
    size = LayerDescriptor(image.program.cfg).size_bytes
    lo, n = {"descriptor": (image.prog_addr, size * image.prog_len),
             "a": (layer.a_base, g.M * g.K),
             "b": (layer.b_base, g.K * g.N),
             "c": (layer.c_base, g.M * g.N * layer.c_elem_bytes)}[target]
    return BusFault(TARGETS[target][0], burst=burst, beat=beat, resp=resp, id=id, lo=lo,
                    hi=lo + n)


#: The faults ``make test`` runs on every simulator, ``(target, resp, id)``: each target once,
#: SLVERR, DECERR and a bad ID spread over them (``beat=1``: the second beat of a read).
FAULTS = [("descriptor", Resp.DECERR.value, 0), ("a", Resp.SLVERR.value, 0),
          ("b", Resp.OKAY.value, 1), ("c", Resp.DECERR.value, 0), ("c", Resp.OKAY.value, 1)]


def fault_case(cfg: AccelConfig):
    """The GEMM the fault tests run: 12x20x10, raw int32, tiles 8x8x16 (K split, so A, B and
    C each take a few bursts), no skew (every tensor starts on a beat)."""
    from ..plan import BufferModel, Gemm, Tiling, VisitOrder
    from ..plan.fixed import fixed_plan
    from .cases import gemm_case
    gemm = Gemm(12, 20, 10)
    plan = fixed_plan(gemm, Tiling(8, 8, 16, "mnk", VisitOrder.SCAN), BufferModel.for_engine(cfg))
    return gemm_case(f"fault {gemm.M}x{gemm.K}x{gemm.N}", plan, cfg, seed=5, out_mode="raw")


def fault_problems(case, first, second, fired: int, target: str) -> list[str]:
    """What is wrong with a faulty run ``first`` and the clean rerun ``second`` after it (both
    :class:`~scanfuse.sim.engine_sim.EngineRun`): the fault fired once, the first run ended
    with DONE, STATUS.ERROR and BUS_ERROR (having executed nothing if the fault hit the
    descriptor fetch), the second is bit-exact with the planner's counts. Empty if all is
    well."""
    from .scoreboard import check_run
    problems = []
    if fired != 1:
        problems.append(f"the fault on {target} fired {fired} times, not once")
    if not (first.done and first.status & Status.ERROR):
        problems.append(f"faulty run: STATUS={first.status:#x}, not DONE|ERROR")
    if first.error != EngineError.BUS_ERROR:
        problems.append(f"faulty run: ERROR={first.error:#x}, not BUS_ERROR "
                        f"({EngineError.BUS_ERROR:#x})")
    if target == "descriptor" and (first.counters["macs"] or first.counters["write_bytes"]):
        problems.append(f"a descriptor fetched with a bus error was executed: "
                        f"{first.counters}")
    if second.status & Status.ERROR:
        problems.append(f"rerun: STATUS={second.status:#x} has ERROR")
    problems += [f"rerun: {p}" for p in check_run(case, second).problems]
    return problems


async def run_start_while_busy(bus, prog_addr: int, prog_len: int, *, max_cycles: int):
    """Start the program (:func:`scanfuse.sim.host.start_steps`), check STATUS.BUSY, write
    CTRL.START again while the engine is busy (the sequencer ignores it), wait for DONE and
    read the results; returns a :class:`~scanfuse.sim.host.HostResult`."""
    from .host import HostResult, read_results, run_steps, start_steps
    steps = start_steps(prog_addr, prog_len, check_id=False)
    await run_steps(bus, steps[:-1], max_cycles=max_cycles)
    status = await bus.read(Reg.STATUS)
    assert status & Status.BUSY, f"not busy after START (STATUS={status:#x})"
    await bus.write(Reg.CTRL, Ctrl.START)
    status, cycles = await run_steps(bus, steps[-1:], max_cycles=max_cycles)
    error, counters = await read_results(bus)
    return HostResult(status, error, counters, cycles)
