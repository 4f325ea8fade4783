"""The package's shape, as docs/design.md draws it: no import cycles between glrm's modules, each layer
importing only the layers before it, and torch kept out of the layers that must not need it.

The graph is read from the source (every `import`, also those inside functions and under TYPE_CHECKING), so a
cycle cannot hide behind a lazy import."""

import ast
from pathlib import Path

import glrm

ROOT = Path(glrm.__file__).parent

# docs/design.md, "The house": a layer may import itself and the layers listed before it, nothing after.
LAYERS = ["errors", "dna", "defaults", "variants", "leftalign", "io", "windows", "models", "resources",
          "scoring", "pipeline", "cli"]
NO_TORCH = {"errors", "dna", "defaults", "variants", "leftalign", "io", "windows"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(("glrm",) + path.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """(module imported, line) for every import statement of the file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out += [(base, node.lineno)] + [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "glrm"


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: {t for t, _ in _imports(m, p) if t in mods and t != m} for m, p in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, found = {}, {}, set(), [], []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, edges = work[-1]
            w = next(edges, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_each_layer_imports_only_the_layers_before_it():
    order = {name: i for i, name in enumerate(LAYERS)}
    wrong = []
    for m, path in _modules().items():
        here = _layer(m)
        if here == "glrm":   # glrm/__init__.py: the version only
            continue
        assert here in order, f"{m}: a new top-level module; place it in LAYERS and in docs/design.md"
        for target, line in _imports(m, path):
            there = _layer(target) if target.startswith("glrm.") else None
            if there is not None and there in order and order[there] > order[here]:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line} {m} imports {target}")
    assert wrong == []


def test_torch_stays_out_of_the_pure_layers():
    wrong = [f"{p.relative_to(ROOT.parent)}:{line}" for m, p in _modules().items() if _layer(m) in NO_TORCH
             for target, line in _imports(m, p) if target.split(".")[0] == "torch"]
    assert wrong == []


def test_nothing_outside_cli_imports_cli():
    wrong = [m for m, deps in _graph().items()
             if _layer(m) != "cli" and any(_layer(d) == "cli" for d in deps)]
    assert wrong == []
