# amaranth: UnusedElaboratable=no
"""DescriptorFetch: descriptors read through a DMA model with random stalls; each command,
the held descriptor bits and the verdict against :func:`check_descriptor`."""

import random
import re

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.fetch import DescriptorFetch
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.program import DescriptorError, LayerDescriptor, check_descriptor
from scanfuse.program.descriptors import pack

from .streams import send, take
from .test_program import random_descriptor

CONFIGS = {"default": AccelConfig(), "r4c4-32b": AccelConfig(rows=4, cols=4, axi_data_bits=32)}
LIMIT = 50_000


@pytest.mark.parametrize("name", CONFIGS)
def test_fetch_reads_holds_and_checks(name):
    cfg = CONFIGS[name]
    layout = LayerDescriptor(cfg)
    rng = random.Random(f"fetch/{name}")
    cases = [random_descriptor(rng, cfg) for _ in range(25)]
    blobs = [pack(f, cfg, check=False) for f in cases]
    addrs = [rng.getrandbits(cfg.addr_bits) for _ in cases]
    dut = DescriptorFetch(cfg)
    cmds, results = [], []

    async def requests(ctx):
        cycle = 0
        for addr in addrs:
            _, cycle = await send(ctx, dut.req, addr, rng, 0.3, cycle, LIMIT)

    async def dma(ctx):
        ab = cfg.axi_bytes
        for blob in blobs:
            got = []
            await take(ctx, dut.cmd, 1, rng, 0.4,
                       lambda p: (int(p.write), int(p.addr), int(p.row_bytes), int(p.rows)),
                       got, LIMIT)
            cmds.append(got[0][1:])
            cycle = 0
            for i in range(0, len(blob), ab):
                last = int(i + ab >= len(blob))
                beat = {"data": int.from_bytes(blob[i:i + ab], "little"), "count": ab,
                        "row_last": last, "last": last}
                _, cycle = await send(ctx, dut.rd, beat, rng, 0.3, cycle, LIMIT)

    async def verdicts(ctx):
        await take(ctx, dut.result, len(cases), rng, 0.4,
                   lambda p: (DescriptorError(p), dut_desc_bits(ctx)), results, LIMIT)

    def dut_desc_bits(ctx):
        return ctx.get(dut.desc.as_value())

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(requests)
    sim.add_testbench(dma)
    sim.add_testbench(verdicts)
    sim.run()
    assert cmds == [(0, addr, layout.size_bytes, 1) for addr in addrs]
    assert len(results) == len(cases)
    seen = set()
    for f, blob, (_, verdict, bits) in zip(cases, blobs, results):
        assert bits == int.from_bytes(blob, "little")       # held while the verdict is out
        assert verdict == check_descriptor(cfg, f)
        seen.add(verdict)
    assert DescriptorError.NONE in seen and len(seen) > 2


def test_fetch_rejects_bad_cfg():
    with pytest.raises(TypeError, match="AccelConfig"):
        DescriptorFetch(None)


def test_each_descriptor_byte_has_its_own_enable_copy_on_ecp5():
    """In the ECP5 build each byte of the descriptor register loads under its own copy of its
    word's one-hot flag (one flip-flop primitive per byte); elsewhere there are none."""
    from amaranth.back import rtlil
    layout = LayerDescriptor(AccelConfig())
    ecp5 = AccelConfig(pe_multiplier="mult18x18d")
    text = rtlil.convert(DescriptorFetch(ecp5), platform="ecp5")
    assert text.count("cell \\TRELLIS_FF ") >= layout.size_bytes
    assert len(set(re.findall(r"put(\d+)_(\d+)", text))) == layout.size_bytes
    assert "TRELLIS_FF" not in rtlil.convert(DescriptorFetch(AccelConfig()), platform="ecp5")
