"""Run a user's DRAMSim2 or DRAMsim3 binary on a trace and read back its energy.

Neither simulator ships with ScanFuse; ``scanfuse trace ... --dram-sim PATH`` and
``scanfuse evaluate ... --dram-sim PATH`` call the one the user built and put its energy next
to this package's model.

Each run gets configs derived from the stock ones found next to the binary (or given), so the
simulator models what the ScanFuse model models: the same address mapping, one rank, the
controller policy (DRAMSim2's ``USE_LOW_POWER`` on for ``dramsim2``, off for
``close-on-idle``; DRAMsim3's open page for ``open-page``), and exactly the model's runtime
in cycles. A policy the simulator cannot express is run with its closest setting and marked
``matches_policy = False``.

DRAMSim2 (``DRAMSim -t mase_X.trc -s system.ini -d DEVICE.ini -c CYCLES``) prints, at the end
of every epoch and of the run, a ``== Power Data for Rank N`` block of average powers in watts
(background, act/pre, burst, refresh) followed by ``== Pending Transactions : n (CYCLE)==``.
Its energy counters restart every epoch, so each block's powers times the cycles since the
previous block, times ``tCK``, give that epoch's energy; :func:`parse_dramsim2_output` sums
them. The powers are printed with three decimals, which bounds the agreement of small parts
(refresh is ~0.05 W: +-1%).

DRAMsim3 (``dramsim3main CONFIG.ini -t TRACE -c CYCLES -o DIR``) writes ``DIR/dramsim3.json``:
per channel ``read_energy``, ``write_energy``, ``act_energy``, ``ref_energy``,
``refb_energy``, per-rank ``act_stb_energy``, ``pre_stb_energy``, ``pre_pd_energy`` and
``sref_energy``. They are labelled pJ but are ``V * mA * cycles`` (DRAMsim3 multiplies
currents by VDD and cycle counts only), so :func:`parse_dramsim3_json` multiplies them by
``tCK`` in ns to get pJ.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidOptionError
from .mapping import SCHEMES
from .model import DramEnergy
from .policy import DramPolicy, parse_policy
from .presets import DramPreset, get_preset

__all__ = ["ExternalResult", "parse_dramsim2_output", "parse_dramsim3_json", "run_dram_sim",
           "find_simulator", "default_config", "simulator_for", "dramsim2_system_ini", "dramsim3_config_ini"]

_POWER = re.compile(r"==\s*Power Data for Rank\s+(\d+)")
_FIELD = re.compile(r"-?(Background|Act/Pre|Burst|Refresh)\s*\(watts\)\s*:\s*([-+0-9.eE]+)")
_CYCLE = re.compile(r"==\s*Pending Transactions\s*:\s*\d+\s*\((\d+)\)\s*==")


@dataclass(frozen=True)
class ExternalResult:
    """Energy an external simulator reported (J, split as :class:`DramEnergy`), the cycles it
    ran, which simulator it was, the policy it was set up for and whether it can express it."""

    simulator: str
    energy: DramEnergy
    cycles: int
    policy: str = ""
    matches_policy: bool = True

    def to_json(self) -> dict:
        e = self.energy
        return {"simulator": self.simulator, "cycles": self.cycles, "policy": self.policy,
                "matches_policy": self.matches_policy,
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


def parse_dramsim3_json(doc: dict | str | Path, tck_ns: float) -> ExternalResult:
    """Energy (J) from DRAMsim3's ``dramsim3.json`` (a dict, JSON text or a path): its
    ``V * mA * cycles`` figures times ``tck_ns`` are pJ (module docstring).

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
    if not tck_ns > 0:
        raise InvalidOptionError(f"tck_ns must be positive, not {tck_ns!r}")
    pj = 1e-12 * tck_ns

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

#: The simulator each preset is checked against (the one whose config the preset copies).
_SIMULATOR_OF_PRESET = {"ddr3": "dramsim2", "ddr4": "dramsim3"}

_NAMES = {"dramsim2": "DRAMSim2", "dramsim3": "DRAMsim3"}


def simulator_for(dram: str) -> str:
    """``"dramsim2"`` or ``"dramsim3"``: the simulator whose config the preset ``dram``
    copies (DDR3 from DRAMSim2, DDR4 from DRAMsim3)."""
    key = str(dram).strip().lower()
    if key not in _SIMULATOR_OF_PRESET:
        raise InvalidOptionError(f"no external simulator is set up for DRAM preset {dram!r}")
    return _SIMULATOR_OF_PRESET[key]


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


def _set_keys(text: str, values: dict[str, str]) -> str:
    """``text`` (an ini) with ``key = value`` set for every key of ``values`` (added at the
    end when missing); comments after a value are dropped."""
    lines = text.splitlines()
    seen = set()
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in values and not line.lstrip().startswith(";"):
            lines[i] = f"{key}={values[key]}"
            seen.add(key)
    lines += [f"{k}={v}" for k, v in values.items() if k not in seen]
    return "\n".join(lines) + "\n"


def dramsim2_system_ini(stock: str, scheme: str, policy: DramPolicy) -> tuple[str, bool]:
    """DRAMSim2's system ini for ``scheme`` and ``policy``, from the ``stock`` text; and
    whether DRAMSim2 can express the policy (``dramsim2`` and ``close-on-idle`` only)."""
    low_power = policy.rows == "close-on-idle" and policy.powerdown_after is not None
    text = _set_keys(stock, {"NUM_CHANS": "1", "ROW_BUFFER_POLICY": "open_page",
                             "ADDRESS_MAPPING_SCHEME": scheme, "QUEUING_STRUCTURE": "per_rank",
                             "USE_LOW_POWER": "true" if low_power else "false",
                             "VIS_FILE_OUTPUT": "false"})
    exact = policy.rows == "close-on-idle" and policy.powerdown_after in (0, None)
    return text, exact


_DRAMSIM3_FIELDS = {"chan": "ch", "rank": "ra", "row": "ro", "col": "co", "bank": "babg"}


def dramsim3_config_ini(stock: str, preset: DramPreset, scheme: str,
                        policy: DramPolicy) -> tuple[str, bool]:
    """DRAMsim3's config for one rank of ``preset`` with ``scheme``'s field order (bank
    groups below banks, as one flat bank field) and its open-page policy, from the ``stock``
    text; and whether DRAMsim3 expresses ``policy`` (``open-page`` only)."""
    key = str(scheme).strip().lower()
    if key not in SCHEMES:
        raise InvalidOptionError(f"unknown address mapping scheme {scheme!r}")
    mapping = "".join(_DRAMSIM3_FIELDS[f] for f in SCHEMES[key])
    text = _set_keys(stock, {"channel_size": str(preset.capacity_bytes >> 20),
                             "channels": "1", "address_mapping": mapping,
                             "row_buf_policy": "OPEN_PAGE"})
    return text, policy.rows == "open"


def find_simulator(binary: str | Path) -> str:
    """The executable ``binary`` names (a path, or a name on ``PATH``).

    Raises
    ------
    InvalidOptionError
        If there is no such file or it is not executable.
    """
    exe = shutil.which(str(binary)) if os.sep not in str(binary) else None
    exe = exe or (str(binary) if Path(binary).is_file() else None)
    if exe is None:
        raise InvalidOptionError(f"DRAM simulator {str(binary)!r} not found: no such file")
    if not os.access(exe, os.X_OK):
        raise InvalidOptionError(f"DRAM simulator {str(binary)!r} is not executable")
    return exe


def run_dram_sim(binary: str | Path, trace: str | Path, fmt: str, cycles: int,
                 preset: DramPreset | str, scheme: str = "scheme2",
                 policy: DramPolicy | str = "dramsim2",
                 config: str | Path | None = None, system: str | Path | None = None,
                 timeout: float = 3600.0) -> ExternalResult:
    """Run DRAMSim2 (``fmt="dramsim2"``) or DRAMsim3 (``"dramsim3"``) on ``trace`` for
    exactly ``cycles`` memory cycles, set up for ``preset``, ``scheme`` and ``policy``, and
    return the energy it reports.

    ``config``: the stock device ini (DRAMSim2 ``-d``) or DRAMsim3 config; ``system``:
    DRAMSim2's stock system ini; both default to the ones found next to the binary. The
    system ini (DRAMSim2) or the config (DRAMsim3) is rewritten for one rank, the mapping and
    the policy (:func:`dramsim2_system_ini`, :func:`dramsim3_config_ini`) in a temporary folder.

    Raises
    ------
    InvalidOptionError
        If the binary or a config is missing, the run fails or times out, or its output
        cannot be read (e.g. the binary is not that simulator).
    """
    p = get_preset(preset)
    pol = parse_policy(policy)
    if fmt not in _NAMES:
        raise InvalidOptionError(f"format must be dramsim2 or dramsim3, not {fmt!r}")
    exe = find_simulator(binary)
    found_config, found_system = default_config(exe, fmt, next(
        (k for k, v in _SIMULATOR_OF_PRESET.items() if v == fmt), ""))
    config = config or found_config
    system = system or found_system
    if config is None or not Path(config).is_file():
        raise InvalidOptionError(f"{_NAMES[fmt]} needs its config file (--dram-sim-config), "
                                 f"not {None if config is None else str(config)!r}")
    if isinstance(cycles, bool) or int(cycles) < 1:
        raise InvalidOptionError(f"cycles must be a positive count, not {cycles!r}")
    trace = Path(trace).resolve()
    with tempfile.TemporaryDirectory(prefix="scanfuse-dramsim-") as work:
        if fmt == "dramsim2":
            if system is None or not Path(system).is_file():
                raise InvalidOptionError(f"DRAMSim2 needs its system ini (--dram-sim-system), "
                                         f"not {None if system is None else str(system)!r}")
            text, exact = dramsim2_system_ini(_read_text(system), scheme, pol)
            derived = Path(work) / "system.ini"
            derived.write_text(text)
            argv = [exe, "-t", str(trace), "-s", str(derived), "-d", str(Path(config).resolve()),
                    "-c", str(int(cycles))]
        else:
            text, exact = dramsim3_config_ini(_read_text(config), p, scheme, pol)
            derived = Path(work) / "config.ini"
            derived.write_text(text)
            argv = [exe, str(derived), "-t", str(trace), "-c", str(int(cycles)), "-o", work]
        try:
            done = subprocess.run(argv, cwd=work, capture_output=True, text=True,
                                  timeout=timeout, errors="replace")
        except subprocess.TimeoutExpired:
            raise InvalidOptionError(f"{Path(exe).name} did not finish within {timeout:g} s") \
                from None
        except OSError as err:
            raise InvalidOptionError(f"running {Path(exe).name} failed: {err.strerror or err}") \
                from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            raise InvalidOptionError(f"{Path(exe).name} exited with {done.returncode}: {tail[0]}")
        if fmt == "dramsim2":
            logs = [q.read_text(errors="replace") for q in sorted(Path(work).rglob("*.log"))]
            result = parse_dramsim2_output("\n".join([done.stdout, *logs]), p.tCK_ns)
        else:
            stats = sorted(Path(work).rglob("dramsim3.json"))
            if not stats:
                raise InvalidOptionError(f"{Path(exe).name} wrote no dramsim3.json: is it "
                                         f"DRAMsim3's dramsim3main?")
            result = parse_dramsim3_json(stats[0], p.tCK_ns)
    return ExternalResult(result.simulator, result.energy, result.cycles, pol.name, exact)


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError as err:
        raise InvalidOptionError(f"cannot read {str(path)!r}: {err.strerror}") from None
