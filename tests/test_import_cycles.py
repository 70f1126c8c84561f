"""No import cycle among ember's layers, models, callbacks and symbolic (DESIGN.md: shared
helpers live below both). The import graph is read from the source with ``ast``, imports
inside functions included (they are how cycles hide), so the test sees what a reader sees."""
import ast
import os

import ember

ROOT = os.path.dirname(ember.__file__)
GUARDED = ("ember.layers", "ember.models", "ember.callbacks", "ember.symbolic")


def _modules():
    mods = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                mods[".".join(["ember"] + rel)] = (os.path.join(dirpath, f), f == "__init__.py")
    return mods


def _targets(name, is_pkg, node, mods):
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = name.split(".")[: len(name.split(".")) - (0 if is_pkg else 1)]
        base = base[: len(base) - (node.level - 1)]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    out = []
    for a in node.names:
        sub = f"{mod}.{a.name}"
        if sub == "ember._C":  # the compiled extension: a leaf
            continue
        out.append(sub if sub in mods else mod)
    return out


def import_graph():
    """{module: set of ember modules it imports}, from every import statement anywhere."""
    mods = _modules()
    graph = {}
    for name, (path, is_pkg) in mods.items():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        graph[name] = {t for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                       for t in _targets(name, is_pkg, node, mods) if t in mods and t != name}
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]; counter[0] += 1; stack.append(root); on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1; stack.append(w); on.add(w)
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
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _unit(module):
    for g in GUARDED:
        if module == g or module.startswith(g + "."):
            return g
    return module


def test_graph_reader_sees_function_level_and_relative_imports():
    g = import_graph()
    assert "ember.symbolic" in g["ember.layers.core"]           # module level, relative
    assert "ember.serialization" in g["ember.layers.recurrent"]
    assert "ember.models.saving" in g["ember.models.model"]      # inside a method
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_cycle_between_layers_models_callbacks_symbolic():
    bad = []
    for comp in cycles(import_graph()):
        units = {_unit(m) for m in comp}
        if len(units & set(GUARDED)) > 1 or (units & set(GUARDED) and len(units) > 1):
            bad.append(comp)
    assert not bad, f"import cycles through layers/models/callbacks/symbolic: {bad}"


LOWER = ("ember.tensor", "ember.autograd", "ember.functional", "ember.ops", "ember.backend", "ember.random")


def test_no_cycle_among_tensor_ops_functional_backend():
    """tensor.py sits below ops/ (ops install themselves into Tensor's operator slot), and
    the backend below both: no cycle through any of them, at module or function level."""
    def one_package(comp):  # helpers of one package importing each other (the emulator's) are its own affair
        return len({m.rsplit(".", 1)[0] for m in comp}) == 1 and not any(m in LOWER for m in comp)

    low = [c for c in cycles(import_graph())
           if any(m == p or m.startswith(p + ".") for m in c for p in LOWER) and not one_package(c)]
    assert not low, f"import cycles through tensor/ops/functional/backend: {low}"
    g = import_graph()
    assert not {m for m in g["ember.tensor"] if m.startswith("ember.ops")}
    assert not {m for m in g["ember.backend"] if not m.startswith("ember.backend")}
