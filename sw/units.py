"""Parsing of entry counts given on the command line (``65536``, ``64K``, ``64Ki``), and the
range checks of plain numbers several stages share (seeds, probabilities, clocks)."""

import math
import re

from .errors import InvalidOptionError

_SUFFIX = {"": 1, "k": 1 << 10, "ki": 1 << 10, "m": 1 << 20, "mi": 1 << 20}
_PATTERN = re.compile(r"^\s*([0-9]{1,20})\s*([kKmM][iI]?)?\s*$", re.ASCII)


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


#: Seeds are at most 64 bits (numpy's generators take any such integer).
MAX_SEED = (1 << 64) - 1


def check_seed(seed, what: str = "seed", limit: int = MAX_SEED) -> int:
    """A seed: a whole number ``0 <= seed <= limit``; raises :class:`InvalidOptionError`."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidOptionError(f"{what} must be a whole number, not {seed!r}")
    if not 0 <= seed <= limit:
        raise InvalidOptionError(f"{what} must be between 0 and {limit:,}, not {seed}")
    return seed


def check_real(value, what: str, *, low: float = 0.0, high: float = math.inf,
               low_open: bool = True, high_open: bool = False) -> float:
    """A finite real number in the interval ``low..high`` (open or closed at each end, as
    told); raises :class:`InvalidOptionError` for anything else (nan and inf included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidOptionError(f"{what} must be a number, not {value!r}")
    value = float(value)
    ok = (math.isfinite(value) and (value > low if low_open else value >= low)
          and (value < high if high_open else value <= high))
    if not ok:
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high == math.inf else f" and {'<' if high_open else '<='} {high:g}"
        raise InvalidOptionError(f"{what} must be a finite number {lo}{hi}, not {value!r}")
    return value
