"""Physical byte address -> (bank, row, column), DRAMSim2's address mapping schemes.

Follows ``addressMapping()`` in DRAMSim2's ``AddressMapping.cpp`` (umd-memsys/DRAMSim2): the
low ``log2(bus_bits/8)`` byte-offset bits and the ``log2(BL)`` low column bits (together
``log2(bytes_per_burst)`` bits, 6 for a 64-byte burst) are dropped, then the fields are cut
from the remaining bits, least significant field first, in the order the scheme names them
from most to least significant:

========  ===========================  with one channel and one rank
scheme1   chan:rank:row:col:bank       row:col:bank
scheme2   chan:row:col:bank:rank       row:col:bank   (DRAMSim2's default)
scheme3   chan:rank:bank:col:row       bank:col:row
scheme4   chan:rank:bank:row:col       bank:row:col   (column lowest)
scheme5   chan:row:col:rank:bank       row:col:bank
scheme6   chan:row:bank:rank:col       row:bank:col   (column lowest)
scheme7   row:col:rank:bank:chan       row:col:bank
========  ===========================  ===============================

This module models one channel and one rank, so the channel and rank fields are zero bits
wide; schemes 1, 2, 5 and 7 then decode identically. As in DRAMSim2, address bits above the
rank's capacity are ignored (the top field keeps only its own bits) and misaligned low bits
are dropped.

The returned column is DRAMSim2's transaction column: the burst index inside the row,
``0 .. bursts_per_row - 1`` (the device column address is ``col * BL``).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidOptionError
from .presets import DramPreset, get_preset

__all__ = ["SCHEMES", "DEFAULT_SCHEME", "field_layout", "decode", "encode"]

SCHEMES: dict[str, tuple[str, ...]] = {
    "scheme1": ("chan", "rank", "row", "col", "bank"),
    "scheme2": ("chan", "row", "col", "bank", "rank"),
    "scheme3": ("chan", "rank", "bank", "col", "row"),
    "scheme4": ("chan", "rank", "bank", "row", "col"),
    "scheme5": ("chan", "row", "col", "rank", "bank"),
    "scheme6": ("chan", "row", "bank", "rank", "col"),
    "scheme7": ("row", "col", "rank", "bank", "chan"),
}
"""Field order of each scheme, most significant first (DRAMSim2 comments)."""

DEFAULT_SCHEME = "scheme2"


def _check_scheme(scheme: str) -> str:
    key = str(scheme).strip().lower()
    if key not in SCHEMES:
        raise InvalidOptionError(
            f"unknown address mapping scheme {scheme!r}; choose one of: {', '.join(SCHEMES)}")
    return key


def field_layout(preset: DramPreset | str, scheme: str = DEFAULT_SCHEME
                 ) -> dict[str, tuple[int, int]]:
    """Bit position of each field in the byte address: ``{field: (lsb, width)}``.

    Fields are ``"offset"`` (the dropped burst-offset bits), ``"bank"``, ``"row"`` and
    ``"col"``; channel and rank are zero bits wide and omitted.

    Raises
    ------
    InvalidOptionError
        For an unknown scheme or preset name.
    """
    preset = get_preset(preset)
    key = _check_scheme(scheme)
    widths = {"chan": 0, "rank": 0,
              "bank": preset.banks.bit_length() - 1,
              "row": preset.rows.bit_length() - 1,
              "col": preset.bursts_per_row.bit_length() - 1}
    lsb = preset.bytes_per_burst.bit_length() - 1
    layout = {"offset": (0, lsb)}
    for field in reversed(SCHEMES[key]):
        if widths[field]:
            layout[field] = (lsb, widths[field])
            lsb += widths[field]
    for field in ("bank", "row", "col"):  # a 1-bank/1-row/1-burst part still gets a field
        layout.setdefault(field, (lsb, 0))
    return layout


def decode(addr: np.ndarray, preset: DramPreset | str, scheme: str = DEFAULT_SCHEME
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split byte addresses into bank, row and column (burst index in the row).

    Parameters
    ----------
    addr : numpy.ndarray
        Byte addresses (any integer dtype; converted to ``uint64``).
    preset : DramPreset or str
        The part, or its preset name.
    scheme : str
        ``"scheme1"`` .. ``"scheme7"``.

    Returns
    -------
    bank, row, col : numpy.ndarray
        ``uint8`` (banks <= 256, else ``uint32``), ``uint32`` and ``uint32`` arrays shaped
        like ``addr``.

    Raises
    ------
    InvalidOptionError
        For an unknown scheme or preset name.
    """
    preset = get_preset(preset)
    layout = field_layout(preset, scheme)
    a = np.asarray(addr).astype(np.uint64, copy=False)
    out = []
    for field in ("bank", "row", "col"):
        lsb, width = layout[field]
        value = (a >> np.uint64(lsb)) & np.uint64((1 << width) - 1)
        dtype = np.uint8 if field == "bank" and preset.banks <= 256 else np.uint32
        out.append(value.astype(dtype))
    return out[0], out[1], out[2]


def encode(bank: np.ndarray, row: np.ndarray, col: np.ndarray, preset: DramPreset | str,
           scheme: str = DEFAULT_SCHEME) -> np.ndarray:
    """Inverse of :func:`decode`: the burst-aligned byte address (``uint64``) of each
    (bank, row, col); values are taken modulo their field widths.

    Raises
    ------
    InvalidOptionError
        For an unknown scheme or preset name.
    """
    preset = get_preset(preset)
    layout = field_layout(preset, scheme)
    addr = np.zeros(np.broadcast(bank, row, col).shape, dtype=np.uint64)
    for field, value in (("bank", bank), ("row", row), ("col", col)):
        lsb, width = layout[field]
        v = np.asarray(value).astype(np.uint64) & np.uint64((1 << width) - 1)
        addr |= v << np.uint64(lsb)
    return addr
