"""The house rules, checked on the code's own imports (every import statement, also those inside functions):

- ``tonehost.dsp`` imports nothing else of tonehost; ``tonehost.exports`` imports only itself and dsp; ``realtime``
  sits on top (realtime -> exports -> dsp), and the API map (``tonehost/__init__``) only names things lazily;
- nothing outside ``tonehost.exports.training`` imports training code (torch stays out of the run time);
- no circles between modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGES = {"dsp": "tonehost.dsp", "exports": "tonehost.exports", "realtime": "tonehost.realtime",
            "tonehost": "tonehost"}
RANK = {"tonehost.dsp": 0, "tonehost.exports": 1, "tonehost.realtime": 2}


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, pkg in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            mods[".".join([pkg, *parts])] = path
    return mods


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.module == "tonehost" and [a.name for a in node.names] == ["__version__"]:
                continue  # the version is the one thing the package root owns
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph():
    mods = _modules()
    known = set(mods)
    return {m: _imports(m, p, known) for m, p in mods.items()}


def _layer(module: str) -> str | None:
    for top in RANK:
        if module == top or module.startswith(top + "."):
            return top
    return None


def test_imports_point_one_way():
    wrong = []
    for mod, deps in _graph().items():
        src = _layer(mod)
        if src is None:
            continue
        for dep in deps:
            dst = _layer(dep)
            if dst is not None and RANK[dst] > RANK[src]:
                wrong.append(f"{mod} -> {dep}")
            if dep == "tonehost" and mod != "tonehost":
                wrong.append(f"{mod} -> tonehost (the API map is for users, not for the packages)")
    assert not wrong, "imports that run back up:\n" + "\n".join(sorted(wrong))


def test_training_stays_apart():
    wrong = [f"{mod} -> {dep}" for mod, deps in _graph().items() for dep in deps
             if dep.startswith("tonehost.exports.training") and not mod.startswith("tonehost.exports.training")
             and dep != "tonehost.exports.training.fluidsynth"]
    # the CLI's train-instrument command is the one run-time door into training (an optional extra)
    wrong = [w for w in wrong if not w.startswith("tonehost.realtime.cli.train_instrument ->")]
    assert not wrong, "run-time code importing training code:\n" + "\n".join(wrong)


def test_no_circles():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a package and its own __init__ re-exports are one room, not a circle
            if len(comp) > 1 and not all(c.startswith(min(comp, key=len)) for c in comp):
                cycles.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"circles: {cycles}"
