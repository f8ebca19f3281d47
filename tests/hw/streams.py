"""Valid/ready stream drivers shared by the Amaranth component tests.

Both count clock edges from the testbench's start, so a producer's accept cycles and a
consumer's take cycles line up.
"""


async def send(ctx, stream, payload, rng, p_idle: float, cycle: int, limit: int) -> tuple[int, int]:
    """Idle with probability ``p_idle`` per cycle, then offer ``payload`` on ``stream`` until it
    is taken (valid held, payload unchanged). Returns ``(accept_cycle, cycle)``: the edge of the
    transfer and the edge count after it. Fails once ``cycle`` reaches ``limit``."""
    while rng.random() < p_idle:
        await ctx.tick()
        cycle += 1
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    while True:
        _, _, ready = await ctx.tick().sample(stream.ready)
        cycle += 1
        assert cycle < limit, f"input stuck at cycle {cycle}"
        if ready:
            ctx.set(stream.valid, 0)
            return cycle - 1, cycle


async def take(ctx, stream, n_beats: int, rng, p_stall: float, decode, beats: list,
               limit: int, choose_ready=None) -> None:
    """Take ``n_beats`` beats from ``stream``, refusing with probability ``p_stall``; a beat
    offered and refused must stay offered, unchanged. Appends ``(cycle, *decode(payload))``
    to ``beats`` (``decode`` returns a tuple of plain values). ``choose_ready(ctx)``, if
    given, replaces the draw: it drives whatever else the consumer drives and returns the
    cycle's ``ready``."""
    cycle, held = 0, None
    while len(beats) < n_beats:
        ready = choose_ready(ctx) if choose_ready else rng.random() >= p_stall
        ctx.set(stream.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        beat = decode(payload)
        if held is not None:
            assert valid and beat == held, f"cycle {cycle}: refused beat {held} was withdrawn"
        held = beat if valid and not ready else None
        if valid and ready:
            beats.append((cycle, *beat))
        cycle += 1
        assert cycle < limit, f"output stuck: {len(beats)}/{n_beats} beats out"
    ctx.set(stream.ready, 0)
