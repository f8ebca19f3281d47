"""A word memory with one synchronous read port and one lane-enabled write port, as a
testbench process: the stand-in for one :class:`~scanfuse.hw.buffer.TileBuffer` memory in the
sequencer parts' unit tests."""


class WordMemory:
    """``words``: dict word address -> int (missing words read as 0). ``lane_bits``: bits per
    write lane. The read returns the word before this cycle's write (not transparent), one
    clock edge after ``ren`` (``latency`` 1; with ``ren`` low ``rdata`` holds), or, with
    ``latency`` 2, through a second stage that loads at every edge: the TileBuffer's C
    memory (:data:`scanfuse.hw.buffer.C_READ_LATENCY`)."""

    def __init__(self, words: dict, lane_bits: int, lanes: int, latency: int = 1):
        if latency not in (1, 2):
            raise ValueError(f"latency must be 1 or 2, not {latency!r}")
        self.words, self.lane_bits, self.lanes = words, lane_bits, lanes
        self.latency = latency
        self.writes = []        # (cycle, addr, lane mask, data) of every write

    def write(self, addr: int, wen: int, data: int, cycle: int) -> None:
        word = self.words.get(addr, 0)
        mask = (1 << self.lane_bits) - 1
        for lane in range(self.lanes):
            if wen >> lane & 1:
                shift = lane * self.lane_bits
                word = word & ~(mask << shift) | (data >> shift & mask) << shift
        self.words[addr] = word
        self.writes.append((cycle, addr, wen, data))

    async def serve(self, ctx, raddr=None, ren=None, rdata=None, waddr=None, wen=None,
                    wdata=None):
        """Run forever (add with ``background=True``); any port left ``None`` is absent."""
        ports = [p for p in (raddr, ren, waddr, wen, wdata) if p is not None]
        cycle = 0
        stage1 = 0
        async for _, _, *values in ctx.tick().sample(*ports):
            vals = dict(zip([id(p) for p in ports], values))
            if self.latency == 2:
                ctx.set(rdata, stage1)
            if ren is not None and vals[id(ren)]:
                stage1 = self.words.get(vals[id(raddr)], 0)
                if self.latency == 1:
                    ctx.set(rdata, stage1)
            if wen is not None and vals[id(wen)]:
                self.write(vals[id(waddr)], vals[id(wen)], vals[id(wdata)], cycle)
            cycle += 1
