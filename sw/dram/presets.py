"""DRAM part presets and the per-event energies DRAMSim2 charges for them.

A :class:`DramPreset` holds one rank of one channel: its geometry, JEDEC timings (in memory
clock cycles ``tCK`` unless the name says ``_ns``) and the IDD datasheet currents (mA). The
derived properties give the energy of each DRAM event the way DRAMSim2 accounts for it
(``MemoryController.cpp``, the ``burstEnergy``/``actpreEnergy``/``refreshEnergy``/
``backgroundEnergy`` counters, summarised in ``/work/shared/method.md`` section 8)::

    read burst   (IDD4R - IDD3N) * BL/2 * ND                                 [mA * cycles]
    write burst  (IDD4W - IDD3N) * BL/2 * ND
    ACT + PRE    (IDD0 * tRC - (IDD3N * tRAS + IDD2N * (tRC - tRAS))) * ND
    refresh      (IDD5 - IDD3N) * tRFC * ND          once every refresh period
    background   IDD3N * ND per cycle with a bank open, IDD2N * ND with all banks closed

with ``ND`` devices per rank and ``energy [J] = mA * cycles * 1e-3 * Vdd * tCK``.

Sources
-------
``ddr3``
    ``DDR3_micron_32M_8B_x8_sg15.ini``, DRAMSim2's default device (umd-memsys/DRAMSim2
    ``ini/``), with the 64-bit JEDEC bus of its ``system.ini`` (8 x8 devices per rank).
``ddr4``
    ``DDR4_8Gb_x8_2400.ini`` of DRAMsim3 (umd-memsys/DRAMsim3 ``configs/``; Micron
    MT40A1G8PM-083E), 64-bit bus, one rank (the ini's ``channel_size`` of 16384 MB makes two
    ranks; check against DRAMsim3 with ``channel_size = 8192``). DRAMsim3 gives bank-group
    timings; this flat one-bank-level preset keeps the short (different bank group) values
    ``tCCD_S``, ``tRRD_S``, ``tWTR_S`` and ``tRC = tRAS + tRP`` as DRAMsim3 computes it.
    ``IDD5`` is the ini's ``IDD5AB``; the refresh interval is its ``tREFI`` of 9360 cycles.
    DDR4's VPP (wordline pump) currents are not charged (DRAMsim3 charges none either).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidOptionError

__all__ = ["DramPreset", "DDR3_MICRON_32M_8B_X8_SG15", "DDR3_micron_32M_8B_x8_sg15", "DDR4_8GB_X8_2400", "PRESETS",
           "get_preset"]


def _is_pow2(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


@dataclass(frozen=True)
class DramPreset:
    """One rank of a DRAM channel: geometry, timings (cycles of ``tCK``) and IDD currents (mA).

    Parameters
    ----------
    name : str
        Part name as the simulator config file calls it.
    banks, rows, columns : int
        Banks per rank, rows per bank, columns per row (device columns, each ``device_width``
        bits). Powers of two, as the address mapping slices bit fields.
    device_width : int
        Data pins per device (bits).
    bus_bits : int
        JEDEC data-bus width of the channel (bits).
    devices_per_rank : int
        Devices ganged on the bus, ``bus_bits // device_width``.
    burst_length : int
        BL, beats per burst; one transaction is one burst.
    tCK_ns : float
        Memory clock period (ns); every cycle count below and in the model is in ``tCK``.
    CL, tRCD, tRP, tRAS, tRC, tCCD, tRRD, tFAW, tWTR, tWR, tRTP, tRFC : int
        JEDEC timings in cycles.
    refresh_period_ns : float
        Average interval between REFRESH commands to the rank (tREFI, ns).
    IDD0, IDD2P, IDD2N, IDD3N, IDD4R, IDD4W, IDD5 : float
        Datasheet currents per device (mA).
    Vdd : float
        Supply voltage (V).
    tXP, tCKE : int
        Power-down exit to first command, and the shortest stay in power-down (cycles).
    source : str
        Where the numbers come from.

    Raises
    ------
    InvalidOptionError
        If the geometry is not a power of two or the timings contradict each other.
    """

    name: str
    banks: int
    rows: int
    columns: int
    device_width: int
    bus_bits: int
    devices_per_rank: int
    burst_length: int
    tCK_ns: float
    CL: int
    tRCD: int
    tRP: int
    tRAS: int
    tRC: int
    tCCD: int
    tRRD: int
    tFAW: int
    tWTR: int
    tWR: int
    tRTP: int
    tRFC: int
    refresh_period_ns: float
    IDD0: float
    IDD2P: float
    IDD2N: float
    IDD3N: float
    IDD4R: float
    IDD4W: float
    IDD5: float
    Vdd: float
    tXP: int = 4
    tCKE: int = 4
    source: str = ""

    def __post_init__(self) -> None:
        for field in ("banks", "rows", "columns", "burst_length", "bus_bits", "device_width"):
            value = getattr(self, field)
            if not _is_pow2(value):
                raise InvalidOptionError(
                    f"DRAM preset {self.name!r}: {field} must be a power of two, not {value}")
        if self.bus_bits % self.device_width or \
                self.devices_per_rank != self.bus_bits // self.device_width:
            raise InvalidOptionError(
                f"DRAM preset {self.name!r}: devices_per_rank must be bus_bits/device_width = "
                f"{self.bus_bits // self.device_width}, not {self.devices_per_rank}")
        if self.columns < self.burst_length:
            raise InvalidOptionError(
                f"DRAM preset {self.name!r}: a row ({self.columns} columns) must hold at least "
                f"one burst of {self.burst_length}")
        if self.tRC < self.tRAS or self.tRFC < 1 or self.tCK_ns <= 0:
            raise InvalidOptionError(
                f"DRAM preset {self.name!r}: need tRC >= tRAS, tRFC >= 1 and tCK_ns > 0")
        if self.refresh_period_ns <= self.tRFC * self.tCK_ns:
            raise InvalidOptionError(
                f"DRAM preset {self.name!r}: refresh_period_ns must exceed tRFC*tCK_ns")

    # -- geometry ----------------------------------------------------------------------------
    @property
    def bytes_per_burst(self) -> int:
        """Bytes moved by one burst (one transaction): ``bus_bits/8 * BL`` (64 for DDR3)."""
        return self.bus_bits // 8 * self.burst_length

    @property
    def bursts_per_row(self) -> int:
        """Bursts in one open row of the rank, ``columns / BL``."""
        return self.columns // self.burst_length

    @property
    def row_bytes(self) -> int:
        """Bytes in one row of the rank (all devices), ``columns * bus_bits / 8``."""
        return self.columns * self.bus_bits // 8

    @property
    def capacity_bytes(self) -> int:
        """Bytes in the rank."""
        return self.banks * self.rows * self.row_bytes

    @property
    def burst_cycles(self) -> int:
        """Cycles the data bus is busy per burst: ``max(tCCD, BL/2)``."""
        return max(self.tCCD, self.burst_length // 2)

    @property
    def refresh_period_cycles(self) -> int:
        """Refresh interval in cycles, ``round(refresh_period_ns / tCK_ns)`` (5200 for DDR3)."""
        return int(round(self.refresh_period_ns / self.tCK_ns))

    # -- energy ------------------------------------------------------------------------------
    def ma_cycles_to_joules(self, ma_cycles: float) -> float:
        """Convert a DRAMSim2 energy counter (mA * cycles) to joules: ``* 1e-3 * Vdd * tCK``."""
        return ma_cycles * 1e-3 * self.Vdd * self.tCK_ns * 1e-9

    @property
    def read_burst_energy_j(self) -> float:
        """Energy of one read burst (J): ``(IDD4R - IDD3N) * BL/2 * ND``."""
        return self.ma_cycles_to_joules(
            (self.IDD4R - self.IDD3N) * (self.burst_length // 2) * self.devices_per_rank)

    @property
    def write_burst_energy_j(self) -> float:
        """Energy of one write burst (J): ``(IDD4W - IDD3N) * BL/2 * ND``."""
        return self.ma_cycles_to_joules(
            (self.IDD4W - self.IDD3N) * (self.burst_length // 2) * self.devices_per_rank)

    @property
    def act_pre_energy_j(self) -> float:
        """Energy of one activate + precharge pair (J):
        ``(IDD0*tRC - (IDD3N*tRAS + IDD2N*(tRC - tRAS))) * ND``."""
        return self.ma_cycles_to_joules(
            (self.IDD0 * self.tRC
             - (self.IDD3N * self.tRAS + self.IDD2N * (self.tRC - self.tRAS)))
            * self.devices_per_rank)

    @property
    def refresh_energy_j(self) -> float:
        """Energy of one refresh of the rank (J): ``(IDD5 - IDD3N) * tRFC * ND``."""
        return self.ma_cycles_to_joules(
            (self.IDD5 - self.IDD3N) * self.tRFC * self.devices_per_rank)

    @property
    def background_power_open_w(self) -> float:
        """Background power with at least one bank open (W): ``IDD3N * ND * Vdd``."""
        return self.IDD3N * self.devices_per_rank * 1e-3 * self.Vdd

    @property
    def background_power_closed_w(self) -> float:
        """Background power with all banks precharged (W): ``IDD2N * ND * Vdd``."""
        return self.IDD2N * self.devices_per_rank * 1e-3 * self.Vdd

    @property
    def powerdown_power_w(self) -> float:
        """Precharge power-down power (W): ``IDD2P * ND * Vdd``."""
        return self.IDD2P * self.devices_per_rank * 1e-3 * self.Vdd

    @property
    def cycle_s(self) -> float:
        """One memory clock cycle in seconds."""
        return self.tCK_ns * 1e-9


DDR3_MICRON_32M_8B_X8_SG15 = DramPreset(
    name="DDR3_micron_32M_8B_x8_sg15",
    banks=8, rows=32768, columns=1024, device_width=8, bus_bits=64, devices_per_rank=8,
    burst_length=8, tCK_ns=1.5,
    CL=10, tRCD=10, tRP=10, tRAS=24, tRC=34, tCCD=4, tRRD=4, tFAW=20, tWTR=5, tWR=10,
    tRTP=5, tRFC=107, refresh_period_ns=7800.0,
    IDD0=130, IDD2P=10, IDD2N=70, IDD3N=90, IDD4R=255, IDD4W=300, IDD5=305, Vdd=1.5,
    tXP=4, tCKE=4,
    source="DRAMSim2 ini/DDR3_micron_32M_8B_x8_sg15.ini (DRAMSim2 default), 64-bit bus",
)
"""DRAMSim2's default DDR3-1333 part (2 Gb x8), one 64-bit rank of 8 devices."""

DDR4_8GB_X8_2400 = DramPreset(
    name="DDR4_8Gb_x8_2400",
    banks=16, rows=65536, columns=1024, device_width=8, bus_bits=64, devices_per_rank=8,
    burst_length=8, tCK_ns=0.83,
    CL=17, tRCD=17, tRP=17, tRAS=39, tRC=56, tCCD=4, tRRD=4, tFAW=26, tWTR=3, tWR=18,
    tRTP=9, tRFC=420, refresh_period_ns=9360 * 0.83,
    IDD0=48, IDD2P=25, IDD2N=34, IDD3N=43, IDD4R=135, IDD4W=123, IDD5=250, Vdd=1.2,
    tXP=8, tCKE=6,
    source="DRAMsim3 configs/DDR4_8Gb_x8_2400.ini (Micron MT40A1G8PM-083E), one 64-bit rank; "
           "short bank-group timings, tRC = tRAS + tRP",
)
"""DRAMsim3's DDR4-2400 8 Gb x8 part, one 64-bit rank of 8 devices (16 banks, bank groups
flattened), with the ini's timings as DRAMsim3 reads them (``tCK`` 0.83 ns, ``tREFI`` 9360
cycles, ``tRC = tRAS + tRP``)."""

DDR3_micron_32M_8B_x8_sg15 = DDR3_MICRON_32M_8B_X8_SG15  # the DRAMSim2 ini's own spelling

PRESETS: dict[str, DramPreset] = {"ddr3": DDR3_MICRON_32M_8B_X8_SG15, "ddr4": DDR4_8GB_X8_2400}
"""Built-in presets by short name."""


def get_preset(name: str | DramPreset) -> DramPreset:
    """Return the preset called ``name`` (``"ddr3"`` or ``"ddr4"``, case-insensitive); a
    :class:`DramPreset` is returned unchanged.

    Raises
    ------
    InvalidOptionError
        If ``name`` is not a built-in preset.
    """
    if isinstance(name, DramPreset):
        return name
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise InvalidOptionError(
            f"unknown DRAM preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[key]
