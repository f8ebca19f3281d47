# amaranth: UnusedElaboratable=no
"""One descriptor layout, every copy checked against it: the program stage's field records
(DescriptorFields is derived from the layout; RequantFields is checked), the rule inputs, and
the field table of docs/tile-program.md (as test_regs.py checks regs.md)."""

import re
from dataclasses import fields
from pathlib import Path

from amaranth.lib import data

from scanfuse.hw.params import AccelConfig
from scanfuse.hw.addrgen import TileAddressGenerator
from scanfuse.hw.program import WALK, GemmDesc, LayerDescriptor, RULE_INPUTS
from scanfuse.hw.requant import RequantParams
from scanfuse.program.descriptors import DescriptorFields, RequantFields

DOC = Path(__file__).resolve().parents[2] / "docs" / "tile-program.md"


def _leaves(layout, prefix="", base=0):
    """``(name, bit offset, width)`` of every leaf field, nested structs flattened."""
    for name, fld in layout:
        shape = fld.shape
        if isinstance(shape, type) and issubclass(shape, data.Struct) or \
                isinstance(shape, data.StructLayout):
            yield from _leaves(data.Layout.cast(shape), f"{prefix}{name}.", base + fld.offset)
        else:
            yield prefix + name, base + fld.offset, fld.width


def _flat_names(layout):
    """Top-level field names with the walk struct's members in its place (``reserved`` out)."""
    names = []
    for n, fld in layout:
        if n == WALK:
            names += [sub for sub, _ in fld.shape]
        elif n != "reserved":
            names.append(n)
    return names


def test_driver_records_have_the_layout_fields():
    layout = LayerDescriptor(AccelConfig())
    assert [f.name for f in fields(DescriptorFields)] == _flat_names(layout)
    assert {f.name for f in fields(RequantFields)} == {n for n, _ in data.Layout.cast(RequantParams)}


def test_walk_struct_is_the_address_generators_payload():
    """One walk layout: the descriptor's ``walk`` field is the generator's ``GemmDesc``."""
    layout = LayerDescriptor(AccelConfig())
    assert layout[WALK].shape == GemmDesc()
    assert TileAddressGenerator(AccelConfig()).desc.payload.shape() == layout[WALK].shape
    assert [n for n, _ in GemmDesc()] == list(GemmDesc.FIELDS)


def test_rule_inputs_are_layout_fields():
    assert set(RULE_INPUTS) <= set(_flat_names(LayerDescriptor(AccelConfig())))


def _doc_table() -> list[tuple[str, int, str]]:
    """``(field, bit offset, bits column)`` of the Fields table in docs/tile-program.md."""
    text = DOC.read_text()
    section = text.split("## Fields", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        m = re.match(r"\| `([a-z_A-Z.0-9]+)` \| (\d+) \| ([^|]+) \|", line)
        if m:
            rows.append((m.group(1), int(m.group(2)), m.group(3).strip()))
    return rows


def test_doc_field_table_matches_the_layout():
    """Every field of the default LayerDescriptor, in order, at its bit offset and width; the
    width column gives the default width in brackets where it depends on the configuration."""
    layout = LayerDescriptor(AccelConfig())
    want = list(_leaves(layout))
    got = _doc_table()
    assert [name for name, _, _ in got] == [name for name, _, _ in want]
    for (name, offset, bits), (_, want_offset, width) in zip(got, want):
        assert offset == want_offset, name
        numbers = re.findall(r"\d+", bits.split("(")[-1]) if "(" in bits else re.findall(r"\d+", bits)
        shown = int(numbers[-1]) if numbers else None
        assert shown == width or (name != "reserved" and bits == "addr_bits"
                                  and width == AccelConfig().addr_bits), (name, bits, width)
