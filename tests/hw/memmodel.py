"""A word memory with one synchronous read port and one lane-enabled write port, as a
testbench process: the stand-in for one :class:`~scanfuse.hw.buffer.TileBuffer` memory in the
sequencer parts' unit tests."""


class WordMemory:
    """``words``: dict word address -> int (missing words read as 0). ``lane_bits``: bits per
    write lane. The read returns the word before this cycle's write (not transparent):

    * ``latency`` 1: one clock edge after ``ren``; with ``ren`` low ``rdata`` holds;
    * ``latency`` 2: through a second stage that loads at every edge: the TileBuffer's C
      memory with inferred block RAMs (:func:`scanfuse.hw.buffer.c_read_latency`);
    * ``latency`` 3: the C memory with ``dp16kd`` blocks: the address and ``ren`` through an
      input stage first, and every write lands one edge late (the blocks' input registers,
      :class:`scanfuse.hw.ebr.EBRMemory`)."""

    def __init__(self, words: dict, lane_bits: int, lanes: int, latency: int = 1):
        if latency not in (1, 2, 3):
            raise ValueError(f"latency must be 1, 2 or 3, not {latency!r}")
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
        latch = 0                     # the read port's word
        stage0 = (0, False)           # latency 3: (address, ren) in the input registers
        pending = None                # latency 3: (addr, wen, data) in the input registers
        async for _, _, *values in ctx.tick().sample(*ports):
            vals = dict(zip([id(p) for p in ports], values))
            sampled_read = (vals[id(raddr)], bool(vals[id(ren)])) if ren is not None \
                else (0, False)
            sampled_write = (vals[id(waddr)], vals[id(wen)], vals[id(wdata)]) \
                if wen is not None and vals[id(wen)] else None
            if self.latency >= 2:
                ctx.set(rdata, latch)
            read = stage0 if self.latency == 3 else sampled_read
            if read[1]:
                latch = self.words.get(read[0], 0)
                if self.latency == 1:
                    ctx.set(rdata, latch)
            write = pending if self.latency == 3 else sampled_write
            if write is not None:
                self.write(*write, cycle)
            stage0, pending = sampled_read, sampled_write
            cycle += 1
