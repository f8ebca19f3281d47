# amaranth: UnusedElaboratable=no
"""TileDMA against a Python AXI4 slave memory model (Amaranth simulator, async testbench).

One testbench coroutine plays every party each cycle, in a fixed order so that the combinational
outputs it samples are the ones the DUT sees at the clock edge: it first drives all inputs
(command source, ``rd`` consumer, ``wr`` producer, the five AXI channels of the slave, each with
random stalls), then samples the DUT outputs, then settles the handshakes of this edge.

The slave model checks the AXI rules on every handshake (INCR, full-width beats, aligned
addresses, no 4 KiB crossing, at most ``max_burst`` beats, WLAST on the last beat, stable
valid/payload until accepted) and matches every burst and every write strobe against a reference
split of the tile (``plan_bursts``), so a strobe outside the requested bytes, a missing byte or a
wasted beat fails the test. Data are checked byte for byte against a reference memory that
applies the commands in order; write regions are surrounded by 0xaa guard bytes.

(The first line silences Amaranth's "created but never used" warning for components whose
constructor is made to raise in ``test_rejects_bad_parameters``.)
"""

import random
from collections import deque
from dataclasses import dataclass, field

import pytest
from amaranth.hdl import Shape
from amaranth.sim import Simulator

from scanfuse.hw.dma import DmaBeat, DmaCommand, TileDMA
from scanfuse.hw.params import AccelConfig

BOUNDARY = 4096


# --------------------------------------------------------------------------- reference model
@dataclass(frozen=True)
class Tile:
    write: bool
    addr: int
    row_bytes: int
    rows: int = 1
    stride: int = 0

    def row_addrs(self, addr_bits=32):
        return [(self.addr + r * self.stride) % (1 << addr_bits) for r in range(self.rows)]


@dataclass(frozen=True)
class BurstPlan:
    addr: int        # beat-aligned AxADDR
    len: int         # AxLEN (beats - 1)
    lo: int          # first requested byte address
    hi: int          # one past the last requested byte address


def plan_bursts(tile: Tile, nb: int, max_burst: int) -> list[BurstPlan]:
    """The burst split the DMA documents: cut each row at 4 KiB boundaries and after
    ``max_burst`` beats counted from the beat holding the burst's first byte."""
    out = []
    for a in tile.row_addrs():
        end = a + tile.row_bytes
        while a < end:
            base = a - a % nb
            hi = min(end, (a // BOUNDARY + 1) * BOUNDARY, base + max_burst * nb)
            out.append(BurstPlan(base, (hi - base + nb - 1) // nb - 1, a, hi))
            a = hi
    return out


def strobe_mask(beat_addr: int, lo: int, hi: int, nb: int) -> int:
    return sum(1 << i for i in range(nb) if lo <= beat_addr + i < hi)


def pack_rows(rows: list[bytes], nb: int, last: bool = True) -> list[tuple[bytes, int, bool, bool]]:
    """Buffer-side beats of a tile: (bytes, count, row_last, last)."""
    beats = []
    for r, row in enumerate(rows):
        for i in range(0, len(row), nb):
            chunk = row[i:i + nb]
            row_last = i + nb >= len(row)
            beats.append((chunk, len(chunk), row_last, last and row_last and r == len(rows) - 1))
    return beats


@dataclass
class Expected:
    """What the DMA must do for a list of tiles, applied in order to a reference memory."""
    rd_beats: list = field(default_factory=list)
    wr_beats: list = field(default_factory=list)
    ar: list = field(default_factory=list)
    aw: list = field(default_factory=list)
    mem: bytearray = None
    bytes_read: int = 0
    bytes_written: int = 0


def expect(tiles, mem: bytearray, nb: int, max_burst: int, rng: random.Random) -> Expected:
    exp = Expected(mem=bytearray(mem))
    for t in tiles:
        plan = plan_bursts(t, nb, max_burst)
        if t.write:
            rows = [bytes(rng.getrandbits(8) for _ in range(t.row_bytes)) for _ in range(t.rows)]
            for a, row in zip(t.row_addrs(), rows):
                exp.mem[a:a + len(row)] = row
            exp.wr_beats += pack_rows(rows, nb)
            exp.aw += plan
            exp.bytes_written += t.row_bytes * t.rows
        else:
            rows = [bytes(exp.mem[a:a + t.row_bytes]) for a in t.row_addrs()]
            exp.rd_beats += pack_rows(rows, nb)
            exp.ar += plan
            exp.bytes_read += t.row_bytes * t.rows
    return exp


# --------------------------------------------------------------------------- stall profiles
@dataclass(frozen=True)
class Stalls:
    p_cmd_idle: float = 0.3
    p_rd_ready: float = 0.7
    p_wr_idle: float = 0.3
    p_arready: float = 0.6
    p_awready: float = 0.6
    p_wready: float = 0.7
    p_rvalid: float = 0.7
    p_bvalid: float = 0.7
    r_latency: tuple = (1, 12)
    b_latency: tuple = (0, 6)


NO_STALLS = Stalls(0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, (1, 1), (0, 0))
HEAVY_STALLS = Stalls(0.6, 0.3, 0.6, 0.3, 0.3, 0.3, 0.3, 0.3, (0, 30), (0, 20))


# --------------------------------------------------------------------------- the bench
class AxiRuleError(AssertionError):
    pass


@dataclass
class Result:
    mem: bytearray
    counters: dict
    error: int
    cycles: int
    rd_beats: list
    busy_seen: bool
    max_ar_outstanding: int


def run_dma(tiles, mem, *, cfg=AccelConfig(), max_burst=16, max_outstanding=4, seed=0,
            stalls=Stalls(), err_ranges=(), max_cycles=200_000):
    """Simulate ``tiles`` on a fresh TileDMA against ``mem`` (bytearray, modified in place).

    ``err_ranges``: (lo, hi, resp) address ranges whose bursts get RRESP/BRESP ``resp``."""
    nb = cfg.axi_bytes
    rng = random.Random(seed)
    exp = expect(tiles, mem, nb, max_burst, random.Random(seed + 1))
    dut = TileDMA(cfg, max_burst=max_burst, max_outstanding=max_outstanding)
    bus = dut.bus
    beat_layout = DmaBeat(cfg)
    off_count = beat_layout["count"].offset
    off_row_last = beat_layout["row_last"].offset
    off_last = beat_layout["last"].offset
    count_mask = (1 << Shape.cast(beat_layout["count"].shape).width) - 1
    cmd_layout = DmaCommand(cfg)
    data_mask = (1 << (8 * nb)) - 1
    size_log2 = nb.bit_length() - 1

    cmd_q = deque(cmd_layout.const({"write": int(t.write), "addr": t.addr,
                                    "row_bytes": t.row_bytes, "rows": t.rows,
                                    "stride": t.stride}).as_bits() for t in tiles)
    wr_q = deque(exp.wr_beats)
    rd_exp = deque(exp.rd_beats)
    ar_exp = deque(exp.ar)
    aw_exp = deque(exp.aw)
    result = {}

    def resp_for(lo, hi):
        for elo, ehi, resp in err_ranges:
            if lo < ehi and elo < hi:
                return resp
        return 0

    async def bench(ctx):
        last_set = {}

        def put(sig, value):
            if last_set.get(id(sig)) != value:
                last_set[id(sig)] = value
                ctx.set(sig, value)

        cmd_cur = None
        wr_cur = None
        r_cur = None          # (data, resp, last) being presented
        b_cur = None
        r_pending = deque()   # (ready_cycle, data, resp, last)
        b_pending = deque()   # (ready_cycle, resp)
        aw_active = deque()   # accepted AW bursts: [plan, beat index, resp]
        w_early = deque()     # W beats accepted before their AW
        prev = {}             # last cycle's (valid, payload) of DUT sources not yet accepted
        rd_got = []
        busy_seen = False
        ar_inflight = 0
        max_ar_inflight = 0
        cycle = 0

        def hold_check(name, valid, payload, fired):
            """AXI/stream rule: once valid, stay valid with the same payload until accepted."""
            if name in prev and not valid:
                raise AxiRuleError(f"cycle {cycle}: {name} valid dropped before handshake")
            if name in prev and prev[name] != payload:
                raise AxiRuleError(f"cycle {cycle}: {name} payload changed before handshake: "
                                   f"{prev[name]!r} -> {payload!r}")
            if valid and not fired:
                prev[name] = payload
            else:
                prev.pop(name, None)

        def check_addr(ch, addr, length, size, burst):
            beats = length + 1
            if burst != 1:
                raise AxiRuleError(f"{ch}: burst type {burst}, expected INCR")
            if size != size_log2:
                raise AxiRuleError(f"{ch}: size {size}, expected {size_log2} (full width)")
            if beats > max_burst:
                raise AxiRuleError(f"{ch}: {beats} beats > max_burst {max_burst}")
            if addr % nb:
                raise AxiRuleError(f"{ch}: address {addr:#x} not beat-aligned")
            if addr // BOUNDARY != (addr + beats * nb - 1) // BOUNDARY:
                raise AxiRuleError(f"{ch}: burst {addr:#x}+{beats}x{nb} crosses 4 KiB")

        def apply_w(data, strb, last):
            plan, k, resp = aw_active[0]
            beat_addr = plan.addr + k * nb
            want = strobe_mask(beat_addr, plan.lo, plan.hi, nb)
            if strb != want:
                raise AxiRuleError(f"W beat at {beat_addr:#x}: wstrb {strb:#x}, requested "
                                   f"bytes give {want:#x}")
            if last != (k == plan.len):
                raise AxiRuleError(f"W beat {k} of {plan.len + 1} at {beat_addr:#x}: "
                                   f"wlast={last}")
            for i in range(nb):
                if strb >> i & 1:
                    mem[beat_addr + i] = data >> (8 * i) & 0xff
            aw_active[0][1] += 1
            if last:
                aw_active.popleft()
                b_pending.append((cycle + rng.randint(*stalls.b_latency), resp))

        while True:
            # ---------------------------------------------------------------- drive inputs
            if cmd_cur is None and cmd_q and rng.random() >= stalls.p_cmd_idle:
                cmd_cur = cmd_q.popleft()
            put(dut.cmd.valid, int(cmd_cur is not None))
            if cmd_cur is not None:
                put(dut.cmd.payload.as_value(), cmd_cur)

            rd_ready = int(rng.random() < stalls.p_rd_ready)
            put(dut.rd.ready, rd_ready)

            if wr_cur is None and wr_q and rng.random() >= stalls.p_wr_idle:
                chunk, count, row_last, last = wr_q.popleft()
                wr_cur = (int.from_bytes(chunk, "little") | count << off_count |
                          row_last << off_row_last | last << off_last)
            put(dut.wr.valid, int(wr_cur is not None))
            if wr_cur is not None:
                put(dut.wr.payload.as_value(), wr_cur)

            arready = int(rng.random() < stalls.p_arready)
            awready = int(rng.random() < stalls.p_awready)
            wready = int(rng.random() < stalls.p_wready)
            put(bus.arready, arready)
            put(bus.awready, awready)
            put(bus.wready, wready)

            if (r_cur is None and r_pending and r_pending[0][0] <= cycle and
                    rng.random() < stalls.p_rvalid):
                r_cur = r_pending.popleft()[1:]
            put(bus.rvalid, int(r_cur is not None))
            if r_cur is not None:
                put(bus.rdata, r_cur[0])
                put(bus.rresp, r_cur[1])
                put(bus.rlast, r_cur[2])
            if (b_cur is None and b_pending and b_pending[0][0] <= cycle and
                    rng.random() < stalls.p_bvalid):
                b_cur = b_pending.popleft()[1]
            put(bus.bvalid, int(b_cur is not None))
            if b_cur is not None:
                put(bus.bresp, b_cur)

            # ---------------------------------------------------------------- sample outputs
            cmd_ready = ctx.get(dut.cmd.ready)
            rd_valid = ctx.get(dut.rd.valid)
            rd_payload = ctx.get(dut.rd.payload.as_value())
            wr_ready = ctx.get(dut.wr.ready)
            arvalid = ctx.get(bus.arvalid)
            awvalid = ctx.get(bus.awvalid)
            wvalid = ctx.get(bus.wvalid)
            rready = ctx.get(bus.rready)
            bready = ctx.get(bus.bready)
            busy = ctx.get(dut.busy)
            busy_seen |= bool(busy)

            # ---------------------------------------------------------------- handshakes
            if cmd_cur is not None and cmd_ready:
                cmd_cur = None

            rd_fire = rd_valid and rd_ready
            hold_check("rd", rd_valid, rd_payload, rd_fire)
            if rd_fire:
                if not rd_exp:
                    raise AssertionError(f"cycle {cycle}: unexpected rd beat {rd_payload:#x}")
                chunk, count, row_last, last = rd_exp.popleft()
                got = ((rd_payload & data_mask).to_bytes(nb, "little")[:count],
                       rd_payload >> off_count & count_mask, rd_payload >> off_row_last & 1,
                       rd_payload >> off_last & 1)
                want = (chunk, count, int(row_last), int(last))
                assert got == want, f"rd beat {len(rd_got)}: got {got!r}, expected {want!r}"
                rd_got.append(got)

            if wr_cur is not None and wr_ready:
                wr_cur = None

            ar = (ctx.get(bus.araddr), ctx.get(bus.arlen), ctx.get(bus.arsize),
                  ctx.get(bus.arburst), ctx.get(bus.arid)) if arvalid else None
            ar_fire = arvalid and arready
            hold_check("AR", arvalid, ar, ar_fire)
            if ar_fire:
                addr, length, size, burst, _ = ar
                check_addr("AR", addr, length, size, burst)
                plan = ar_exp.popleft() if ar_exp else None
                if plan is None or (plan.addr, plan.len) != (addr, length):
                    raise AxiRuleError(f"AR {addr:#x} len {length}: expected {plan}")
                resp = resp_for(plan.lo, plan.hi)
                t = cycle + rng.randint(*stalls.r_latency)
                for k in range(length + 1):
                    a = addr + k * nb
                    r_pending.append((t, int.from_bytes(mem[a:a + nb], "little"), resp,
                                      int(k == length)))
                ar_inflight += 1
                max_ar_inflight = max(max_ar_inflight, ar_inflight)

            if r_cur is not None and rready:
                if r_cur[2]:
                    ar_inflight -= 1
                r_cur = None

            aw = (ctx.get(bus.awaddr), ctx.get(bus.awlen), ctx.get(bus.awsize),
                  ctx.get(bus.awburst), ctx.get(bus.awid)) if awvalid else None
            aw_fire = awvalid and awready
            hold_check("AW", awvalid, aw, aw_fire)
            w = (ctx.get(bus.wdata), ctx.get(bus.wstrb), ctx.get(bus.wlast)) if wvalid else None
            w_fire = wvalid and wready
            hold_check("W", wvalid, w, w_fire)
            if aw_fire:
                addr, length, size, burst, _ = aw
                check_addr("AW", addr, length, size, burst)
                plan = aw_exp.popleft() if aw_exp else None
                if plan is None or (plan.addr, plan.len) != (addr, length):
                    raise AxiRuleError(f"AW {addr:#x} len {length}: expected {plan}")
                aw_active.append([plan, 0, resp_for(plan.lo, plan.hi)])
            if w_fire:
                w_early.append(w)
            while w_early and aw_active:
                apply_w(*w_early.popleft())
            if w_early and not aw_exp and not aw_active:
                raise AxiRuleError(f"W beat with no burst to belong to: {w_early[0]!r}")

            if b_cur is not None and bready:
                b_cur = None

            done = not (cmd_q or cmd_cur is not None or wr_q or wr_cur is not None or rd_exp or
                        r_pending or r_cur is not None or b_pending or b_cur is not None or
                        aw_active or w_early)
            if done and not busy:
                break
            cycle += 1
            if cycle > max_cycles:
                raise AssertionError(
                    f"timeout after {cycle} cycles: {len(cmd_q)} commands, {len(rd_exp)} rd "
                    f"beats, {len(wr_q)} wr beats, {len(ar_exp)} AR, {len(aw_exp)} AW left; "
                    f"busy={busy}")
            await ctx.tick()

        # the DMA is idle: nothing may move any more, and its counters are final already
        names = ("bytes_read", "bytes_written", "beats_read", "beats_written")
        at_idle = {name: ctx.get(getattr(dut, name)) for name in names}
        for _ in range(3):
            await ctx.tick()
            for sig in (dut.rd.valid, bus.arvalid, bus.awvalid, bus.wvalid, dut.busy):
                assert ctx.get(sig) == 0, f"{sig.name} active after the end"
        assert not ar_exp and not aw_exp, f"bursts never issued: AR {ar_exp}, AW {aw_exp}"
        result["counters"] = {name: ctx.get(getattr(dut, name)) for name in names}
        assert result["counters"] == at_idle, "a counter moved after busy fell"
        result["error"] = ctx.get(dut.error)
        result["cycles"] = cycle
        result["rd_beats"] = rd_got
        result["busy_seen"] = busy_seen
        result["max_ar"] = max_ar_inflight

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    res = Result(mem, result["counters"], result["error"], result["cycles"], result["rd_beats"],
                 result["busy_seen"], result["max_ar"])
    assert mem == exp.mem, first_diff(mem, exp.mem)
    exp_beats_r = sum(p.len + 1 for p in exp.ar)
    exp_beats_w = sum(p.len + 1 for p in exp.aw)
    assert res.counters == {"bytes_read": exp.bytes_read, "bytes_written": exp.bytes_written,
                            "beats_read": exp_beats_r, "beats_written": exp_beats_w}
    if tiles:
        assert res.busy_seen
    return res


def first_diff(got: bytearray, want: bytearray) -> str:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"memory differs first at {i:#x}: got {g:#04x}, expected {w:#04x}"
    return "memory sizes differ"


def random_mem(size, seed):
    return bytearray(random.Random(seed).randbytes(size))


# --------------------------------------------------------------------------- tests
def test_single_row_read_aligned_no_stalls():
    mem = random_mem(8192, 1)
    res = run_dma([Tile(False, 0x100, 16)], mem, stalls=NO_STALLS)
    assert res.error == 0
    assert [b[1] for b in res.rd_beats] == [8, 8]


def test_short_rows_straddling_a_beat():
    """Rows that start late in one beat and end early in the next (realignment + flush)."""
    mem = random_mem(8192, 2)
    tiles = [Tile(False, 0x107, 2), Tile(False, 0x203, 9), Tile(False, 0x305, 1),
             Tile(False, 0x4ff, 3, rows=3, stride=40)]
    run_dma(tiles, mem, stalls=NO_STALLS)
    run_dma(tiles, mem, seed=5)


def sweep_cases(nb, rng, limit=256):
    """(row length, start offset) pairs: every length 1..4*nb at every offset 0..nb-1 when that
    is at most ``limit`` cases (buses up to 64 bits), else lengths 1, nb and 4*nb at every
    offset plus a seeded random sample of the rest (keeps the 128/256-bit runs short)."""
    cases = [(n, off) for n in range(1, 4 * nb + 1) for off in range(nb)]
    if len(cases) <= limit:
        return cases
    corners = [c for c in cases if c[0] in (1, nb, 4 * nb)]
    rest = [c for c in cases if c[0] not in (1, nb, 4 * nb)]
    return corners + rng.sample(rest, limit - len(corners))


def sweep_tiles(nb, write, base, rng, boundary_every=3):
    """verilog-axi style: one single-row tile per sweep case, each in its own place with guard
    bytes around it; every third case is put on (or just before) a 4 KiB boundary."""
    tiles = []
    for n, off in sweep_cases(nb, rng):
        if len(tiles) % boundary_every == 0:
            b = ((base + 64) // BOUNDARY + 1) * BOUNDARY
            addr = b - rng.randint(0, n + nb)
        else:
            addr = base
        addr += (off - addr) % nb
        tiles.append(Tile(write, addr, n))
        base = addr + n + rng.randint(1, nb)
    return tiles, base


@pytest.mark.parametrize("data_bits", [32, 64, 128, 256])
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_sweep_lengths_offsets(write, data_bits):
    """Row lengths 1..4*B at start offsets 0..B-1 (B bytes per beat; exhaustive up to 64-bit
    buses, sampled above), random stalls."""
    cfg = AccelConfig(axi_data_bits=data_bits)
    nb = cfg.axi_bytes
    rng = random.Random(11 + data_bits)
    tiles, end = sweep_tiles(nb, write, 0x40, rng)
    assert len(tiles) == min(4 * nb * nb, 256)
    mem = random_mem(end + 4096, 3) if not write else bytearray(b"\xaa" * (end + 4096))
    res = run_dma(tiles, mem, cfg=cfg, seed=12 + write)
    assert res.error == 0
    if write:
        touched = {a for t in tiles for a in range(t.addr, t.addr + t.row_bytes)}
        assert all(mem[a] == 0xaa for a in range(len(mem)) if a not in touched)


def random_tiles(rng, nb, write, count, mem_size, max_row=200):
    """Multi-row tiles with strides >= row length, packed without overlap (write regions are
    separated by guard bytes), starting anywhere, often close to a 4 KiB boundary."""
    tiles = []
    base = 64
    for _ in range(count):
        n = rng.choice([1, 2, nb - 1, nb, nb + 1, 3 * nb + 5, rng.randint(1, max_row)])
        rows = rng.randint(1, 6)
        stride = n + rng.choice([0, 1, rng.randint(1, 3 * nb), rng.randint(0, 300)])
        if rng.random() < 0.4:
            b = (base // BOUNDARY + 1) * BOUNDARY
            base = max(base, b - rng.randint(0, n + 2 * nb))
        addr = base + rng.randint(0, nb - 1)
        tiles.append(Tile(write, addr, n, rows, stride))
        base = addr + (rows - 1) * stride + n + rng.randint(1, 2 * nb)
    assert base < mem_size
    return tiles


@pytest.mark.parametrize("data_bits,max_burst,stalls", [
    (64, 16, Stalls()),
    (64, 2, HEAVY_STALLS),
    (32, 1, Stalls()),
    (128, 4, Stalls()),
    (256, 256, NO_STALLS),
], ids=["b64-mb16", "b64-mb2-heavy", "b32-mb1", "b128-mb4", "b256-mb256-nostall"])
def test_multirow_tiles(data_bits, max_burst, stalls):
    """Strided multi-row reads and writes across bus widths and burst limits, guard bytes."""
    cfg = AccelConfig(axi_data_bits=data_bits)
    nb = cfg.axi_bytes
    rng = random.Random(data_bits * 1000 + max_burst)
    size = 1 << 16
    reads = random_tiles(rng, nb, False, 12, size)
    writes = random_tiles(rng, nb, True, 12, size)
    mem = random_mem(size, 7)
    run_dma(reads, mem, cfg=cfg, max_burst=max_burst, stalls=stalls, seed=21)
    guard = bytearray(b"\xaa" * size)
    run_dma(writes, guard, cfg=cfg, max_burst=max_burst, stalls=stalls, seed=22)
    touched = {a for t in writes for r in t.row_addrs() for a in range(r, r + t.row_bytes)}
    assert all(guard[a] == 0xaa for a in range(size) if a not in touched)


def test_long_rows_split_at_4k_and_max_burst():
    """Rows of several KiB: bursts are cut at 4 KiB and at max_burst beats; the slave checks
    each AR/AW against the reference split, so the exact burst list is pinned."""
    cfg = AccelConfig()
    mem = random_mem(1 << 15, 8)
    tiles = [Tile(False, 0x0ffd, 5000), Tile(False, 0x3003, 4093, rows=2, stride=4100)]
    res = run_dma(tiles, mem, cfg=cfg, max_burst=64, seed=3)
    assert res.counters["beats_read"] == sum(p.len + 1 for t in tiles for p in
                                             plan_bursts(t, 8, 64))
    guard = bytearray(b"\xaa" * (1 << 15))
    run_dma([Tile(True, 0x1ffb, 4107), Tile(True, 0x4001, 300, rows=3, stride=4096)], guard,
            cfg=cfg, max_burst=256, seed=4)


def test_mixed_directions_are_ordered():
    """Write a tile, read it back, overwrite part of it, read again: every read sees the data
    of every earlier write (the DMA drains one direction before switching)."""
    cfg = AccelConfig()
    mem = random_mem(1 << 14, 9)
    tiles = [
        Tile(True, 0x0103, 37, rows=4, stride=64),
        Tile(False, 0x0103, 37, rows=4, stride=64),
        Tile(True, 0x0110, 9, rows=2, stride=128),
        Tile(False, 0x0100, 64, rows=4, stride=64),
        Tile(False, 0x0ff9, 20),
        Tile(True, 0x0ff9, 20),
        Tile(False, 0x0ff0, 40),
    ]
    run_dma(tiles, mem, cfg=cfg, seed=6)
    run_dma(tiles, mem, cfg=cfg, seed=7, stalls=HEAVY_STALLS)


def test_reads_overlap_on_the_bus():
    """With a fast consumer, several read bursts are in flight at once (max_outstanding)."""
    cfg = AccelConfig()
    mem = random_mem(1 << 14, 10)
    fast = Stalls(0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, (20, 20), (0, 0))
    tiles = [Tile(False, 0x40 * i + 3, 8, rows=4, stride=512) for i in range(4)]
    res = run_dma(tiles, mem, cfg=cfg, max_outstanding=4, stalls=fast)
    assert res.max_ar_outstanding == 4
    res1 = run_dma(tiles, mem, cfg=cfg, max_outstanding=1, stalls=fast)
    assert res1.max_ar_outstanding == 1
    assert res.cycles * 2 < res1.cycles


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
@pytest.mark.parametrize("row_bytes,off", [(64, 0), (64, 3), (4096, 0)])
def test_streaming_throughput(write, row_bytes, off):
    """Without stalls the DMA moves one bus beat per cycle, realigned or not: the whole tile
    takes at most a few cycles more than its beat count."""
    cfg = AccelConfig()
    rows = 64 if row_bytes < 4096 else 4
    tile = Tile(write, 0x100 + off, row_bytes, rows=rows, stride=row_bytes + 64)
    mem = random_mem(1 << 16, 13)
    res = run_dma([tile], mem, cfg=cfg, stalls=NO_STALLS)
    beats = res.counters["beats_written" if write else "beats_read"]
    assert beats == sum(p.len + 1 for p in plan_bursts(tile, cfg.axi_bytes, 16))
    assert res.cycles <= beats + 6, (beats, res.cycles)


@pytest.mark.parametrize("resp", [2, 3], ids=["SLVERR", "DECERR"])
def test_bus_errors_latch_error(resp):
    """A failing burst latches `error`; the streams still complete with the right framing."""
    cfg = AccelConfig()
    mem = random_mem(1 << 13, 11)
    tiles = [Tile(False, 0x100, 20, rows=3, stride=32), Tile(False, 0x800, 5)]
    ok = run_dma(tiles, bytearray(mem), cfg=cfg, seed=1)
    assert ok.error == 0
    bad = run_dma(tiles, bytearray(mem), cfg=cfg, seed=1, err_ranges=[(0x120, 0x121, resp)])
    assert bad.error == 1
    assert [b[1:] for b in bad.rd_beats] == [b[1:] for b in ok.rd_beats]
    wtiles = [Tile(True, 0x100, 20, rows=3, stride=32)]
    bad_w = run_dma(wtiles, bytearray(mem), cfg=cfg, seed=1, err_ranges=[(0x140, 0x141, resp)])
    assert bad_w.error == 1


def test_zero_size_command_is_dropped():
    mem = random_mem(4096, 12)
    res = run_dma([Tile(False, 0x10, 0), Tile(False, 0x20, 5, rows=0), Tile(False, 0x30, 3)],
                  mem, stalls=NO_STALLS)
    assert res.counters["bytes_read"] == 3


def test_counters_clear_and_wr_framing_error():
    """`clear` zeroes the counters and the error latch; a `wr` beat whose count disagrees with
    the command latches `error`."""
    cfg = AccelConfig()
    dut = TileDMA(cfg)
    nb = cfg.axi_bytes
    beat = DmaBeat(cfg)

    async def bench(ctx):
        ctx.set(dut.bus.awready, 1)
        ctx.set(dut.bus.wready, 1)
        ctx.set(dut.cmd.payload, {"write": 1, "addr": 0x40, "row_bytes": 2 * nb, "rows": 1,
                                  "stride": 0})
        ctx.set(dut.cmd.valid, 1)
        await ctx.tick().until(dut.cmd.ready)
        ctx.set(dut.cmd.valid, 0)
        for i, count in enumerate([nb, nb - 1]):    # second beat claims one byte too few
            ctx.set(dut.wr.payload, beat.const({"data": 0, "count": count, "row_last": i == 1,
                                                "last": i == 1}))
            ctx.set(dut.wr.valid, 1)
            await ctx.tick().until(dut.wr.ready)
        ctx.set(dut.wr.valid, 0)
        # a B response for the single burst
        while not ctx.get(dut.bus.wlast & dut.bus.wvalid):
            await ctx.tick()
        await ctx.tick()
        ctx.set(dut.bus.bvalid, 1)
        await ctx.tick().until(dut.bus.bready)
        ctx.set(dut.bus.bvalid, 0)
        await ctx.tick().repeat(2)
        assert ctx.get(dut.error) == 1
        assert ctx.get(dut.bytes_written) == 2 * nb
        assert ctx.get(dut.beats_written) == 2
        assert ctx.get(dut.busy) == 0
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        await ctx.tick()
        assert ctx.get(dut.error) == 0
        assert ctx.get(dut.bytes_written) == 0
        assert ctx.get(dut.beats_written) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_rejects_bad_parameters():
    with pytest.raises(ValueError, match="max_burst"):
        TileDMA(AccelConfig(), max_burst=257)
    with pytest.raises(ValueError, match="max_burst"):
        TileDMA(AccelConfig(), max_burst=0)
    with pytest.raises(ValueError, match="max_outstanding"):
        TileDMA(AccelConfig(), max_outstanding=0)
    with pytest.raises(ValueError, match="counter_bits"):
        TileDMA(AccelConfig(), counter_bits=16)
    with pytest.raises(TypeError):
        TileDMA(None)


def test_plan_bursts_reference():
    """The reference split itself: pinned numbers for a 5000-byte row starting 3 bytes before
    a 4 KiB boundary, 8-byte beats, 64-beat bursts."""
    plan = plan_bursts(Tile(False, 0x0ffd, 5000), 8, 64)
    assert plan[0] == BurstPlan(0x0ff8, 0, 0x0ffd, 0x1000)
    assert plan[1] == BurstPlan(0x1000, 63, 0x1000, 0x1200)
    assert all(p.len < 64 for p in plan)
    assert sum(p.hi - p.lo for p in plan) == 5000
    # 3 bytes up to 0x1000, eight full 512-byte bursts up to 0x2000, then 512 + 389 bytes
    assert [p.hi - p.lo for p in plan] == [3] + [512] * 9 + [389]


def test_axi_signatures_match_cocotbext_axi():
    """Member names and fixed widths are the ones cocotbext-axi's buses look for."""
    from cocotbext.axi import axi_channels, axil_channels

    from scanfuse.hw.axi import AXI4LiteSignature, AXI4Signature

    full = AXI4Signature(32, 64, id_width=4)
    members = {name: Shape.cast(member.shape).width for name, member in full.members.items()}
    required = set()
    for bus in (axi_channels.AxiAWBus, axi_channels.AxiWBus, axi_channels.AxiBBus,
                axi_channels.AxiARBus, axi_channels.AxiRBus):
        required |= set(bus._signals)
    optional = {"awlock", "awcache", "awprot", "wstrb", "bresp", "arlock", "arcache", "arprot",
                "rresp"}
    assert set(members) == required | optional
    assert (members["awlen"], members["awsize"], members["wstrb"], members["rdata"],
            members["bid"]) == (8, 3, 8, 64, 4)
    assert full.members["rdata"].flow.name == "In" and full.members["awaddr"].flow.name == "Out"

    lite = AXI4LiteSignature(16, 32)
    required = set()
    for bus in (axil_channels.AxiLiteAWBus, axil_channels.AxiLiteWBus, axil_channels.AxiLiteBBus,
                axil_channels.AxiLiteARBus, axil_channels.AxiLiteRBus):
        required |= set(bus._signals) | set(bus._optional_signals)
    assert set(lite.members) == required
    assert full == AXI4Signature(32, 64, id_width=4) and full != AXI4Signature(32, 64)
    with pytest.raises(ValueError):
        AXI4Signature(32, 48)
    with pytest.raises(ValueError):
        AXI4LiteSignature(32, 128)
