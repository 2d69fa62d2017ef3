"""The package layout: imports run one way, down the flow, and every module says what it is for.

Layers from the top: the package root and CLI, tools (train, test, benchmark, ...), zoo
(architectures), compression (torch), deploy (codegen, builds, devices), core (IntModel,
artifact, planner), then sparse and data, then the leaf modules errors and version. A module
may import its own subpackage and any layer below its own, never one above it nor a sibling on
the same level.
"""
import ast
from pathlib import Path

import pytest

import dmc

PACKAGE = Path(dmc.__file__).parent
LAYERS = {"__main__": 8, "": 7, "cli": 7, "tools": 6, "zoo": 5, "compression": 4, "deploy": 3, "core": 2, "sparse": 1,
          "data": 1, "errors": 0, "version": 0, "progress": 0}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _unit(parts: tuple) -> str:
    """The layer key of a module given its dotted parts below ``dmc``."""
    if not parts or parts == ("__init__",):
        return ""
    return parts[0]


def _imports(path: Path):
    """(line, dotted target below dmc) of every dmc import in a file, lazy ones included."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    pkg = rel[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                target = base + tuple(filter(None, (node.module or "").split(".")))
                names = [target + (a.name,) if not node.module else target for a in node.names]
            elif (node.module or "").split(".")[0] == "dmc":
                names = [tuple(node.module.split(".")[1:])]
            else:
                continue
            for t in names:
                yield node.lineno, t
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "dmc":
                    yield node.lineno, tuple(a.name.split(".")[1:])


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_downward(path):
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    own = _unit(rel)
    assert own in LAYERS, f"{path}: subpackage '{own}' has no place in the layer list of this test"
    bad = []
    for line, target in _imports(path):
        other = _unit(target)
        if other == own or other not in LAYERS and not target:
            continue
        if other not in LAYERS:
            other = target[0]
        if LAYERS.get(other, 99) >= LAYERS[own]:
            bad.append(f"line {line}: {'.'.join(('dmc',) + target)} (layer {other!r}) from layer {own!r}")
    assert not bad, f"{path.relative_to(PACKAGE)} imports upward or sideways:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_what_it_is_for(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.split("\n")[0].split()) >= 3, f"{path}: the first docstring line must say what the module is for"


def test_no_flat_modules_beyond_the_top():
    """Only the entry points and the leaf modules live at the top of the package."""
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "__main__.py", "cli.py", "errors.py",
                                                          "progress.py", "version.py"]


def _module_name(path: Path) -> tuple:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def test_no_import_cycles():
    """No module imports one that (directly or through others) imports it back, lazy imports
    included: within a subpackage too, e.g. the artifact format never imports the interpreter."""
    known = {_module_name(p): p for p in _modules()}
    graph = {}
    for name, path in known.items():
        deps = set()
        for _, t in _imports(path):
            while t and t not in known:
                t = t[:-1]          # `from .x import name` names a module or something in one
            if t and t != name and not (name == () or t == ()):
                deps.add(t)
        graph[name] = deps
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import cycle: " + " -> ".join(".".join(("dmc",) + c) for c in cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def test_the_check_sees_an_upward_import(tmp_path):
    """The walker finds relative and absolute imports (a check that cannot fail is no check)."""
    f = PACKAGE / "core" / "intmodel.py"
    found = {t for _, t in _imports(f)}
    assert ("core", "artifact") in found and ("errors",) in found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_resolves(path):
    """Lazy imports inside functions are only run when called: check that each names a real
    module (or a name defined in one), so a moved module cannot leave a dead import behind."""
    import importlib
    bad = []
    for line, target in _imports(path):
        dotted = ".".join(("dmc",) + target)
        try:
            importlib.import_module(dotted)
        except ModuleNotFoundError:
            parent, _, name = dotted.rpartition(".")
            try:
                if not hasattr(importlib.import_module(parent), name):
                    bad.append(f"line {line}: {dotted}")
            except ModuleNotFoundError:
                bad.append(f"line {line}: {dotted}")
    assert not bad, f"{path.relative_to(PACKAGE)} imports what does not exist:\n" + "\n".join(bad)
