"""The descriptor checker's gates against the Python rules, over every descriptor.

:func:`scanfuse.hw.program.descriptor_rules` is the one statement of the legality rules; the
driver evaluates it on Python integers (:func:`~scanfuse.hw.program.check_descriptor`), the
hardware elaborates it at a fixed width through ``_Word`` in ``latency`` pipeline stages. The
harness evaluates the same rules on the free descriptor with Amaranth's *exact* arithmetic (every
``+``/``*`` result as wide as its value needs, like Python integers: the reference of
``check_descriptor``), delays the verdict by the checker's ``latency`` cycles and
asserts that the checker's ``error`` equals it whenever ``done`` is high, for every value of
every field. So a width that overflows, a wrong pipeline alignment or a priority mistake would
fail. Also: ``done`` is ``valid`` delayed, and ``error`` holds between verdicts.
"""

from types import SimpleNamespace

from amaranth.hdl import Assert, Cover, Elaboratable, Mux, Signal, Value

from ...hw.params import AccelConfig
from ...hw.program import (RULE_INPUTS, DescriptorChecker, DescriptorError, descriptor_field,
                           descriptor_rules)
from .props import Past, any_seq, harness_module

__all__ = ["CheckerHarness"]


class CheckerHarness(Elaboratable):
    """Equivalence of the checker's gates and the rules (see the module docstring)."""

    def __init__(self, cfg: AccelConfig = AccelConfig(), dut_class=DescriptorChecker):
        self.cfg = cfg
        self.dut_class = dut_class

    def elaborate(self, platform):
        m = harness_module()
        m.submodules.dut = dut = self.dut_class(self.cfg)
        past = Past(m)
        m.d.comb += [dut.desc.eq(any_seq(dut.desc.shape().size)), dut.valid.eq(any_seq(1))]

        f = SimpleNamespace(**{name: Value.cast(descriptor_field(dut.desc, name))
                               for name in RULE_INPUTS})
        code = Value.cast(DescriptorError.NONE.value)
        for error, broken in reversed(descriptor_rules(self.cfg, f)):
            code = Mux(broken, error.value, code)
        verdict = Signal(DescriptorError, name="ref_verdict")
        m.d.comb += verdict.eq(code)

        delayed, valid_d = verdict, dut.valid
        for _ in range(dut.latency):
            delayed, valid_d = past(delayed), past(valid_d)
        warm = Signal()         # `latency` cycles have passed since the start
        stage = past.valid
        for _ in range(dut.latency - 1):
            stage = past(stage)
        m.d.comb += warm.eq(stage)
        with m.If(warm):
            m.d.comb += Assert(dut.done == valid_d, "done is valid delayed by latency")
            with m.If(dut.done):
                m.d.comb += Assert(dut.error.as_value() == delayed, "verdict equals the rules")
        with m.If(past.valid & ~dut.done):
            m.d.comb += Assert(dut.error.as_value() == past(dut.error), "error holds between verdicts")
        for error in DescriptorError:
            m.d.comb += Cover(warm & dut.done & (dut.error == error), f"verdict {error.name}")
        return m
