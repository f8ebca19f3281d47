"""The engine's Verilog, built once per configuration and cached, and runs of it under Icarus.

Generating the Verilog of :class:`~scanfuse.hw.engine.Engine` (Amaranth -> Yosys) takes ~10 s,
so every build is cached under ``$SCANFUSE_BUILD`` (default ``./build``), keyed by the
configuration and a hash of the sources that shape it (``hw/*.py``, the Amaranth version and,
for simulator builds, the harness sources). Concurrent pytest-xdist workers share the cache:
each build runs under a file lock and is published only when complete. ``make clean`` removes
it.

* :func:`engine_verilog` -> ``build/rtl/<tag>-<hash>/engine.v``
* :func:`icarus_build` -> a cocotb Icarus build dir (``sim.vvp``) for ``scanfuse.sim.engine_bench``
* :func:`cocotb_build` / :func:`cocotb_test` -> the same for either simulator of
  :mod:`scanfuse.sim.hdl_sim` (``cocotb-verilator/`` holds the Verilator build)
* :func:`run_icarus` runs a :class:`~scanfuse.program.image.DramImage` through that build (the
  bench's ``run_image`` test) and returns an :class:`~scanfuse.sim.engine_sim.EngineRun`.
"""

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
from pathlib import Path

from ..hw.params import AccelConfig
from ..hw.verilog import source_hash
from .hdl_sim import build_root, locked

__all__ = ["build_root", "config_tag", "source_hash", "locked", "engine_verilog", "icarus_build",
           "cocotb_build", "cocotb_test", "run_icarus", "run_cocotb", "write_run_files", "read_run_files"]



def config_tag(cfg: AccelConfig) -> str:
    """Readable name of a configuration, e.g. ``r8c8-b64-a16384-b16384-c8192``."""
    tag = (f"{cfg.name}-b{cfg.axi_data_bits}-ad{cfg.addr_bits}-a{cfg.a_entries}-b{cfg.b_entries}"
           f"-c{cfg.c_entries}")
    tag += "-db" if cfg.double_buffer else ""
    # The PE multiplier kind changes the array's latency (scanfuse.hw.multiplier).
    tag += "" if cfg.pe_multiplier == "inferred" else f"-{cfg.pe_multiplier}"
    # So does the tile memory kind (the feed's read latency, scanfuse.hw.buffer).
    return tag + ("" if cfg.tile_memory == "inferred" else f"-{cfg.tile_memory}")


def engine_verilog(cfg: AccelConfig = AccelConfig()) -> Path:
    """``engine.v`` (top module ``engine``, :func:`scanfuse.hw.verilog.engine_verilog`) for
    ``cfg``, generated on first use."""
    cfg.check_engine()
    out_dir = build_root() / "rtl" / f"{config_tag(cfg)}-{source_hash()}"
    path = out_dir / "engine.v"
    if path.exists():
        return path
    with locked(out_dir):
        if not path.exists():
            from ..hw.verilog import engine_verilog as convert
            out_dir.mkdir(parents=True, exist_ok=True)
            text = convert(cfg)
            fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".v.tmp")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            (out_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)) + "\n")
            os.replace(tmp, path)
    return path


def _env_cfg(cfg: AccelConfig) -> str:
    return json.dumps(dataclasses.asdict(cfg))


#: FST dump module for waveform builds, in Verilog-2005: cocotb's own uses an SV ``string``,
#: which Icarus refuses under the ``-g2005`` the engine needs.
_DUMP_MODULE = """module engine_dump();
  reg [8*1024-1:0] path;
  initial begin
    if ($value$plusargs("dumpfile_path=%s", path)) $dumpfile(path);
    else $dumpfile("engine.fst");
    $dumpvars(0, engine);
  end
endmodule
"""


@contextlib.contextmanager
def _without_env(name: str):
    """Hide an environment variable (the runner's build() obeys ``WAVES`` over its argument)."""
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def _icarus_build_call(runner, cfg: AccelConfig, build_dir: Path, waves: bool):
    sources = [engine_verilog(cfg)]
    # -g2005 after the runner's -g2012: see tests/hw/test_dma_cocotb.py (Yosys's `reg ... = 0`
    # initialisers start `always @*` blocks only under Verilog-2005 rules).
    args = ["-g2005"]
    if waves:
        dump = build_dir / "engine_dump.v"
        if not dump.exists():
            build_dir.mkdir(parents=True, exist_ok=True)
            dump.write_text(_DUMP_MODULE)
        sources.append(dump)
        args += ["-s", "engine_dump"]
    with _without_env("WAVES"):
        runner.build(sources=sources, hdl_toplevel="engine", build_dir=build_dir,
                     build_args=args, timescale=("1ns", "1ps"), waves=False)


def icarus_build(cfg: AccelConfig = AccelConfig(), waves: bool = False) -> Path:
    """A cocotb Icarus build of the engine (``sim.vvp`` in the returned directory).

    ``waves`` builds a separate variant with an FST dump module.
    """
    from cocotb_tools.runner import get_runner
    build_dir = engine_verilog(cfg).parent / ("icarus-waves" if waves else "icarus")
    if (build_dir / "sim.vvp").exists():
        return build_dir
    with locked(build_dir):
        if not (build_dir / "sim.vvp").exists():
            _icarus_build_call(get_runner("icarus"), cfg, build_dir, waves)
    return build_dir


def icarus_test(cfg: AccelConfig, test_dir: Path, test_filter: str, extra_env: dict,
                waves: "bool | None" = None, seed: int = 1, log_file: "Path | None" = None) -> Path:
    """Run the cocotb tests of ``scanfuse.sim.engine_bench`` matching ``test_filter`` (a
    regex) on ``cfg``'s build, in ``test_dir``. Raises ``RuntimeError`` when a test fails
    (under pytest the runner fails the test itself). ``waves`` None: the ``WAVES`` environment
    variable decides; the FST file is ``test_dir/engine.fst``. ``log_file`` takes the
    simulator's output (default: this process's stdout). Returns the results XML file."""
    from cocotb_tools.runner import get_runner
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    build_dir = icarus_build(cfg, waves)
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner("icarus")
    # The runner's state comes from build(); the compile is cached, so build() only points it
    # at the build directory (and would warn "Skipping compilation").
    runner.log.setLevel(logging.ERROR)
    _icarus_build_call(runner, cfg, build_dir, waves)
    runner.log.setLevel(logging.INFO)
    plusargs = [f"+dumpfile_path={test_dir / 'engine.fst'}"] if waves else []
    return _run_engine_bench(runner, cfg, build_dir, test_dir, test_filter, extra_env, seed,
                             waves, log_file, plusargs)


def _run_engine_bench(runner, cfg: AccelConfig, build_dir: Path, test_dir: Path,
                      test_filter: str, extra_env: dict, seed: int, waves: bool,
                      log_file: "Path | None", plusargs: "list[str]" = ()) -> Path:
    """Run the engine bench's tests on a built ``runner``; raise ``RuntimeError`` unless at
    least one ran and none failed. Returns the results XML file."""
    from cocotb_tools.check_results import get_results
    env = {"ENGINE_CFG": _env_cfg(cfg), "SEED": str(seed), **extra_env}
    results = runner.test(hdl_toplevel="engine", test_module="scanfuse.sim.engine_bench",
                          build_dir=build_dir, test_dir=test_dir, test_filter=test_filter,
                          extra_env=env, plusargs=list(plusargs), waves=waves,
                          log_file=log_file, results_xml=str(test_dir / "results.xml"))
    tests, failed = get_results(results)
    if failed or not tests:
        where = f" (log: {log_file})" if log_file else ""
        raise RuntimeError(f"cocotb: {failed} of {tests} engine_bench tests failed{where}")
    return results


def _verilator_build_call(runner, cfg: AccelConfig, build_dir: Path, waves: bool):
    """Build (or, when built, refresh the runner's state): Verilator's and make's output go to
    ``build_dir/build.log``, never to stdout (``scanfuse sim --json`` prints only JSON)."""
    from . import hdl_sim
    Path(build_dir).mkdir(parents=True, exist_ok=True)
    with _without_env("WAVES"):
        runner.build(sources=[engine_verilog(cfg)], hdl_toplevel="engine", build_dir=build_dir,
                     build_args=hdl_sim.build_args("verilator"), timescale=("1ns", "1ps"),
                     waves=waves, log_file=Path(build_dir) / "build.log")


def cocotb_build(cfg: AccelConfig = AccelConfig(), sim: str = "icarus",
                 waves: bool = False) -> Path:
    """A cocotb build of the engine for ``sim`` ("icarus" or "verilator"), cached like the
    Verilog. The Verilator build takes minutes of g++ (once per configuration and RTL hash)."""
    from . import hdl_sim
    if sim == "icarus":
        return icarus_build(cfg, waves)
    build_dir = engine_verilog(cfg).parent / ("cocotb-verilator-waves" if waves
                                               else "cocotb-verilator")
    stamp = build_dir / "built.stamp"
    if stamp.exists():
        return build_dir
    with locked(build_dir):
        if not stamp.exists():
            with hdl_sim.environment(sim):
                _verilator_build_call(hdl_sim.get_runner(sim), cfg, build_dir, waves)
            stamp.write_text(f"verilator {hdl_sim.verilator_version()}\n")
    return build_dir


def cocotb_test(cfg: AccelConfig, test_dir: Path, test_filter: str, extra_env: dict,
                sim: str = "icarus", waves: "bool | None" = None, seed: int = 1,
                log_file: "Path | None" = None) -> Path:
    """:func:`icarus_test` on either simulator (``sim`` "icarus" or "verilator")."""
    if sim == "icarus":
        return icarus_test(cfg, test_dir, test_filter, extra_env, waves, seed, log_file)
    from . import hdl_sim
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    build_dir = cocotb_build(cfg, sim, waves)
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    with hdl_sim.environment(sim):
        runner = hdl_sim.get_runner(sim)
        # As in icarus_test: build() on the finished build only sets the runner's state
        # (make finds nothing to do).
        runner.log.setLevel(logging.ERROR)
        _verilator_build_call(runner, cfg, build_dir, waves)
        runner.log.setLevel(logging.INFO)
        return _run_engine_bench(runner, cfg, build_dir, test_dir, test_filter, extra_env,
                                 seed, waves, log_file)


def write_run_files(directory: Path, mem: bytes, prog_addr: int, prog_len: int, **options):
    """The image files a simulator harness reads: ``image.bin`` and ``image.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "image.bin").write_bytes(bytes(mem))
    (directory / "image.json").write_text(json.dumps(
        {"prog_addr": prog_addr, "prog_len": prog_len, **options}) + "\n")


def read_run_files(directory: Path):
    """The :class:`~scanfuse.sim.engine_sim.EngineRun` a harness left in ``directory``
    (``mem_out.bin``, ``run.json``)."""
    from .engine_sim import EngineRun
    doc = json.loads((directory / "run.json").read_text())
    return EngineRun(bytearray((directory / "mem_out.bin").read_bytes()), doc["status"],
                     doc["error"], doc["counters"], doc["bus_read_bytes"],
                     doc["bus_write_bytes"], doc["cycles_total"])


def run_icarus(mem: bytearray, prog_addr: int, prog_len: int, cfg: AccelConfig = AccelConfig(),
               *, seed: int = 0, p_stall: float = 0.0, work_dir: "Path | None" = None,
               waves: "bool | None" = None, max_cycles: int = 50_000_000,
               log_file: "Path | None" = None):
    """Run a DRAM image on the engine's Verilog under Icarus (cocotb, cocotbext-axi AxiRam and
    AxiLiteMaster) and return an :class:`~scanfuse.sim.engine_sim.EngineRun`.

    ``p_stall`` is the probability of a pause on each AXI channel of the RAM in a cycle.
    ``work_dir`` keeps the files (image, results, waveform); default a temporary directory.
    """
    return run_cocotb(mem, prog_addr, prog_len, cfg, sim="icarus", seed=seed, p_stall=p_stall,
                      work_dir=work_dir, waves=waves, max_cycles=max_cycles, log_file=log_file)


def run_cocotb(mem: bytearray, prog_addr: int, prog_len: int, cfg: AccelConfig = AccelConfig(),
               *, sim: str = "icarus", seed: int = 0, p_stall: float = 0.0,
               work_dir: "Path | None" = None, waves: "bool | None" = None,
               max_cycles: int = 50_000_000, log_file: "Path | None" = None):
    """:func:`run_icarus` on either simulator of :mod:`scanfuse.sim.hdl_sim`."""
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scanfuse-")))
        work_dir = Path(work_dir).resolve()
        write_run_files(work_dir, mem, prog_addr, prog_len, seed=seed, p_stall=p_stall,
                        max_cycles=max_cycles)
        cocotb_test(cfg, work_dir, "run_image", {"RUN_DIR": str(work_dir)}, sim, waves, seed,
                    log_file)
        return read_run_files(work_dir)
