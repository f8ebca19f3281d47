"""Output-stationary int8 systolic array (``PEArray``) and its stream payloads.

The array computes one *block* of a tile product at a time: ``rows x cols`` outputs
``C[m0 + r, n0 + c] = sum_k A[m0 + r, k] * B[k, n0 + c]`` (int8 x int8 -> int32, wrapping),
fed one k step per cycle. Each processing element (PE) ``(r, c)`` keeps its output in place
(output-stationary); A values move right along rows, B values move down columns, and the
operand skew is generated inside the component. Partial sums of earlier k chunks are added
outside the array (the sequencer's read-modify-write of the C accumulator buffer).

Dataflow (4 x 3 example; ``[ ]`` is a register, every register advances on ``adv``)::

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
                    \\          \\          \\
                     shadow bank: one int32 per PE, written when the block's last
                     k step passes the PE; row r is complete r + cols cycles after
                     the cycle the last k step was accepted; rows drain in order through
                     a row mux into the registered output ``o`` (one row per cycle).

Each PE multiplies in a pipelined multiplier of latency ``L`` (:mod:`scanfuse.hw.multiplier`,
chosen by ``cfg.pe_multiplier``: ``L = 1`` for the inferred multiplier, ``L = 3`` for the ECP5
``MULT18X18D`` with input, output and fabric product registers) and adds the product to its
accumulator ``L`` cycles after its operands arrive. A small diagonal control pipeline
``ctl[s]`` (``s = 0 .. rows + cols - 2 + L``) carries, for the PEs on anti-diagonal
``r + c = s - L``, whether the product now ready is of a real k step (``v``; bubbles do not
accumulate) and whether it ends a block (``tok``). When a PE sees ``tok`` it writes
``acc + a * b`` into its shadow register and restarts its accumulator from zero, so the next
block's k steps can follow on the very next cycle: fill and drain skew are paid once per
stream, not once per block.

Flow control
------------
* ``adv`` (global enable) is low only when a block-end token is about to start writing a
  shadow row whose previous contents have not been taken by the output stage yet (the output
  is backpressured, or blocks are shorter than ``rows`` steps so the one-row-per-cycle output
  falls behind). The whole array, its skew registers, the multipliers' pipeline registers
  and the control pipeline freeze; nothing is lost or duplicated. ``adv`` enables every
  register of the array (about 4,500 flip-flops at 8x8, and the DSP blocks' clock enables), so it
  is not computed in the cycle it is used: a register loads it one cycle ahead from the
  next-cycle values of the tokens and of the row states (including this cycle's output
  transfer), with the same result cycle for cycle, and ``rows + 1`` copies of that register
  each drive one PE row (the control pipeline and B lanes get their own).
* A k step carrying ``last`` is admitted only if no other block-end token is in the first
  ``G - 1`` control stages, ``G = max(cols + 1, ceil((rows + cols - 1) / 2))``
  (:attr:`PEArray.token_gap`). Tokens are then more than ``cols`` diagonals apart, so when a
  token reaches row ``d`` the block ahead of it has completed that row (one cycle earlier, so
  without backpressure the row has already been taken), and at most two tokens are inside the
  array, so the block ahead of that one has left the array and its rows drain without ``adv``:
  the freeze cannot deadlock. ``G`` does not depend on the multiplier latency ``L``: a token
  in the first ``L`` control stages writes no row, and all row stages are shifted by the same
  ``L``. Non-last k steps are never held back by this rule; while a last step waits, bubbles
  enter.
* ``i.ready`` is ``adv & (~i.payload.last | admit)``: it depends on the offered payload and on
  registers, never on ``o.ready`` combinationally.

Timing (no stalls, measured by ``tests/hw/test_pe_array.py`` for both multiplier kinds): row
``r`` of a block is valid on ``o`` ``cols + 2 + L + r`` cycles after the cycle in which the
block's last k step was accepted (``cols + 3 + r`` inferred, ``cols + 5 + r`` with the DSP).
Blocks of ``K`` k steps settle to one block every ``max(K, G, rows)`` cycles (``rows``: one
output row per cycle), whatever ``L``; for ``K >= max(G, rows)`` a k step is accepted every
cycle, and ``N`` blocks take ``N * K + rows + cols + 1 + L`` cycles from the first k step to
the last output row. The multiplier's latency is hidden behind the streams: users see only a
longer fill/drain (2 cycles per stream for the DSP), never a different handshake.
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .multiplier import make_multiplier, multiplier_latency
from .params import AccelConfig

__all__ = ["KStep", "PsumRow", "PEArray"]


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
        })

    @property
    def cfg(self) -> AccelConfig:
        return self._cfg

    @property
    def token_gap(self) -> int:
        """Minimum spacing ``G`` in cycles between two admitted block ends (see module doc)."""
        rows, cols = self._cfg.rows, self._cfg.cols
        return max(cols + 1, (rows + cols) // 2)   # (rows + cols) // 2 == ceil((rows + cols - 1) / 2)

    @property
    def mult_latency(self) -> int:
        """Cycles from a PE's operands to its product register (1 inferred, 3 ``mult18x18d``)."""
        return multiplier_latency(self._cfg.pe_multiplier)

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        rows, cols = cfg.rows, cfg.cols
        lat = self.mult_latency
        n_diag = rows + cols - 1
        opnd = signed(cfg.operand_bits)
        acc_shape = signed(cfg.acc_bits)

        admit = Signal()    # a block-end k step may enter now
        accept = Signal()   # k step transfer on `i`
        take = Signal()     # output stage loads the row under `ptr` this cycle

        # Diagonal control pipeline: ctl_v[d] / ctl_tok[d] describe the operands currently
        # presented to the PEs on anti-diagonal r + c == d. A PE feeds the operands of
        # diagonal d into its multiplier and accumulates the product `lat` cycles later, under
        # ctl[d + lat]: `lat` stages more than there are diagonals.
        n_ctl = n_diag + lat
        ctl_v = [Signal(name=f"ctl_v{d}") for d in range(n_ctl)]
        ctl_tok = [Signal(name=f"ctl_tok{d}") for d in range(n_ctl)]

        # Shadow-bank row state: busy = owned by a block whose row has not been taken yet,
        # full = that block has written every column of the row.
        busy = Signal(rows)
        full = Signal(rows)

        # `adv` freezes everything when a block-end token would start overwriting a shadow row
        # still waiting to drain: adv = ~any(ctl_tok[r + lat] & busy[r]). It drives the enable
        # of every register of the array, so it is a register itself, loaded with that
        # function of the *next* state (one cycle ahead), and replicated: one copy for the
        # control pipeline and B lanes, one per PE row, so no net has thousands of loads.
        ptr = Signal(_index_shape(rows))
        adv_next = Signal()
        adv = Signal(init=1)
        adv_row = [Signal(init=1, name=f"adv_row{r}") for r in range(rows)]

        def tok_next(s):   # ctl_tok[s] after this clock edge (s >= lat >= 1)
            return Mux(adv, ctl_tok[s - 1], ctl_tok[s])

        def busy_next(r):
            return (busy[r] & ~(take & (ptr == r))) | (adv & ctl_tok[r + lat])

        m.d.comb += adv_next.eq(~Cat(tok_next(r + lat) & busy_next(r) for r in range(rows)).any())
        m.d.sync += adv.eq(adv_next)
        # Amaranth and Yosys merge registers loaded with the same function, so each row copy
        # ORs in a term that is never true: two adjacent control stages both holding a
        # block-end token (tokens enter at least token_gap >= 2 stages apart and move
        # together). The copies then equal `adv` in every reachable state but are different
        # logic, and stay separate registers. (n_ctl - 1 >= rows pairs exist: cols + lat >= 2.)
        for r, copy in enumerate(adv_row):
            m.d.sync += copy.eq(adv_next | (ctl_tok[r] & ctl_tok[r + 1]))

        # token_gap >= 2, so at least ctl_tok[0] is checked.
        m.d.comb += admit.eq(~Cat(ctl_tok[d] for d in range(self.token_gap - 1)).any())
        m.d.comb += [
            self.i.ready.eq(adv & (~self.i.payload.last | admit)),
            accept.eq(self.i.valid & self.i.ready),
        ]

        with m.If(adv):
            m.d.sync += [
                ctl_v[0].eq(accept),
                ctl_tok[0].eq(accept & self.i.payload.last),
            ]
            for d in range(1, n_ctl):
                m.d.sync += [ctl_v[d].eq(ctl_v[d - 1]), ctl_tok[d].eq(ctl_tok[d - 1])]

        # Skew lanes: row r's A is delayed 1 + r cycles, column c's B 1 + c cycles. A bubble
        # loads whatever the port shows; `ctl_v` keeps it from being accumulated.
        def skew(value, depth, name, en):
            stages = [Signal(opnd, name=f"{name}_s{j}", reset_less=True) for j in range(depth)]
            with m.If(en):
                m.d.sync += stages[0].eq(value)
                for j in range(1, depth):
                    m.d.sync += stages[j].eq(stages[j - 1])
            return stages[-1]

        a_in = [[None] * cols for _ in range(rows)]
        b_in = [[None] * cols for _ in range(rows)]
        for r in range(rows):
            a_in[r][0] = skew(self.i.payload.a[r], 1 + r, f"a{r}", adv_row[r])
        for c in range(cols):
            b_in[0][c] = skew(self.i.payload.b[c], 1 + c, f"b{c}", adv)

        shadow = [[Signal(acc_shape, name=f"shadow_{r}_{c}", reset_less=True)
                   for c in range(cols)] for r in range(rows)]
        for r in range(rows):
            en = adv_row[r]
            for c in range(cols):
                d = r + c
                a, b = a_in[r][c], b_in[r][c]
                # Operand hand-off registers to the right and downward neighbours.
                if c + 1 < cols:
                    a_next = Signal(opnd, name=f"a_{r}_{c + 1}", reset_less=True)
                    with m.If(en):
                        m.d.sync += a_next.eq(a)
                    a_in[r][c + 1] = a_next
                if r + 1 < rows:
                    b_next = Signal(opnd, name=f"b_{r + 1}_{c}", reset_less=True)
                    with m.If(en):
                        m.d.sync += b_next.eq(b)
                    b_in[r + 1][c] = b_next

                # The product is registered (an FPGA multiplier block plus an adder do not
                # fit one cycle); bubbles multiply too, ctl_v keeps them out.
                mult = make_multiplier(cfg.pe_multiplier, cfg.operand_bits)
                m.submodules[f"mul_{r}_{c}"] = mult
                m.d.comb += [mult.a.eq(a), mult.b.eq(b), mult.en.eq(en)]
                prod = mult.p
                acc = Signal(acc_shape, name=f"acc_{r}_{c}")
                mac = Signal(acc_shape, name=f"mac_{r}_{c}")
                # Assigning the (acc_bits + 1)-bit sum to an acc_bits signal wraps modulo
                # 2**acc_bits, like int32 hardware.
                m.d.comb += mac.eq(acc + prod)
                with m.If(en & ctl_v[d + lat]):
                    with m.If(ctl_tok[d + lat]):
                        m.d.sync += [shadow[r][c].eq(mac), acc.eq(0)]
                    with m.Else():
                        m.d.sync += acc.eq(mac)

        # Output stage: rows drain in order through a registered row mux. Each column has its
        # own copy of the row pointer and of the load decision, so the row mux of a column and
        # the enables of its 32 output bits hang off nets local to that column (one `ptr` net
        # driving all 256 mux selects was among the most congested nets of the 8x8 engine).
        # The copies load from their own state, so synthesis does not merge them.
        ready = ~self.o.valid | self.o.ready
        m.d.comb += take.eq(full.bit_select(ptr, 1) & ready)
        out_row = Signal.like(ptr, name="out_row")
        out_last = Signal(name="out_last")
        m.d.comb += [self.o.payload.row.eq(out_row), self.o.payload.last.eq(out_last)]
        with m.If(take):
            m.d.sync += [
                out_row.eq(ptr),
                out_last.eq(ptr == rows - 1),
                self.o.valid.eq(1),
                ptr.eq(Mux(ptr == rows - 1, 0, ptr + 1)),
            ]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        for c in range(cols):
            ptr_c = Signal.like(ptr, name=f"ptr_col{c}")
            take_c = Signal(name=f"take_col{c}")
            out_c = Signal(acc_shape, name=f"out_col{c}", reset_less=True)
            m.d.comb += [take_c.eq(full.bit_select(ptr_c, 1) & ready),
                         self.o.payload.data[c].eq(out_c)]
            with m.If(take_c):
                m.d.sync += [out_c.eq(Array(shadow[r][c] for r in range(rows))[ptr_c]),
                             ptr_c.eq(Mux(ptr_c == rows - 1, 0, ptr_c + 1))]

        for r in range(rows):
            with m.If(take & (ptr == r)):
                m.d.sync += [busy[r].eq(0), full[r].eq(0)]
            # A token never sets a row in the cycle it is taken (take needs full, and a
            # token only starts a row that is not busy), so these cannot collide.
            with m.If(adv & ctl_tok[r + lat]):
                m.d.sync += busy[r].eq(1)
            with m.If(adv & ctl_tok[r + cols - 1 + lat]):
                m.d.sync += full[r].eq(1)

        return m
