"""Building blocks of the property harnesses: free inputs, the past, channel rules.

A harness is an Amaranth module that holds the design under test as a submodule, drives its
inputs from *free* values (the solver picks them: :func:`any_seq` each cycle, :func:`any_const`
once), constrains them with ``Assume`` (what a legal environment does) and checks the design's
outputs with ``Assert``. ``Cover`` statements show that the checked situations are reachable,
so that no proof passes vacuously.

The harness's ``sync`` domain has no reset: the registers start at their reset values, which
is the state the design is in right after a reset. So properties hold from reset on; what a
design does *while* reset is asserted is not checked.
"""

from amaranth.hdl import Cat, ClockDomain, Fragment, Module, Signal, Value
# Amaranth 0.5 keeps the free-value constructs out of its public namespace (its own formal
# tests import them from here); pinned by amaranth<0.6 in pyproject.toml.
from amaranth.hdl._ast import AnyConst, AnySeq
from amaranth.hdl import Assert, Assume, Cover

__all__ = ["harness_module", "Internals", "any_seq", "any_const", "Past", "popcount", "stream_rules",
           "channel_rules"]


def harness_module() -> Module:
    """A module with a reset-less ``sync`` domain for a harness top."""
    m = Module()
    m.domains.sync = ClockDomain("sync", reset_less=True)
    return m


class Internals:
    """The design under test, elaborated, with its internal registers reachable by name.

    k-induction needs *invariants* that tie a design's internal state to the harness's
    reference model (otherwise an unreachable state can run for k cycles unnoticed). Such an
    invariant reads an internal signal: ``Internals(m, dut)["skid_valid"]`` is the signal of
    that name the design assigns (first found, depth first). The design itself is unchanged.
    """

    def __init__(self, m: Module, dut, name: str = "dut"):
        self.fragment = Fragment.get(dut, None)
        m.submodules[name] = self.fragment

    def __getitem__(self, name: str) -> Signal:
        found = self._find(self.fragment, name)
        if found is None:
            raise KeyError(f"no signal named {name!r} is assigned in the design")
        return found

    def _find(self, fragment, name):
        for stmts in fragment.statements.values():
            for stmt in stmts:
                for sig in stmt._lhs_signals():
                    if sig.name == name:
                        return sig
        for sub, _, _ in fragment.subfragments:
            found = self._find(sub, name)
            if found is not None:
                return found
        return None


def any_seq(shape, name=None) -> Value:
    """A value the solver chooses freely in every cycle."""
    return AnySeq(shape, name=name) if name else AnySeq(shape)


def any_const(shape, name=None) -> Value:
    """A value the solver chooses once and holds for the whole trace."""
    return AnyConst(shape, name=name) if name else AnyConst(shape)


def popcount(value: Value) -> Value:
    """Number of set bits of ``value``."""
    value = Value.cast(value)
    total = 0
    for bit in value:
        total = total + bit
    return total


class Past:
    """Registered copies of values, one cycle old, and a flag for "there is a previous cycle".

    ``Past(m)(x)`` is ``x`` in the previous cycle (its reset value in the first one, which no
    property uses: they are all guarded by :attr:`valid`).
    """

    def __init__(self, m: Module):
        # The registers live in a module of their own: a past value is asked for inside
        # ``m.If`` blocks, whose condition must not gate the register's update.
        self._m = Module()
        m.submodules.past = self._m
        self.valid = Signal(name="past_valid")
        self._m.d.sync += self.valid.eq(1)
        self._cache = {}

    def __call__(self, value) -> Value:
        value = Value.cast(value)
        key = id(value)
        if key not in self._cache:
            reg = Signal(len(value), name=f"past_{getattr(value, 'name', 'value')}")
            self._m.d.sync += reg.eq(value)
            self._cache[key] = (value, reg)
        return self._cache[key][1]


def channel_rules(m: Module, past: Past, valid, ready, payload, *, dut_drives: bool, name: str):
    """The valid/ready rule on one channel: once ``valid`` is high it stays high, with
    ``payload`` unchanged, until the cycle ``ready`` is high.

    ``dut_drives``: the design drives ``valid`` and ``payload`` (the rule is asserted);
    otherwise the environment does (the rule is assumed). Also covers a stalled transfer.
    """
    check = Assert if dut_drives else Assume
    if isinstance(payload, (list, tuple)):
        payload = Cat(*payload)
    with m.If(past.valid & past(valid) & ~past(ready)):
        m.d.comb += check(valid, f"{name}_valid_held")
        m.d.comb += check(Value.cast(payload) == past(payload), f"{name}_payload_stable")
    if dut_drives:
        m.d.comb += Cover(past.valid & past(valid) & ~past(ready) & valid & ready,
                          f"{name}_stalled_then_taken")


def stream_rules(m: Module, past: Past, port, *, dut_drives: bool, name: str):
    """:func:`channel_rules` for an ``amaranth.lib.stream`` interface."""
    channel_rules(m, past, port.valid, port.ready, port.payload, dut_drives=dut_drives,
                  name=name)


class RefQueue:
    """A reference FIFO for a harness: ``depth`` entries of ``width`` bits.

    Call :meth:`connect` once with the push condition and value and the pop condition (both
    may be true in the same cycle). :attr:`head` is the oldest entry, :attr:`count` the number
    held; a harness asserts ``count < depth`` so that an overflow cannot go unnoticed.
    """

    def __init__(self, m: Module, width: int, depth: int, name: str):
        self._m = m
        self.depth = depth
        self.entries = [Signal(width, name=f"{name}{j}") for j in range(depth)]
        self.count = Signal(range(depth + 1), name=f"{name}_count")
        self.head = self.entries[0]

    def connect(self, push, value, pop):
        m = self._m
        m.d.sync += self.count.eq(self.count + push - pop)
        shifted = self.entries[1:] + [self.entries[-1]]
        for j, entry in enumerate(self.entries):
            with m.If(pop):
                m.d.sync += entry.eq(shifted[j])
            with m.If(push & (self.count - pop == j)):
                m.d.sync += entry.eq(value)
