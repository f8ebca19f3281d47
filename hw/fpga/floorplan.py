"""DSP floorplan for ECP5 builds: the PE array's and the requantiser's MULT18X18D blocks placed
by ``BEL`` attributes in the synthesised netlist, before nextpnr.

Why. nextpnr's analytic placer scattered the 8x8 engine's 96 multipliers over the die's DSP
rows, PE multipliers and requantiser partial products interleaved across the full width, and
router2 never cleared the congestion around them (``docs/fpga.md`` section 5, ninth round). The
YoWASP nextpnr has no Python, so no placement regions; but nextpnr binds every cell that
carries a ``BEL`` attribute to that site before placing the rest, and the rest follows the
multipliers it connects to.

The plan (:func:`plan_dsp_floorplan`):

* PE multipliers column by column, ``rows`` consecutive sites per column (row ``r`` of column
  ``c`` next to row ``r + 1``), so a column's B operand hops, collection tree and output FIFO
  stay local and the A operand hops from one column's run to the next. The columns are split
  evenly over the two DSP rows nearest the die's centre, each group centred in its row.
* The requantiser's four partial products per lane, lane by lane, centred in the remaining
  DSP row.
* Every other multiplier (address products) is left to the placer.

A device's sites come from :class:`DspSites`; a plan that does not fit returns ``None`` with
the reason, and the build runs unconstrained.
"""

import re
from dataclasses import dataclass

__all__ = ["DspSites", "DspFloorplan", "LFE5U_85F_DSP_SITES", "plan_dsp_floorplan",
           "apply_floorplan"]

#: Netlist cell names (after Yosys flattens the self-test top) of a PE multiplier
#: (``...pe.mul_R_C.dsp``, :class:`~scanfuse.hw.multiplier.ECP5Mult18x18D`) and of a
#: requantiser partial product (``...requant.pp_XXL.dsp``, :class:`~scanfuse.hw.requant.
#: PartialProduct`, part ``ll``/``lh``/``hl``/``hh`` of lane ``L``).
PE_CELL = re.compile(r"(?:^|\.)pe\.mul_(\d+)_(\d+)\.dsp$")
REQUANT_CELL = re.compile(r"(?:^|\.)requant\.pp_(ll|lh|hl|hh)(\d+)\.dsp$")
_PARTS = ("ll", "lh", "hl", "hh")


@dataclass(frozen=True)
class DspSites:
    """The ``MULT18X18D`` sites of one device, as nextpnr names them (``X{x}/Y{y}/{slot}``).

    Attributes
    ----------
    rows : tuple of int
        The ``Y`` of each DSP row.
    columns : tuple of int
        The ``X`` of each site along a row, left to right (the same in every row).
    slots : tuple of str
        The bel name at position ``i`` of a row is ``slots[i % len(slots)]``.
    height : int
        Tile rows of the die (for "nearest the centre").
    """
    rows: tuple[int, ...]
    columns: tuple[int, ...]
    slots: tuple[str, ...]
    height: int

    def bel(self, y: int, position: int) -> str:
        """The bel name of site ``position`` (0-based, left to right) in DSP row ``y``."""
        return f"X{self.columns[position]}/Y{y}/{self.slots[position % len(self.slots)]}"

    @property
    def per_row(self) -> int:
        return len(self.columns)


#: LFE5U-85F: 3 rows of 52 ``MULT18X18D`` (156), read from nextpnr 0.11's placement of the 8x8
#: self-test (``--no-route --write``, every DSP cell's ``NEXTPNR_BEL``): rows at Y 10, 34, 58,
#: sites in pairs of columns, slots MULT18_0, _1 at the first pair, _4, _5 at the next.
LFE5U_85F_DSP_SITES = DspSites(
    rows=(10, 34, 58),
    columns=(4, 5, 8, 9, 13, 14, 17, 18, 22, 23, 26, 27, 31, 32, 35, 36, 40, 41, 44, 45, 49, 50,
             53, 54, 58, 59, 62, 63, 69, 70, 73, 74, 78, 79, 82, 83, 87, 88, 91, 92, 96, 97, 100,
             101, 105, 106, 109, 110, 114, 115, 118, 119),
    slots=("MULT18_0", "MULT18_1", "MULT18_4", "MULT18_5"),
    height=95,
)


@dataclass(frozen=True)
class DspFloorplan:
    """A placement of named ``MULT18X18D`` cells: ``bels`` maps cell name to bel name;
    ``pe_rows`` and ``requant_row`` are the DSP rows (``Y``) used."""
    bels: dict[str, str]
    pe_rows: tuple[int, ...]
    requant_row: int | None


def plan_dsp_floorplan(cell_names, rows: int, cols: int, sites: DspSites):
    """Plan the PE array's and the requantiser's multipliers (module docstring).

    ``cell_names`` are the netlist's ``MULT18X18D`` cell names. Returns ``(plan, None)`` or
    ``(None, reason)`` when the netlist does not hold exactly ``rows * cols`` PE multipliers
    and ``4 * cols`` requantiser partial products, or when they do not fit the sites as
    planned (at most two DSP rows of PE columns, the requantiser in a third).
    """
    pe, requant = {}, {}
    for name in cell_names:
        if m := PE_CELL.search(name):
            pe[(int(m[1]), int(m[2]))] = name
        elif m := REQUANT_CELL.search(name):
            requant[(int(m[2]), _PARTS.index(m[1]))] = name
    want_pe = {(r, c) for r in range(rows) for c in range(cols)}
    want_rq = {(lane, p) for lane in range(cols) for p in range(len(_PARTS))}
    if set(pe) != want_pe or set(requant) != want_rq:
        return None, (f"netlist has {len(pe)} PE multipliers and {len(requant)} requantiser "
                      f"partial products, not {len(want_pe)} and {len(want_rq)}")
    if len(sites.rows) < 3:
        return None, "the device has fewer than three DSP rows"
    per_row_cols = sites.per_row // rows
    groups = -(-cols // per_row_cols) if per_row_cols else 0
    if not per_row_cols or groups > 2 or len(want_rq) > sites.per_row:
        return None, (f"a {rows}x{cols} array does not fit two DSP rows of {sites.per_row} "
                      f"with its requantiser in a third")
    by_centre = sorted(sites.rows, key=lambda y: (abs(2 * y - sites.height), y))
    pe_rows = tuple(sorted(by_centre[:2]))
    requant_row = next(y for y in sites.rows if y not in pe_rows)
    bels = {}
    first = 0
    for g in range(groups):
        n = -(-(cols - first) // (groups - g))        # columns in this group, balanced
        start = (sites.per_row - n * rows) // 2
        for j in range(n):
            for r in range(rows):
                bels[pe[(r, first + j)]] = sites.bel(pe_rows[g], start + j * rows + r)
        first += n
    start = (sites.per_row - len(want_rq)) // 2
    for (lane, p), name in requant.items():
        bels[name] = sites.bel(requant_row, start + lane * len(_PARTS) + p)
    return DspFloorplan(bels, pe_rows[:groups], requant_row), None


def apply_floorplan(netlist: dict, top: str, plan: DspFloorplan) -> None:
    """Set the ``BEL`` attribute of every planned cell in the Yosys JSON ``netlist`` (module
    ``top``), in place."""
    cells = netlist["modules"][top]["cells"]
    for name, bel in plan.bels.items():
        cells[name]["attributes"]["BEL"] = bel
