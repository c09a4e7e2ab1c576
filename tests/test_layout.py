"""The package's shape, read from its source: floors, one-way imports, no private names across
modules, classes at module level. A newcomer can then name the one place a thing goes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "movielens_fastai"

# Bottom up. A module may import modules of lower floors, and modules of its own subpackage;
# nothing else of ours. serving stands on models and data (and the training that builds them),
# never on the protocols that score models or the reports that print them.
FLOORS = {
    "core": 0,
    "lesson": 1,
    "data": 1,
    "training": 2,
    "models": 3,
    "evaluation": 4,
    "serving": 4,
    "reporting": 5,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names imported from it) for every import statement, function bodies too."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found.append((base, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def our_targets(path: Path, known: set[str]) -> set[str]:
    """The modules of ours that ``path`` imports (``from pkg import mod`` counts as mod)."""
    targets = set()
    for base, names in imports_of(path):
        for candidate in [base] + [f"{base}.{n}" for n in names]:
            if candidate in known:
                targets.add(candidate)
    return targets - {module_name(path)}


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_sits_on_a_floor():
    assert {subpackage(m) for m in modules()} - {""} == set(FLOORS)


def test_imports_point_down():
    known = set(modules())
    wrong = []
    for module, path in modules().items():
        if module == "movielens_fastai":
            continue   # the notebooks' face stands above everything
        here = subpackage(module)
        for target in our_targets(path, known):
            there = subpackage(target)
            if target == "movielens_fastai":
                wrong.append(f"{module} imports the package's face")
            elif there != here and FLOORS[there] >= FLOORS[here]:
                wrong.append(f"{module} (floor {FLOORS[here]}) imports {target} (floor {FLOORS[there]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_circle():
    known = set(modules())
    graph = {m: our_targets(p, known) - {"movielens_fastai"} for m, p in modules().items()}
    state, stack, circles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1 and n not in m:   # a package importing its own module is no circle
                circles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not circles, circles


def test_no_private_name_crosses_modules():
    known = set(modules())
    crossings = [f"{module} takes {base}.{name}"
                 for module, path in modules().items()
                 for base, names in imports_of(path) if base in known and base != module
                 for name in names if name.startswith("_")]
    assert not crossings, crossings


def test_classes_are_defined_at_module_level():
    nested = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                nested += [f"{module}.{node.name} defines {inner.name}"
                           for inner in ast.walk(node) if isinstance(inner, ast.ClassDef)]
    assert not nested, nested


@pytest.mark.parametrize("bad, message", [
    ("from ...evaluation.folds import run_benchmark\n", "imports movielens_fastai.evaluation.folds"),
    ("from ...core import _to_json\n", "takes movielens_fastai.core._to_json"),
])
def test_the_checks_catch_a_wrong_import(tmp_path, monkeypatch, bad, message):
    """A model that imports a protocol, or a private name: the checks above must say so."""
    target = PACKAGE / "models" / "rating" / "baselines.py"
    original = target.read_text()
    fake = tmp_path / "baselines.py"
    fake.write_text(bad + original)
    real_read = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: real_read(fake if self == target else self,
                                                                           *a, **k))
    with pytest.raises(AssertionError, match=message):
        test_imports_point_down()
        test_no_private_name_crosses_modules()
