"""The package's shape: each stage imports only the stages before it, and no module imports itself in a cycle.

The graph is read from the source with `ast` (imports inside functions included), so a lazy import that runs
against the data flow fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import motiongpt

PACKAGE = Path(motiongpt.__file__).parent
# Stages in the order of the data flow; a module may import its own stage and the ones before it. Stages on one
# level (eval and export; app and recipe) do not import each other.
LEVELS = [
    ("errors",), ("io", "lazy"), ("training", "sentences"), ("motion",), ("data",), ("tokenizer",), ("llm",),
    ("generation",), ("eval", "export"), ("app", "recipe"), ("commands",), ("cli",), ("__main__", "__init__"),
]
LEVEL = {stage: level for level, stages in enumerate(LEVELS) for stage in stages}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "motiongpt":  # `from motiongpt import training`
                names = [f"motiongpt.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            edges |= {n for n in names if n == "motiongpt" or n.startswith("motiongpt.")}
        graph[module_name(path)] = edges
    return graph


def stage(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_every_stage_imports_only_the_stages_before_it():
    wrong = []
    for module, targets in import_graph().items():
        for target in targets:
            a, b = stage(module), stage(target)
            if a == b or target == "motiongpt.__version__":  # the package's own metadata
                continue
            if LEVEL[b] >= LEVEL[a]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_nothing_imports_a_command_module():
    importers = [m for m, targets in import_graph().items() for t in targets
                 if t.startswith("motiongpt.commands") and not m.startswith("motiongpt.commands") and m != "motiongpt.cli"]
    assert not importers, importers


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in graph.get(module, ()):
            if target not in graph or target == module:
                continue
            if state.get(target) == 1:
                return path + [module, target]
            if target not in state and (cycle := visit(target, path + [module])):
                return cycle
        state[module] = 2
        return None

    for module in graph:
        if module not in state:
            cycle = visit(module, [])
            assert cycle is None, " -> ".join(cycle)


def test_the_public_api_of_each_stage_resolves():
    import importlib

    for package in ("motiongpt", "motiongpt.motion", "motiongpt.data", "motiongpt.tokenizer", "motiongpt.llm",
                    "motiongpt.generation", "motiongpt.eval", "motiongpt.export", "motiongpt.app"):
        module = importlib.import_module(package)
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"
