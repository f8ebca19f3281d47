"""Output-stationary int8 systolic array (``PEArray``) and its stream payloads.

The array computes one *block* of a tile product at a time: ``rows x cols`` outputs
``C[m0 + r, n0 + c] = sum_k A[m0 + r, k] * B[k, n0 + c]`` (int8 x int8 -> int32, wrapping),
fed one k step per cycle. Each processing element (PE) ``(r, c)`` keeps its output in place
(output-stationary); A values move right along rows, B values move down columns, and the
operand skew is generated inside the component. Partial sums of earlier k chunks are added
outside the array (the sequencer's read-modify-write of the C accumulator buffer).

Dataflow (4 x 3 example; ``[ ]`` is a register; no register of the array has a global
enable: everything shifts every cycle, bubbles included)::

                  b[0]       b[1]       b[2]          B[k, n0 + c] enters column c
                   |          |          |            after 1 + c registers (skew)
                  [ ]        [ ][ ]     [ ][ ][ ]
                   v          v          v
    a[0] [ ] ----> PE00 -[ ]-> PE01 -[ ]-> PE02       A[m0 + r, k] enters row r
                   |[ ]       |[ ]        |[ ]        after 1 + r registers (skew)
                   v          v           v
    a[1] [ ][ ] -> PE10 -[ ]-> PE11 -[ ]-> PE12       PE (r, c) sees the operands of
                   ...                                k step j at cycle t_j + 1 + r + c:
    a[3] [ ]x4 --> PE30 -[ ]-> PE31 -[ ]-> PE32       one anti-diagonal per cycle.
                     |          |          |
                   per-column collection trees (registered, one row per cycle)
                     +----------+----------+
                   one output FIFO per column (LUT RAM, ``out_rows`` rows) -> registered ``o``

Each PE multiplies in a pipelined multiplier of latency ``L`` (:mod:`scanfuse.hw.multiplier`,
chosen by ``cfg.pe_multiplier``: ``L = 1`` for the inferred multiplier, ``L = 3`` for the ECP5
``MULT18X18D`` with input, output and fabric product registers) and adds the product to its
accumulator ``L`` cycles after its operands arrive.

Restart-free accumulator. A PE's accumulator never restarts: ``acc <= acc + p`` whenever
its product is of a real k step (modulo ``2**acc_bits``), with that condition as the
flip-flops' enable and the local reset as their synchronous reset, so nothing but ``acc`` and
``p`` feeds its carry chain. At a block's end the PE copies ``acc`` into its shadow register:
the running sum, not the block's. A block's sum is that snapshot minus the same PE's snapshot
at the previous block's end, exact modulo ``2**acc_bits`` however often the accumulator
wrapped; the subtraction is made once per column, after the collection tree (below), against
a ``rows``-entry memory of the previous block's snapshots, so a PE holds one snapshot register
and no subtractor. The reset zeroes the accumulators and marks the columns' memories empty
(the first block after it subtracts 0).

Systolic control. Two control bits travel with the products like the A operands travel with
the operands: ``v`` (the product now ready is of a real k step; bubbles do not accumulate)
and ``tok`` (it ends a block). They enter the array ``1 + L`` registers after the input
handshake, move down column 0 and right along every row, one register per hop, so PE
``(r, c)`` holds its own copy exactly when its product of that k step is ready. Every control
net joins neighbours only. When a PE sees ``tok`` it accumulates that last product as
usual; in the next cycle (its ``done`` register) the shadow copies ``acc``. Meanwhile the
accumulator goes on adding the next block's products, so its k steps can follow on the very
next cycle: fill and drain skew are paid once per stream, not once per block.

Output side. Row ``r`` of a block is complete in the shadow registers ``r + cols + L + 2``
cycles after its last k step was accepted, rows one cycle apart. Each PE delays its ``done``
by ``cols - c`` cycles in its own small shift register, so every PE of row ``r`` selects its
shadow in that same cycle without a row-wide net; per column, a registered tree (pairs of
rows, then groups of four, :attr:`PEArray.collect_stages` levels) ORs the selected shadows,
and the rows leave it one per cycle, in order. A registered subtractor takes each row's
snapshot minus the previous block's (read from the column's ``ends`` memory, LUT RAM, where
the new snapshot replaces it), and the differences land in the column's own output FIFO of
``out_rows`` entries (LUT RAM, asynchronous read). The FIFO is read into a register, which
moves on into the column's slice of the registered ``o`` (or, if that slice is held, into a
skid register) whenever the skid register is empty. Each column keeps its own copy of the FIFO
pointers and of the valid bits: the copies see the same writes and the same ``o.ready``, so
they stay equal, and only ``o.ready`` (to each column's output slice) and ``o.valid``
(column 0's copy) cross the columns.

Reset. The domain reset drives only a few registers at the input; every other register with
a reset takes it from a local copy three registers from ``rst`` (one per PE, one per output
column, one for the input side), so no reset net spans the array. The whole component is
reset three cycles late, consistently, and ``i.ready`` and ``o.valid`` are held low from the
cycle after ``rst`` until then (``tests/hw/test_pe_array.py`` resets it mid-stream).

Synthesis merges registers loaded with the same function; the per-PE control copies, reset
copies and select chains are made structurally different (column 0's control copies load
``tok & v`` and ``v | tok``, equal to ``tok`` and ``v`` since ``tok`` implies ``v``; reset
copies OR in terms that are never true: a PE's ``tok`` without its ``v``, a column's skid
row without its output row), or Yosys would rebuild the broadcasts.

Flow control
------------
The array never stops: nothing inside it depends on ``o.ready``. Instead a k step carrying
``last`` (a block end) is admitted only when

* the output FIFO has room for the block's ``rows`` rows: a credit counter at the input,
  ``out_rows`` at reset, is decreased by ``rows`` on each admitted block end and increased
  by one for each row the output register takes from the FIFO (two cycles later, seen as a
  change of column 0's read pointer's low bit); ``room``
  (credits ``>= rows``) is a register computed from the next credits. Rows in flight are
  counted from admission, so the FIFO cannot overflow, whatever ``o.ready`` does;
* at least ``G = max(rows, cols)`` cycles have passed since the previous admitted block end
  (:attr:`PEArray.token_gap`; a down-counter at the input). ``G >= cols``: a block's token
  reaches shadow ``(r, 0)`` only after the previous block's row ``r`` has been selected
  (the select is in the cycle its row completes); ``G >= rows``: two blocks' rows never
  meet in the collection trees.

Non-last k steps are never held back; while a last step waits, bubbles enter.
``i.ready`` is ``admit`` for a last step and ``~hold`` otherwise, ``admit`` being one
register (``~hold & room & gap_ok``, loaded with its next value): it depends on the offered
payload and on registers, never on ``o.ready`` combinationally.

Timing (no stalls, measured by ``tests/hw/test_pe_array.py`` for both multiplier kinds): row
``r`` of a block is valid on ``o`` ``cols + L + D + 6 + r`` cycles after the cycle in which
the block's last k step was accepted (``D`` = :attr:`PEArray.collect_stages`: 1 for up to 2
rows, 2 for 3..8, 3 for 9..32; at 8x8 with the DSP ``19 + r``; one of those cycles is the
column's subtract stage). Blocks of ``K`` k steps settle
to one block every ``max(K, G)`` cycles (``G >= rows``: at most one output row per cycle);
for ``K >= G`` a k step is accepted every cycle, and ``N`` blocks take
``N * K + rows + cols + L + D + 5`` cycles from the first k step to the last output row.
The multiplier's latency is hidden behind the streams: users see only a longer fill/drain,
never a different handshake. ``out_rows`` (the FIFO depth, a power of two) covers the credit
round trip for blocks ``G`` cycles apart: 32 rows at 8x8.
(The first array, to commit 7c93a10, froze everything under a global enable ``adv`` and
drained rows through a row mux; its row ``r`` came ``cols + 2 + L + r`` cycles after the last
k step and short blocks settled to ``max(K, cols + 1, ceil((rows + cols - 1) / 2), rows)``.)
"""

from amaranth.hdl import Module, Mux, ResetSignal, Signal, Value, signed, unsigned
from amaranth.lib.memory import Memory
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .multiplier import make_multiplier, multiplier_latency
from .params import AccelConfig

__all__ = ["KStep", "PsumRow", "PEArray"]


def _or_all(values):
    out = values[0]
    for x in values[1:]:
        out = out | x
    return out


def _index_shape(count: int) -> unsigned:
    # A 1-row array still gets a 1-bit index: zero-width ports make awkward Verilog.
    return unsigned(max(1, (count - 1).bit_length()))


class KStep(data.StructLayout):
    """Payload of :attr:`PEArray.i`: one k step of a block.

    Members
    -------
    a : ``ArrayLayout(signed(operand_bits), rows)``
        ``A[m0 + r, k]`` for ``r`` in ``0 .. rows - 1``.
    b : ``ArrayLayout(signed(operand_bits), cols)``
        ``B[k, n0 + c]`` for ``c`` in ``0 .. cols - 1``.
    last : ``unsigned(1)``
        This is the block's last k step.
    """

    def __init__(self, cfg: AccelConfig):
        super().__init__({
            "a": data.ArrayLayout(signed(cfg.operand_bits), cfg.rows),
            "b": data.ArrayLayout(signed(cfg.operand_bits), cfg.cols),
            "last": unsigned(1),
        })


class PsumRow(data.StructLayout):
    """Payload of :attr:`PEArray.o`: one row of a block's results.

    Members
    -------
    data : ``ArrayLayout(signed(acc_bits), cols)``
        ``C[m0 + row, n0 + c]`` for ``c`` in ``0 .. cols - 1``, wrapped modulo ``2**acc_bits``.
    row : ``unsigned(max(1, ceil(log2(rows))))``
        Row index within the block, ``0 .. rows - 1``; rows arrive in order.
    last : ``unsigned(1)``
        Set on the block's last row (``row == rows - 1``).
    """

    def __init__(self, cfg: AccelConfig):
        super().__init__({
            "data": data.ArrayLayout(signed(cfg.acc_bits), cfg.cols),
            "row": _index_shape(cfg.rows),
            "last": unsigned(1),
        })


class PEArray(wiring.Component):
    """Output-stationary ``rows x cols`` int8 systolic array with a shadow output bank.

    See the module docstring for the dataflow, flow control and timing.

    Parameters
    ----------
    cfg : :class:`~scanfuse.hw.params.AccelConfig`
        Uses ``rows``, ``cols``, ``operand_bits`` and ``acc_bits``.

    Members
    -------
    i : ``In(stream.Signature(KStep(cfg)))``
        k steps; a block is one or more k steps, the last one flagged with ``last``.
    o : ``Out(stream.Signature(PsumRow(cfg)))``
        Exactly ``rows`` beats per block, rows in order, ``last`` on the final one.
    ready_last, ready_more : ``Out(1)``
        ``i.ready`` for an offered k step with ``last`` set and for one without, from
        registers: ``i.ready == Mux(i.payload.last, ready_last, ready_more)`` in every cycle.
        A producer may select between them with its own copy of ``last`` instead of waiting
        for ``i.ready`` to come back through the array (:class:`~scanfuse.hw.feed.ComputeFeed`
        does).

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`AccelConfig`.
    ValueError
        If the accumulator is too narrow to hold one int8 x int8 product.
    """

    def __init__(self, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        if cfg.acc_bits < 2 * cfg.operand_bits:
            raise ValueError(f"acc_bits ({cfg.acc_bits}) must be at least 2 * operand_bits "
                             f"({2 * cfg.operand_bits}) to hold one product")
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(KStep(cfg))),
            "o": Out(stream.Signature(PsumRow(cfg))),
            "ready_last": Out(1),
            "ready_more": Out(1),
        })

    @property
    def cfg(self) -> AccelConfig:
        return self._cfg

    @property
    def token_gap(self) -> int:
        """Minimum spacing ``G = max(rows, cols)`` in cycles between two admitted block ends
        (see the module docstring)."""
        return max(self._cfg.rows, self._cfg.cols)

    @property
    def mult_latency(self) -> int:
        """Cycles from a PE's operands to its product register (1 inferred, 3 ``mult18x18d``)."""
        return multiplier_latency(self._cfg.pe_multiplier)

    @property
    def collect_stages(self) -> int:
        """Register levels ``D`` of the per-column collection trees: a first level over pairs
        of rows, then levels over groups of four (1 for 1..2 rows, 2 for 3..8, 3 for 9..32)."""
        n, levels = (self._cfg.rows + 1) // 2, 1
        while n > 1:
            n, levels = (n + 3) // 4, levels + 1
        return levels

    @property
    def out_rows(self) -> int:
        """Depth of the output FIFO in rows (a power of two): room for every row that can be
        reserved by blocks admitted ``G`` cycles apart over the credit round trip (admission
        to the credit's return, ``rows + cols + L + D + 6`` cycles for a block's last row)."""
        rows = self._cfg.rows
        trip = rows + self._cfg.cols + self.mult_latency + self.collect_stages + 6
        need = rows * -(-trip // self.token_gap)
        return 1 << (need - 1).bit_length()

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        rows, cols = cfg.rows, cfg.cols
        lat = self.mult_latency
        acc_shape = signed(cfg.acc_bits)
        gap = self.token_gap
        depth = self.out_rows

        def reg(value, name, rst=None, init=0):
            """A register loading ``value`` every cycle; ``init`` when the local reset ``rst``
            is high (no reset at all with ``rst=None``)."""
            q = Signal(Value.cast(value).shape(), name=name, init=init, reset_less=True)
            m.d.sync += q.eq(value)
            if rst is not None:
                with m.If(rst):
                    m.d.sync += q.eq(init)
            return q

        # --- reset distribution -------------------------------------------------------------
        # The domain reset reaches only a few registers: every register of the component that
        # has a reset takes it from a local copy three registers away from `rst` (the input
        # side's, one per PE, one per output column), so no reset net spans the array and the
        # whole component sees the same reset, three cycles late. `hold` keeps i.ready and
        # o.valid low from the cycle after `rst` until that delayed reset has passed.
        # The copies OR in terms that are never true (a PE's `tok` without its `v`; a column's
        # skid row without its output row), each on different signals: synthesis merges registers
        # loaded with the same function, and would otherwise rebuild one wide reset net.
        rst = ResetSignal("sync")
        rst_q = reg(rst, "rst_q")
        rst_q2 = reg(rst_q, "rst_q2")
        hold_next = rst | rst_q | rst_q2
        hold = reg(hold_next, "hold")
        rst_in = reg(rst_q2, "rst_in")

        # --- admission (input side): credits for the output FIFO, block-end spacing --------
        # `admit` (a block end may enter: not held, credits >= rows, >= gap cycles since the
        # last block end) is one register, loaded with its next value: the offered k step
        # only selects between precomputed values, so i.valid and last drive one LUT level.
        accept = Signal()          # k step transfer on `i`
        end = Signal()             # ... carrying `last`
        # Column 0 read a row from its FIFO (a slot is free) two cycles ago; set below.
        pop_q = Signal(name="pop_q1", reset_less=True)                      # reset by rst_in
        admit = Signal(reset_less=True)
        credits = Signal(range(depth + 1), init=depth, reset_less=True)   # reset by rst_in
        m.d.comb += [
            self.ready_last.eq(admit),
            self.ready_more.eq(~hold),
            self.i.ready.eq(Mux(self.i.payload.last, self.ready_last, self.ready_more)),
            accept.eq(self.i.valid & self.i.ready),
            end.eq(self.i.valid & self.i.payload.last & admit),
        ]
        c_plus = Signal(range(depth + 2))
        m.d.comb += c_plus.eq(credits + pop_q)
        m.d.sync += credits.eq(Mux(end, c_plus - rows, c_plus))
        room_next = Mux(end, c_plus >= 2 * rows, c_plus >= rows)
        gap_ok_next = 1
        if gap > 1:
            gap_cnt = Signal(range(gap), reset_less=True)                   # reset by rst_in
            with m.If(end):
                m.d.sync += gap_cnt.eq(gap - 1)
            with m.Elif(gap_cnt != 0):
                m.d.sync += gap_cnt.eq(gap_cnt - 1)
            with m.If(rst_in):
                m.d.sync += gap_cnt.eq(0)
            # gap_cnt <= 1, without a compare that is constant for a 1-bit counter (lint).
            at_most_one = ~gap_cnt[1:].any() if len(gap_cnt) > 1 else 1
            gap_ok_next = ~end & at_most_one
        m.d.sync += admit.eq(~hold_next & room_next & gap_ok_next)
        with m.If(rst_in):
            # After the reset: credits == depth >= rows, no block end for `gap` cycles.
            m.d.sync += [credits.eq(depth), admit.eq(~hold_next)]

        # --- systolic control: v / tok, delayed 1 + L cycles, then down column 0 and right
        # along each row; ctl_*[r][c] is high in the cycle PE (r, c)'s product is ready.
        v, tok = accept, end
        for j in range(lat):
            v, tok = reg(v, f"ctl_v_in{j}", rst_in), reg(tok, f"ctl_tok_in{j}", rst_in)
        # Synthesis merges registers loaded with the same function, which would fold every
        # anti-diagonal's copies back into one register driving all its PEs. So the copies
        # going down column 0 load `tok & v` and `v | tok` instead of `tok` and `v`: equal
        # values (`tok` is only ever set together with `v`), different logic from the copies
        # going right.
        ctl_v = [[None] * cols for _ in range(rows)]
        ctl_tok = [[None] * cols for _ in range(rows)]
        never = [[None] * cols for _ in range(rows)]      # tok without v: never true
        rst_row = []
        rst_pe = [[None] * cols for _ in range(rows)]
        for r in range(rows):
            for c in range(cols):
                ctl_v[r][c] = Signal(name=f"ctl_v_{r}_{c}", reset_less=True)
                ctl_tok[r][c] = Signal(name=f"ctl_tok_{r}_{c}", reset_less=True)
                never[r][c] = ctl_tok[r][c] & ~ctl_v[r][c]
            rst_row.append(reg(rst_q | never[r][0], f"rst_row{r}"))
            for c in range(cols):
                rst_pe[r][c] = reg(rst_row[r] | never[r][c], f"rst_pe_{r}_{c}")
        for r in range(rows):
            for c in range(cols):
                if (r, c) == (0, 0):
                    src_v, src_tok = v, tok
                elif c == 0:
                    up_v, up_tok = ctl_v[r - 1][0], ctl_tok[r - 1][0]
                    src_v, src_tok = up_v | up_tok, up_tok & up_v
                else:
                    src_v, src_tok = ctl_v[r][c - 1], ctl_tok[r][c - 1]
                m.d.sync += [ctl_v[r][c].eq(src_v), ctl_tok[r][c].eq(src_tok)]
                with m.If(rst_pe[r][c]):
                    m.d.sync += [ctl_v[r][c].eq(0), ctl_tok[r][c].eq(0)]

        # --- operand skew lanes: row r's A is delayed 1 + r cycles, column c's B 1 + c.
        def delay(value, depth_, name):
            for j in range(depth_):
                value = reg(value, f"{name}_s{j}")
            return value

        a_in = [[None] * cols for _ in range(rows)]
        b_in = [[None] * cols for _ in range(rows)]
        for r in range(rows):
            a_in[r][0] = delay(self.i.payload.a[r], 1 + r, f"a{r}")
        for c in range(cols):
            b_in[0][c] = delay(self.i.payload.b[c], 1 + c, f"b{c}")

        shadow = [[None] * cols for _ in range(rows)]
        select = [[None] * cols for _ in range(rows)]
        for r in range(rows):
            for c in range(cols):
                a, b = a_in[r][c], b_in[r][c]
                if c + 1 < cols:
                    a_in[r][c + 1] = reg(a, f"a_{r}_{c + 1}")
                if r + 1 < rows:
                    b_in[r + 1][c] = reg(b, f"b_{r + 1}_{c}")

                # The product is registered (an FPGA multiplier block plus an adder do not
                # fit one cycle); bubbles multiply too, ctl_v keeps them out.
                mult = make_multiplier(cfg.pe_multiplier, cfg.operand_bits)
                m.submodules[f"mul_{r}_{c}"] = mult
                m.d.comb += [mult.a.eq(a), mult.b.eq(b), mult.en.eq(1)]
                acc = Signal(acc_shape, name=f"acc_{r}_{c}", reset_less=True)
                sh = Signal(acc_shape, name=f"shadow_{r}_{c}", reset_less=True)
                # The accumulator never restarts: it adds every real product (wrapping modulo
                # 2**acc_bits, like int32 hardware) and its only control is the enable ctl_v
                # and the local reset, both FF pins (CE, LSR) rather than logic in front of
                # the carry chain. In the cycle after a block's last product (`done`) the
                # shadow snapshots `acc`: the running sum at the block's end. The block's own
                # sum, this snapshot minus the previous block's, is taken per column after
                # the collection tree (below), so a PE holds one snapshot and no subtractor.
                # Two copies of `done`: `done` enables the shadow's 32 flip-flops beside the
                # accumulator, `done_sh` starts the select chain. `tok & v` (== tok) keeps
                # synthesis from merging them.
                done = reg(ctl_tok[r][c] & ctl_v[r][c], f"done_snap_{r}_{c}", rst_pe[r][c])
                done_sh = reg(ctl_tok[r][c], f"done_{r}_{c}", rst_pe[r][c])
                # The select chain runs from the PE towards its column's collection tree, so
                # it takes its own reset copy, beside it, not the PE's (acc2 seed 1:
                # rst_pe_0_2 -> sel_0_2_s6, 6.4 ns of routing, 136.4 MHz, the PE's copy also
                # resetting its accumulator and snapshot bits); `done_sh & ~done` is never true
                # (their sources are equal) and keeps it apart from rst_pe.
                rst_sel = reg(rst_row[r] | (done_sh & ~done), f"rst_sel_{r}_{c}")
                sel_chain = [done_sh]
                for j in range(cols - c):
                    sel_chain.append(reg(sel_chain[-1], f"sel_{r}_{c}_s{j}", rst_sel))
                with m.If(ctl_v[r][c]):
                    m.d.sync += acc.eq(acc + mult.p)
                with m.If(done):
                    m.d.sync += sh.eq(acc)
                with m.If(rst_pe[r][c]):
                    m.d.sync += acc.eq(0)
                shadow[r][c] = sh
                # Selected one cycle after PE (r, cols - 1)'s done, the first cycle its shadow
                # holds the snapshot; the same cycle for every PE of row r.
                select[r][c] = sel_chain[-1]

        # --- collection and output, per column: a registered OR tree over the column's
        # selected shadows (at most one row is selected per cycle) and a one-bit tree over its
        # selects; the roots write the column's own FIFO slice (32 x acc_bits LUT RAM at
        # 8x8), which loads the column's slice of the output register. Every column keeps its
        # own copy of the FIFO state (pointers, fill, output valid): the copies see the same
        # writes in the same cycles and the same o.ready, so they are equal, and no net but
        # o.ready (and o.valid, from column 0) spans the columns.
        def collect(leaves, name, rst):
            level, n, size = leaves, 0, 2
            while True:
                groups = [level[j:j + size] for j in range(0, len(level), size)]
                level = [reg(_or_all(g), f"{name}_l{n}_{j}", rst) for j, g in enumerate(groups)]
                n, size = n + 1, 4
                if len(level) == 1:
                    return level[0]

        out_data = [Signal(acc_shape, name=f"out_col{c}", reset_less=True) for c in range(cols)]
        out_valid = [Signal(name=f"out_valid{c}", reset_less=True) for c in range(cols)]
        reads = []
        addr_bits = (depth - 1).bit_length()
        for c in range(cols):
            # Output: the column FIFO read into a register (pf_*), then the column's slice of
            # `o` (out_*) with a skid register (sk_*). pf moves on whenever the skid register
            # is empty, and the FIFO is read whenever pf moves on and the FIFO holds a row:
            # decisions from registers only, so o.ready reaches just the output slice and the
            # valid bits. A held skid row implies a held output row: `sk_valid & ~out_valid`
            # is never true (the term that keeps the column's reset copies apart).
            pf_data = Signal(acc_shape, name=f"pf_col{c}", reset_less=True)
            pf_valid = Signal(name=f"pf_valid{c}", reset_less=True)
            sk_data = Signal(acc_shape, name=f"skid_col{c}", reset_less=True)
            sk_valid = Signal(name=f"skid_valid{c}", reset_less=True)
            over = sk_valid & ~out_valid[c]
            rst_col = reg(reg(rst_q | over, f"rst_col{c}a") | over, f"rst_col{c}")
            root = collect([Mux(select[r][c], shadow[r][c], 0) for r in range(rows)],
                           f"col{c}", None)
            root_v = collect([select[r][c] for r in range(rows)], f"col{c}_v", rst_col)
            # The block's sum: the snapshot minus the same row's snapshot of the previous
            # block, kept in a `rows`-entry LUT RAM (asynchronous read, so the old value is
            # read in the cycle the new one is written); rows arrive in order, one block's
            # `rows` rows together, so a row counter is the address. `seen` is clear until a
            # whole block has passed after a reset: the accumulators restart from 0 then.
            ends = Memory(shape=unsigned(cfg.acc_bits), depth=max(2, rows), init=[],
                          attrs={"ram_style": "distributed"})
            m.submodules[f"ends{c}"] = ends
            ends_w = ends.write_port()
            ends_r = ends.read_port(domain="comb")
            row_at = Signal(_index_shape(rows), name=f"row_at{c}", reset_less=True)
            seen = Signal(name=f"seen{c}", reset_less=True)
            m.d.comb += [ends_w.addr.eq(row_at), ends_w.data.eq(root), ends_w.en.eq(root_v),
                         ends_r.addr.eq(row_at)]
            with m.If(root_v):
                m.d.sync += row_at.eq(Mux(row_at == rows - 1, 0, row_at + 1))
                with m.If(row_at == rows - 1):
                    m.d.sync += seen.eq(1)
            with m.If(rst_col):
                m.d.sync += [row_at.eq(0), seen.eq(0)]
            start = Mux(seen, ends_r.data, 0)
            wdata = reg((root - start)[:cfg.acc_bits], f"col{c}_sum")
            wen = reg(root_v, f"col{c}_sum_v", rst_col)
            # LUT RAM (asynchronous read): a block RAM's clock-to-output is too slow here.
            fifo = Memory(shape=unsigned(cfg.acc_bits), depth=depth, init=[],
                          attrs={"ram_style": "distributed"})
            m.submodules[f"fifo{c}"] = fifo
            wp = fifo.write_port()
            rp = fifo.read_port(domain="comb")
            # Pointers with one bit more than the address: equal means empty, never full
            # (the credits keep at most `depth` rows in the FIFO).
            wptr = Signal(range(2 * depth), name=f"wptr{c}", reset_less=True)
            rptr = Signal(range(2 * depth), name=f"rptr{c}", reset_less=True)
            pf_move = Signal(name=f"pf_move{c}")
            rd = Signal(name=f"rd{c}")
            take = Signal(name=f"take{c}")
            m.d.comb += [wp.addr.eq(wptr[:addr_bits]), wp.data.eq(wdata), wp.en.eq(wen),
                         rp.addr.eq(rptr[:addr_bits]),
                         pf_move.eq(~sk_valid | ~pf_valid),
                         rd.eq((wptr != rptr) & pf_move),
                         take.eq(self.o.ready | ~out_valid[c]),
                         self.o.payload.data[c].eq(out_data[c])]
            with m.If(wen):
                m.d.sync += wptr.eq(wptr + 1)
            with m.If(rd):
                m.d.sync += rptr.eq(rptr + 1)
            with m.If(pf_move):
                m.d.sync += [pf_data.eq(rp.data), pf_valid.eq(rd)]
            # pf's row (if any) goes to the output slice when it is taken or free, else to
            # the skid register; a held skid row goes out first.
            with m.If(take):
                m.d.sync += [out_data[c].eq(Mux(sk_valid, sk_data, pf_data)),
                             out_valid[c].eq(sk_valid | pf_valid), sk_valid.eq(0)]
            with m.Elif(~sk_valid):
                m.d.sync += [sk_data.eq(pf_data), sk_valid.eq(pf_valid)]
            with m.If(rst_col):
                m.d.sync += [wptr.eq(0), rptr.eq(0), out_valid[c].eq(0), sk_valid.eq(0),
                             pf_valid.eq(0)]
            reads.append((rptr, rst_col))

        # Row index and last flag beside column 0, counted on transfers; column 0's FIFO
        # reads return credits. A read shows in the cycle after it as a change of the read
        # pointer's low bit, so the credit return crossing the array starts from flip-flops
        # (rptr0[0] and its copy pop_t, reset together) and one XOR, not from the read
        # decision (pointer compare and skid state: acc1 seed 2, wptr0 -> rd0 -> pop_q0, 7.1 ns,
        # 5.9 ns of routing, 140.1 MHz). pop_q1 is high exactly two cycles after a read, as
        # the former pop_q0 -> pop_q1 pair made it.
        rptr0, rst_col0 = reads[0]
        pop_t = reg(rptr0[0], "pop_t", rst_col0)
        m.d.sync += pop_q.eq(rptr0[0] ^ pop_t)
        with m.If(rst_in):
            m.d.sync += pop_q.eq(0)
        out_row = Signal.like(self.o.payload.row, name="out_row", reset_less=True)
        m.d.comb += [self.o.valid.eq(out_valid[0] & ~hold), self.o.payload.row.eq(out_row),
                     self.o.payload.last.eq(out_row == rows - 1)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_row.eq(Mux(out_row == rows - 1, 0, out_row + 1))
        with m.If(rst_col0):
            m.d.sync += out_row.eq(0)

        return m
