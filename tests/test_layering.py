"""The layering rule of docs/architecture.md, checked on every import in sw/, hw/ and sim/.

Every ``import`` and ``from ... import`` is read with :mod:`ast`, at module level and inside
functions alike (a lazy import does not hide an arrow). Each module belongs to one layer:

* the ``sw`` stages in data-flow order ``network -> plan -> schedule -> program -> dram ->
  evaluate -> report -> cli``; a stage imports only earlier stages (and the base modules
  ``scanfuse``, ``scanfuse.errors``, ``scanfuse.units``, ``scanfuse.files``);
* the hardware core (``scanfuse.hw`` outside ``hw/fpga/``) imports nothing from sw/ or sim/;
  the planner (plan, schedule) may import its geometry, ``scanfuse.hw.params``, and nothing
  else of it; the program stage and later may import all of it;
* ``scanfuse.hw.fpga`` (the FPGA build) imports the hardware core and the base modules only;
* ``scanfuse.sim`` (verification) imports the hardware, the base and the stages up to
  ``program``; only the CLI imports it (and tests, which are not walked);
* no import cycle between modules, lazy imports included.

``test_the_rule_catches_planted_imports`` plants an upward import and a cycle in a synthetic
tree and shows that the same checker refuses them.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Source directory -> the package it installs as (pyproject.toml package-dir).
ROOTS = {"sw": "scanfuse", "hw": "scanfuse.hw", "sim": "scanfuse.sim"}
#: The sw stages in data-flow order.
STAGES = ("network", "plan", "schedule", "program", "dram", "evaluate", "report", "cli")
BASE = {"scanfuse", "scanfuse.errors", "scanfuse.units", "scanfuse.files"}
#: The only module of the hardware core the planner stages may import.
HW_GEOMETRY = "scanfuse.hw.params"


def layer_of(module: str) -> str:
    """The layer of a ``scanfuse`` module; ``"?"`` for one with no home (an error)."""
    if module in BASE:
        return "base"
    parts = module.split(".")
    if parts[1] == "hw":
        return "hw.fpga" if len(parts) > 2 and parts[2] == "fpga" else "hw"
    if parts[1] == "sim":
        return "sim"
    return parts[1] if parts[1] in STAGES else "?"


def allowed(importer: str, target: str) -> bool:
    """Whether module ``importer`` may import module ``target`` under the rule."""
    src, dst = layer_of(importer), layer_of(target)
    if "?" in (src, dst):
        return False
    if src == dst:
        return True
    if src in ("hw", "base"):
        return False
    if dst == "base":
        return True
    if src == "hw.fpga":
        return dst == "hw"
    if src == "sim":
        return dst in ("hw", "hw.fpga") or (dst in STAGES and
                                            STAGES.index(dst) <= STAGES.index("program"))
    # an sw stage
    if dst == "sim":
        return src == "cli"
    if dst == "hw.fpga":
        return src == "cli"
    if dst == "hw":
        return STAGES.index(src) >= STAGES.index("program") or target == HW_GEOMETRY
    return STAGES.index(dst) < STAGES.index(src)


def module_name(root: Path, path: Path) -> tuple[str, bool]:
    """``(dotted name, is_package)`` of source file ``path`` under the repository ``root``."""
    rel = path.relative_to(root).with_suffix("").parts
    names = [p for p in rel[1:] if p != "__init__"]
    return ".".join([ROOTS[rel[0]], *names]), path.name == "__init__.py"


def collect_imports(root: Path) -> dict[str, set[str]]:
    """Every ``scanfuse`` module under ``root`` -> the ``scanfuse`` modules it imports,
    anywhere in its body. ``from pkg import name`` counts as ``pkg.name`` when that is a
    module, else as ``pkg``."""
    files = {}
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            files[module_name(root, path)] = path
    known = {name for name, _ in files}
    graph: dict[str, set[str]] = {}
    for (name, is_pkg), path in files.items():
        package = name if is_pkg else name.rpartition(".")[0]
        targets = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                bases = [alias.name for alias in node.names]
                names: list[str] = []
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    bases = [".".join(up + ([node.module] if node.module else []))]
                else:
                    bases = [node.module]
                names = [alias.name for alias in node.names]
            else:
                continue
            for base in bases:
                if not base.startswith("scanfuse"):
                    continue
                subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
                targets.update(subs or [base])
    return graph


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the rule, as ``"importer -> target (layers)"``."""
    return sorted(f"{src} -> {dst} ({layer_of(src)} -> {layer_of(dst)})"
                  for src, targets in graph.items() for dst in targets
                  if src != dst and not allowed(src, dst))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles between modules (a package's ``__init__`` importing its own modules is
    not one: Python runs it first), found by depth-first search."""
    def edges(src):
        return [dst for dst in graph.get(src, ()) if dst in graph and dst != src
                and not src.startswith(dst + ".")]

    found, state = [], {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(edges(start))))]
        path, state[start] = [start], 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(nxt) == 1:
                loop = path[path.index(nxt):]
                first = loop.index(min(loop))           # the same cycle, one spelling
                loop = loop[first:] + loop[:first]
                found.append(loop + [loop[0]])
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(sorted(edges(nxt)))))
    return found


def test_every_module_has_a_layer():
    graph = collect_imports(REPO)
    assert len(graph) > 80
    assert [m for m in graph if layer_of(m) == "?"] == []


def test_imports_follow_the_data_flow():
    assert violations(collect_imports(REPO)) == []


def test_no_import_cycles():
    assert cycles(collect_imports(REPO)) == []


def test_sw_lists_the_stages():
    """``ls sw/`` reads as the flow: the stages, and the base modules."""
    entries = {p.name for p in (REPO / "sw").iterdir() if p.name != "__pycache__"}
    assert entries == set(STAGES) | {"__init__.py", "errors.py", "units.py", "files.py"}


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for top in ROOTS:
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.name != "sw" and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(text)
    return tmp_path


def test_the_rule_catches_planted_imports(tmp_path):
    """The checker above refuses a synthetic tree with one upward import per kind, a
    function-level one included, and a cycle hidden by a lazy import."""
    root = _plant(tmp_path, {
        "sw/errors.py": "",
        "sw/network/layers.py": "from ..errors import *\n",
        "sw/plan/gemm.py": ("from ..network import layers\n"
                            "def f():\n    from ..report import table\n"),     # upward, lazy
        "sw/report/table.py": "from ..plan.gemm import f\n",
        "hw/core.py": "from scanfuse.plan import gemm\n",                  # hw core -> sw
        "hw/params.py": "",
        "sw/schedule/steps.py": "from ..hw import core\nfrom ..hw import params\n",
        "sim/bench.py": "from ..report import table\n",                    # sim -> late stage
        "sw/dram/model.py": "import scanfuse.sim.bench\n",                 # sw -> sim
        "sw/cli/main.py": "from ..sim import bench\nfrom ..report import table\n",
        "sw/plan/a.py": "def g():\n    from . import b\n",                # lazy cycle
        "sw/plan/b.py": "from . import a\n",
    })
    graph = collect_imports(root)
    assert graph["scanfuse.plan.gemm"] == {"scanfuse.network.layers", "scanfuse.report.table"}
    assert violations(graph) == [
        "scanfuse.dram.model -> scanfuse.sim.bench (dram -> sim)",
        "scanfuse.hw.core -> scanfuse.plan.gemm (hw -> plan)",
        "scanfuse.plan.gemm -> scanfuse.report.table (plan -> report)",
        "scanfuse.schedule.steps -> scanfuse.hw.core (schedule -> hw)",
        "scanfuse.sim.bench -> scanfuse.report.table (sim -> report)",
    ]
    assert sorted(map(tuple, cycles(graph))) == sorted([
        ("scanfuse.plan.a", "scanfuse.plan.b", "scanfuse.plan.a"),
        ("scanfuse.plan.gemm", "scanfuse.report.table", "scanfuse.plan.gemm"),
    ])
    # The real tree passes the same functions (the three tests above).


@pytest.mark.parametrize("importer,target,ok", [
    ("scanfuse.plan.buffer", "scanfuse.hw.params", True),
    ("scanfuse.plan.buffer", "scanfuse.hw.program", False),
    ("scanfuse.program.bridges", "scanfuse.hw.addrgen", True),
    ("scanfuse.network.zoo", "scanfuse.plan.gemm", False),
    ("scanfuse.hw.program", "scanfuse.hw.params", True),
    ("scanfuse.hw.params", "scanfuse.errors", False),
    ("scanfuse.hw.fpga.flow", "scanfuse.errors", True),
    ("scanfuse.hw.fpga.flow", "scanfuse.program.image", False),
    ("scanfuse.sim.run", "scanfuse.program.image", True),
    ("scanfuse.sim.run", "scanfuse.dram.bursts", False),
    ("scanfuse.cli.main", "scanfuse.sim.run", True),
    ("scanfuse.report.evaluate_report", "scanfuse.files", True),
    ("scanfuse.sim.run", "scanfuse.files", True),
    ("scanfuse.files", "scanfuse.errors", True),
    ("scanfuse.files", "scanfuse.plan.gemm", False),
    ("scanfuse.evaluate.run", "scanfuse.sim.run", False),
])
def test_rule_table(importer, target, ok):
    assert allowed(importer, target) is ok
