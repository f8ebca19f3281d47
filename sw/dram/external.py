"""Run a user's DRAMSim2 or DRAMsim3 binary on a trace and read back its energy.

Neither simulator ships with ScanFuse; ``scanfuse trace ... --dram-sim PATH`` calls the one
the user built and puts its energy next to this package's model.

DRAMSim2 (``DRAMSim -t mase_X.trc -s system.ini -d DEVICE.ini -c CYCLES``) prints, at the end
of every epoch and of the run, a ``== Power Data for Rank N`` block of average powers in watts
(background, act/pre, burst, refresh) followed by ``== Pending Transactions : n (CYCLE)==``.
Its energy counters restart every epoch, so each block's powers times the cycles since the
previous block, times ``tCK``, give that epoch's energy; :func:`parse_dramsim2_output` sums
them.

DRAMsim3 (``dramsim3main CONFIG.ini -t TRACE -c CYCLES -o DIR``) writes ``DIR/dramsim3.json``:
per channel, ``read_energy``, ``write_energy``, ``act_energy``, ``ref_energy``,
``refb_energy``, per-rank ``act_stb_energy``, ``pre_stb_energy``, ``pre_pd_energy``,
``sref_energy`` and ``total_energy``, all in pJ (:func:`parse_dramsim3_json`).
"""

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidOptionError
from .model import DramEnergy

__all__ = ["ExternalResult", "parse_dramsim2_output", "parse_dramsim3_json", "run_dram_sim",
           "default_config"]

_POWER = re.compile(r"==\s*Power Data for Rank\s+(\d+)")
_FIELD = re.compile(r"-?(Background|Act/Pre|Burst|Refresh)\s*\(watts\)\s*:\s*([-+0-9.eE]+)")
_CYCLE = re.compile(r"==\s*Pending Transactions\s*:\s*\d+\s*\((\d+)\)\s*==")


@dataclass(frozen=True)
class ExternalResult:
    """Energy an external simulator reported (J, split as :class:`DramEnergy`), the cycles it
    ran, and which simulator it was."""

    simulator: str
    energy: DramEnergy
    cycles: int

    def to_json(self) -> dict:
        e = self.energy
        return {"simulator": self.simulator, "cycles": self.cycles,
                "energy_j": {"burst": e.burst_j, "act_pre": e.act_pre_j, "refresh": e.refresh_j,
                             "background": e.background_j, "total": e.total_j}}


def parse_dramsim2_output(text: str, tck_ns: float) -> ExternalResult:
    """Sum DRAMSim2's per-epoch power blocks into energy (see the module docstring).

    Raises
    ------
    InvalidOptionError
        If the text holds no complete power block.
    """
    parts = {"Background": 0.0, "Act/Pre": 0.0, "Burst": 0.0, "Refresh": 0.0}
    pending: list[dict[str, float]] = []
    current: dict[str, float] | None = None
    last_cycle, cycles_seen = 0, 0
    for line in text.splitlines():
        if _POWER.search(line):
            current = {}
            pending.append(current)
            continue
        field = _FIELD.search(line)
        if field and current is not None:
            current[field.group(1)] = float(field.group(2))
            continue
        cycle = _CYCLE.search(line)
        if cycle:
            now = int(cycle.group(1))
            for block in pending:            # every rank's block of this epoch
                for key in parts:
                    parts[key] += block.get(key, 0.0) * (now - last_cycle) * tck_ns * 1e-9
            if pending:
                cycles_seen = now
            last_cycle, pending, current = now, [], None
    if cycles_seen == 0:
        raise InvalidOptionError("no DRAMSim2 power data ('== Power Data for Rank' followed by "
                                 "'== Pending Transactions : n (cycle)==') in the simulator output")
    return ExternalResult("DRAMSim2", DramEnergy(parts["Burst"], parts["Act/Pre"], parts["Refresh"],
                                                 parts["Background"]), cycles_seen)


def _sum_nested(value) -> float:
    if isinstance(value, dict):
        return sum(_sum_nested(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_sum_nested(v) for v in value)
    return float(value)


def parse_dramsim3_json(doc: dict | str | Path) -> ExternalResult:
    """Energy (pJ -> J) from DRAMsim3's ``dramsim3.json`` (a dict, JSON text or a path).

    Raises
    ------
    InvalidOptionError
        If no channel holds the energy keys.
    """
    if isinstance(doc, Path) or (isinstance(doc, str) and not doc.lstrip().startswith("{")):
        doc = json.loads(Path(doc).read_text())
    elif isinstance(doc, str):
        doc = json.loads(doc)
    channels = [ch for ch in doc.values() if isinstance(ch, dict) and "total_energy" in ch]
    if not channels:
        raise InvalidOptionError("no DRAMsim3 channel statistics with 'total_energy' found")
    pj = 1e-12

    def total(*keys) -> float:
        return sum(_sum_nested(ch.get(k, 0.0)) for ch in channels for k in keys) * pj

    energy = DramEnergy(total("read_energy", "write_energy"), total("act_energy"),
                        total("ref_energy", "refb_energy"),
                        total("act_stb_energy", "pre_stb_energy", "pre_pd_energy", "sref_energy"))
    cycles = int(max(float(ch.get("num_cycles", 0)) for ch in channels))
    return ExternalResult("DRAMsim3", energy, cycles)


#: Config files each simulator's source tree ships for our presets.
_DEFAULT_CONFIGS = {
    "dramsim2": {"ddr3": ("ini/DDR3_micron_32M_8B_x8_sg15.ini", "system.ini.example")},
    "dramsim3": {"ddr4": ("configs/DDR4_8Gb_x8_2400.ini", None)},
}


def default_config(binary: str | Path, fmt: str, dram: str) -> tuple[Path | None, Path | None]:
    """The device (and, for DRAMSim2, system) config found next to ``binary`` (its directory
    or the one above, as the simulators' source trees are laid out), else ``None``s."""
    names = _DEFAULT_CONFIGS.get(fmt, {}).get(dram)
    if names is None:
        return None, None
    where = Path(binary).resolve().parent
    found = []
    for name in names:
        hit = None
        if name is not None:
            for root in (where, where.parent):
                if (root / name).is_file():
                    hit = root / name
                    break
            if hit is None and name == "system.ini.example":
                for root in (where, where.parent):
                    if (root / "system.ini").is_file():
                        hit = root / "system.ini"
                        break
        found.append(hit)
    return found[0], found[1]


def run_dram_sim(binary: str | Path, trace: str | Path, fmt: str, cycles: int, tck_ns: float,
                 config: str | Path | None = None, system: str | Path | None = None,
                 timeout: float = 3600.0) -> ExternalResult:
    """Run DRAMSim2 (``fmt="dramsim2"``) or DRAMsim3 (``"dramsim3"``) on ``trace`` for
    ``cycles`` memory cycles and return the energy it reports.

    ``config``: the device ini (DRAMSim2 ``-d``) or the DRAMsim3 config; ``system``: DRAMSim2's
    system ini (``-s``). Give ``tck_ns`` of the part the config describes.

    Raises
    ------
    InvalidOptionError
        If the binary or a config is missing, the run fails or its output cannot be read.
    """
    exe = shutil.which(str(binary)) or (str(binary) if Path(binary).is_file() else None)
    if exe is None:
        raise InvalidOptionError(f"DRAM simulator {str(binary)!r} not found")
    if config is None or not Path(config).is_file():
        raise InvalidOptionError(f"{fmt} needs its config file (--dram-sim-config), not {config!r}")
    trace = Path(trace).resolve()
    with tempfile.TemporaryDirectory(prefix="scanfuse-dramsim-") as work:
        if fmt == "dramsim2":
            if system is None or not Path(system).is_file():
                raise InvalidOptionError(f"DRAMSim2 needs its system ini (--dram-sim-system), not {system!r}")
            argv = [exe, "-t", str(trace), "-s", str(Path(system).resolve()), "-d",
                    str(Path(config).resolve()), "-c", str(int(cycles))]
        elif fmt == "dramsim3":
            argv = [exe, str(Path(config).resolve()), "-t", str(trace), "-c", str(int(cycles)),
                    "-o", work]
        else:
            raise InvalidOptionError(f"format must be dramsim2 or dramsim3, not {fmt!r}")
        try:
            done = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise InvalidOptionError(f"running {Path(exe).name} failed: {err}") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            raise InvalidOptionError(f"{Path(exe).name} exited with {done.returncode}: {tail[0]}")
        if fmt == "dramsim2":
            logs = [p.read_text(errors="replace") for p in sorted(Path(work).rglob("*.log"))]
            return parse_dramsim2_output("\n".join([done.stdout, *logs]), tck_ns)
        stats = sorted(Path(work).rglob("*.json"))
        if not stats:
            raise InvalidOptionError(f"{Path(exe).name} wrote no statistics JSON under its output directory")
        return parse_dramsim3_json(stats[0])
