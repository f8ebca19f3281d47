"""Parsing of entry counts given on the command line (``65536``, ``64K``, ``64Ki``)."""

import re

from .errors import InvalidOptionError

_SUFFIX = {"": 1, "k": 1 << 10, "ki": 1 << 10, "m": 1 << 20, "mi": 1 << 20}
_PATTERN = re.compile(r"^\s*(\d+)\s*([kKmM][iI]?)?\s*$")


#: Largest entry count :func:`parse_entries` takes: 2^40 (a terabyte-sized buffer), far past
#: any on-chip memory and inside the planner's int64 arithmetic.
MAX_ENTRIES = 1 << 40


def parse_entries(text: str, what: str = "buffer") -> int:
    """Parse a positive entry count, at most :data:`MAX_ENTRIES`.

    ``K``/``Ki`` mean 1024 and ``M``/``Mi`` mean 1024**2, as buffer sizes are quoted in the
    thesis (64K = 65,536 entries). Raises :class:`InvalidOptionError` for anything else.
    """
    match = _PATTERN.match(str(text))
    if not match:
        raise InvalidOptionError(
            f"{what} must be a positive whole number of entries such as 65536, 64K or 64Ki, "
            f"not {text!r}")
    value = int(match.group(1)) * _SUFFIX[(match.group(2) or "").lower()]
    if value < 1:
        raise InvalidOptionError(f"{what} must be at least 1 entry, not {text!r}")
    if value > MAX_ENTRIES:
        raise InvalidOptionError(f"{what} must be at most {MAX_ENTRIES:,} entries (2^40), "
                                 f"not {text!r}")
    return value


def format_entries(value: int) -> str:
    """Render an entry count the short way when it is a whole number of Ki (65536 -> '64K')."""
    if value >= 1 << 20 and value % (1 << 20) == 0:
        return f"{value >> 20}M"
    if value >= 1 << 10 and value % (1 << 10) == 0:
        return f"{value >> 10}K"
    return str(value)
