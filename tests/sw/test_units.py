import pytest

from scanfuse.errors import InvalidOptionError
from scanfuse.units import format_entries, parse_entries


@pytest.mark.parametrize("text, value", [("65536", 65536), ("64K", 65536), ("64Ki", 65536),
                                         ("64k", 65536), ("1M", 1 << 20), ("1Mi", 1 << 20), ("3", 3)])
def test_parse_entries(text, value):
    assert parse_entries(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "1.5K", "64KB", "", "K", "64 Gi"])
def test_parse_entries_rejects(text):
    with pytest.raises(InvalidOptionError):
        parse_entries(text)


def test_format_entries():
    assert [format_entries(v) for v in (65536, 1 << 20, 1000)] == ["64K", "1M", "1000"]
