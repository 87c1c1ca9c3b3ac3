"""The package's layers (docs/architecture.md): every import in sim/, at the top of a module or
inside a function, runs downward or within its layer, never round in a cycle, and never takes a
private name (a leading underscore) from another module. Read from the source with `ast`, so an
import that only runs on some path is checked too."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest
from conftest import REPO

# Lowest first. A module may import from its own layer and the layers below it, never above.
LAYERS = [
    ("base", ("sim.codes", "sim.seeds", "sim.files", "sim.collector")),  # codes, seeds, safe reads, the gc pause
    ("metrics", ("sim.metrics",)),  # the metric registry: the vocabulary configs and reports name
    ("world", ("sim.world",)),  # place graph, synthetic presets and their size resolver, rosters
    ("policies", ("sim.policies",)),  # eligibility, selection, matching, forms, sharing
    ("config", ("sim.config",)),  # scenario schema and loading, sweep/target files, checks before a run
    ("core", ("sim.core",)),  # RotationModel, agents, workforce, move log, careers, cadres, tenure
    ("storage", ("sim.storage",)),  # folders, manifests, writing and reading results (no figures)
    ("experiments", ("sim.experiments",)),  # run/compare/sweep, executors, statistics, calibrate, optimise
    ("present", ("sim.present",)),  # figures, summaries, the HTML report, the app, result folders with figures
    ("interface", ("sim.cli", "sim.__main__", "sim")),  # the command line and the public API
]


def layer_of(module: str) -> int:
    """The index in LAYERS of a module (the longest matching prefix); KeyError when none fits."""
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    if best is None:
        raise KeyError(module)
    return best[0]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every import of a `sim` module in `source`.

    `from P import x` counts as importing the module P.x when that is a module, else P."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "sim"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sim":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.append((sub, "", node.lineno) if sub in known else (target, a.name, node.lineno))
    return found


def problems(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Every layer problem in {module: (source, is_package)}: unknown modules, upward imports,
    private names taken across modules, and cycles."""
    known = set(sources)
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    found = []
    for module, (source, is_package) in sorted(sources.items()):
        for target, name, line in imports(source, module, is_package, known):
            where = f"{module}:{line}"
            if target not in known:
                found.append(f"{where} imports {target}, which is not a module of the package")
                continue
            if layer_of(target) > layer_of(module):
                found.append(f"{where} imports {target} from a higher layer "
                             f"({LAYERS[layer_of(target)][0]} above {LAYERS[layer_of(module)][0]})")
            if name.startswith("_") and not name.startswith("__") and target != module:
                found.append(f"{where} imports the private name {name} from {target}")
            if target != module:
                graph.add_edge(module, target)
    for group in sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1):
        cycle = [edge[0] for edge in nx.find_cycle(graph.subgraph(group), group[0])]
        found.append("import cycle: " + " -> ".join([*cycle, cycle[0]]))
    return found


def package_sources(root: Path) -> dict[str, tuple[str, bool]]:
    return {module_name(p, root): (p.read_text(encoding="utf-8"), p.name == "__init__.py")
            for p in sorted((root / "sim").rglob("*.py"))}


def test_imports_run_down_the_layers_without_cycles_or_private_names():
    assert problems(package_sources(REPO)) == []


def test_every_module_has_a_layer():
    for module in package_sources(REPO):
        layer_of(module)  # KeyError names a module that no layer holds


@pytest.mark.parametrize(("sources", "expected"), [
    ({"sim.core.a": ("from sim.present.b import f", False), "sim.present.b": ("", False)}, "higher layer"),
    ({"sim.core.a": ("def f():\n    from sim.core.b import g", False),
      "sim.core.b": ("from sim.core.a import f", False)}, "import cycle: sim.core.a -> sim.core.b"),
    ({"sim.core.a": ("from sim.codes import _hidden", False), "sim.codes": ("", False)}, "private name _hidden"),
    ({"sim.core.a": ("from sim.gone import f", False)}, "not a module"),
])
def test_the_check_sees_each_kind_of_problem(sources, expected):
    assert any(expected in p for p in problems(sources)), problems(sources)


def test_a_submodule_imported_from_its_package_is_that_module():
    sources = {"sim.metrics": ("from sim.metrics.registry import R", True),
               "sim.metrics.registry": ("from sim.metrics import inequality", False),
               "sim.metrics.inequality": ("", False)}
    assert problems(sources) == []
