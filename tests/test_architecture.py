"""Structural rules of the package, read from the source with ``ast`` (nothing is imported).

Layers: a module may import its own package or a package of an earlier group, never a later group and
never a sibling in its own group; project imports sit at module top; no module grows past a size a
reader can hold. Each test lists every breach it finds, so one run shows the whole picture.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "hmu_demo"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
MAX_LINES = 450

# Layer groups, earliest first. A top-level module of hmu_demo not named here is a thin CLI (group 9).
GROUPS: dict[str, int] = {
    "hmu_demo": 0, "hmu_demo.config": 0, "hmu_demo.atomic": 0, "hmu_demo.cli": 0, "hmu_demo.prompt": 0,
    "hmu_demo.plugins": 0,
    "hmu_demo.motion": 1,
    "hmu_demo.data": 2,
    "hmu_demo.render": 3,
    "hmu_demo.models": 4,
    "hmu_demo.unlearning": 5,
    "hmu_demo.pipelines": 6,
    "hmu_demo.attack": 7,
    "hmu_demo.eval": 8, "hmu_demo.train": 8,
    "hmu_demo.ui": 9, "hmu_demo.generate": 9, "hmu_demo.unlearn": 9,
}
CLI_GROUP = 9


@dataclass(frozen=True)
class Source:
    """One module of the package: its dotted name, file and parsed tree."""

    name: str
    path: Path
    tree: ast.Module

    @property
    def where(self) -> str:
        return str(self.path.relative_to(ROOT.parent))

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


@functools.cache
def sources() -> tuple[Source, ...]:
    """Every module of the package, parsed once per session."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append(Source(".".join(parts), path, ast.parse(path.read_text(encoding="utf-8"), str(path))))
    return tuple(found)


def component(module: str) -> str:
    """The unit a layer group is given to: hmu_demo itself, a top-level module or a top-level package."""
    return ".".join(module.split(".")[:2])


def group_of(module: str) -> int | None:
    """The layer group of a project module; None for a top-level package not yet placed in GROUPS."""
    unit = component(module)
    if unit in GROUPS:
        return GROUPS[unit]
    if (ROOT / unit.split(".")[1]).is_dir():
        return None
    return CLI_GROUP


def project_imports(source: Source, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The hmu_demo modules one import statement reaches (absolute and relative), resolved to names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE]
    if node.level:
        base = source.package.split(".")
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if module.split(".")[0] != PACKAGE:
        return []
    targets = []
    for alias in node.names:  # ``from hmu_demo import eval`` reaches hmu_demo.eval, not hmu_demo
        sub = f"{module}.{alias.name}"
        relative = Path(*sub.split(".")[1:])
        is_module = (ROOT / relative).is_dir() or (ROOT / relative).with_suffix(".py").is_file()
        targets.append(sub if alias.name != "*" and is_module else module)
    return list(dict.fromkeys(targets))


def imports_in(source: Source) -> list[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every project import of a module, wherever it sits (functions, TYPE_CHECKING and try blocks too)."""
    return [(node, target) for node in ast.walk(source.tree) if isinstance(node, (ast.Import, ast.ImportFrom))
            for target in project_imports(source, node)]


def test_imports_only_go_to_earlier_layers() -> None:
    breaches, unplaced = [], set()
    for source in sources():
        own_group = group_of(source.name)
        if own_group is None:
            unplaced.add(component(source.name))
            continue
        for node, target in imports_in(source):
            if component(target) == component(source.name):
                continue
            group = group_of(target)
            if group is None:
                unplaced.add(component(target))
            elif group > own_group:
                breaches.append(f"{source.where}:{node.lineno} {source.name} (group {own_group}) imports "
                                f"{target} (later group {group})")
            elif group == own_group:
                breaches.append(f"{source.where}:{node.lineno} {source.name} (group {own_group}) imports "
                                f"{target} (a sibling in the same group)")
    problems = [f"package {unit} has no layer group: place it in GROUPS in tests/test_architecture.py "
                f"(and in the layer list of the docs)" for unit in sorted(unplaced)]
    if breaches:
        problems += [f"{len(breaches)} import(s) against the layer order:", *breaches]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def nested_imports(source: Source) -> list[str]:
    """Project imports inside a function or class body (module-level if/try blocks are fine)."""
    found = []

    def visit(node: ast.AST, scope: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and scope is not None:
                for target in project_imports(source, child):
                    found.append(f"{source.where}:{child.lineno} in {scope}: {target}")
            inner = scope
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = f"{scope}.{child.name}" if scope else child.name
            elif isinstance(child, ast.Lambda):
                inner = scope or "<lambda>"
            visit(child, inner)

    visit(source.tree, None)
    return found


def test_project_imports_are_at_module_top() -> None:
    found = [line for source in sources() for line in nested_imports(source)]
    if found:
        pytest.fail(f"{len(found)} hmu_demo import(s) inside a function or class body (move them to the module "
                    f"top; only ``if TYPE_CHECKING:`` may hold them back):\n" + "\n".join(found), pytrace=False)


def test_no_module_over_the_size_limit() -> None:
    sizes = {source.where: len(source.path.read_text(encoding="utf-8").splitlines()) for source in sources()}
    over = [f"{where}: {lines} lines" for where, lines in sorted(sizes.items(), key=lambda kv: -kv[1])
            if lines > MAX_LINES]
    if over:
        pytest.fail(f"{len(over)} module(s) over {MAX_LINES} lines (split them by job):\n" + "\n".join(over),
                    pytrace=False)
