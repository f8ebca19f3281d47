"""FPGA boards the flow knows, by the name ``scanfuse fpga --board`` takes.

Platforms come from ``amaranth-boards`` (PyPI, the ``fpga`` extra of this project), imported only
when a board is used so the rest of ScanFuse does not need it.
"""

from dataclasses import dataclass
from typing import Callable

from ...errors import InvalidOptionError
from .floorplan import LFE5U_85F_DSP_SITES, DspSites

__all__ = ["Board", "BOARDS", "get_board", "board_names"]


class BoardSupportMissing(InvalidOptionError):
    """The Python package that describes the board is not installed."""


@dataclass(frozen=True)
class Board:
    """One board.

    Attributes
    ----------
    name : str
        The ``--board`` name.
    description : str
    make_platform : callable
        Returns a fresh Amaranth ``LatticeECP5Platform`` (or other vendor platform).
    dsp_blocks : int
        18x18 multipliers (``MULT18X18D``) on the device.
    leds : int
        User LEDs the self-test top drives (``led`` 0 .. leds-1).
    rerun_button : tuple of (str, int)
        Resource name and number of the button that resets and re-runs the self-test.
    dsp_sites : :class:`~.floorplan.DspSites` or None
        The device's MULT18X18D sites, for the DSP floorplan (``None``: no floorplan).
    """
    name: str
    description: str
    make_platform: Callable[[], object]
    dsp_blocks: int
    leds: int
    rerun_button: tuple[str, int]
    dsp_sites: DspSites | None = None


def _ulx3s_85f():
    try:
        from amaranth_boards.ulx3s import ULX3S_85F_Platform
    except ImportError:
        raise BoardSupportMissing(
            "board ulx3s-85f needs amaranth-boards: pip install -e '.[fpga]' "
            "(make fpga installs it)") from None
    # ULX3S_85F_Platform: device LFE5U-85F, package BG381 (caBGA381), speed 6, 25 MHz clock
    # "clk25" on pin G2, LEDs B2 C2 C1 D2 D1 E2 E1 H3, FIRE buttons R1 and T1 (active high).
    return ULX3S_85F_Platform()


#: Known boards by ``--board`` name.
BOARDS: dict[str, Board] = {
    "ulx3s-85f": Board(
        name="ulx3s-85f",
        description="Radiona ULX3S with a Lattice ECP5 LFE5U-85F-6BG381 (25 MHz oscillator)",
        make_platform=_ulx3s_85f,
        # ECP5 family data sheet (FPGA-DS-02012), table 1.1: LFE5U-85 has 156 18x18
        # multipliers, 208 EBR blocks of 18 Kbit (DP16KD), 84K LUTs.
        dsp_blocks=156,
        leds=8,
        rerun_button=("button_fire", 0),
        dsp_sites=LFE5U_85F_DSP_SITES,
    ),
}


def board_names() -> list[str]:
    return sorted(BOARDS)


def get_board(name: str) -> Board:
    """The board called ``name``; :class:`InvalidOptionError` naming the known ones if none."""
    try:
        return BOARDS[name]
    except KeyError:
        raise InvalidOptionError(f"unknown board {name!r}; known boards: "
                                 f"{', '.join(board_names())}") from None
