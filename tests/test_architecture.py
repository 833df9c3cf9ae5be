"""The shape of the code: no import cycle in the core, the core never imports a plugin, short
functions (issue 19).

The import graph is read from the source (AST), so it sees every import a module can make:
module-level and inside functions (a cycle through a function-level import is still a cycle:
the two modules need each other). Imports under ``if TYPE_CHECKING:`` never run and do not
count; neither do a package ``__init__``'s PEP 562 ``__getattr__`` re-exports (the lazy
facade ``neurofacedis.analyze``), which every submodule sits below.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "neurofacedis"
PLUGINS = ROOT / "plugins"
MAX_LINES = 100

#: Functions over MAX_LINES lines today, each with why it is still long. Issue 19's next
#: phase (the runner package, the studies package) empties this list; shrink, never grow it.
LONG_FUNCTIONS: dict[str, str] = {}

#: Import cycles found today, each with why it is still there; the next phase empties it.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, *, package_init: bool) -> list[tuple[str, list[str], int]]:
    """(module, imported names, level) of every import that can run."""
    found: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if package_init and isinstance(child, ast.FunctionDef) and \
                    child.name == "__getattr__" and node is tree:
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name, [], 0) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.append((child.module or "", [a.name for a in child.names], child.level))
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the core modules it imports (module level and inside functions)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_init = path.name == "__init__.py"
        package = name if is_init else name.rpartition(".")[0]
        edges: set[str] = set()
        for module, names, level in _imports(ast.parse(path.read_text()), package_init=is_init):
            if level:
                base = package.split(".")
                base = base[: len(base) - (level - 1)]
                module = ".".join([*base, module] if module else base)
            for target in ([f"{module}.{n}" for n in names] or []) + [module]:
                if target in modules and target != name:
                    edges.add(target)
                    if target != module:
                        break  # `from pkg import submodule` names the submodule only
            else:
                continue
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path (first node repeated at the end), or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = dfs(node)
            if cycle:
                return cycle
    return []


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    # imported inside open_executor
    assert "neurofacedis.runner.dask" in graph["neurofacedis.runner.pipeline"]
    assert "neurofacedis.runner.jobs" in graph["neurofacedis.runner.dask"]


def test_find_cycle_reports_a_function_level_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def _without_known_cycles(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph less the edges inside each known cycle's modules."""
    return {a: {b for b in bs if not any({a, b} <= c for c in KNOWN_CYCLES)}
            for a, bs in graph.items()}


def test_no_import_cycle_in_the_core():
    cycle = find_cycle(_without_known_cycles(import_graph()))
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_every_known_cycle_is_still_a_cycle():
    graph = import_graph()
    gone = [sorted(c) for c in KNOWN_CYCLES
            if not find_cycle({a: graph[a] & c for a in c})]
    assert not gone, f"no longer a cycle: remove from KNOWN_CYCLES: {gone}"


def test_the_core_never_imports_a_plugin():
    plugins = {p.name for p in PLUGINS.iterdir() if (p / "__init__.py").is_file()}
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for module, _, level in _imports(ast.parse(path.read_text()), package_init=False):
            top = module.partition(".")[0]
            if not level and (top in plugins or top.startswith("nfd_")):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not offenders, offenders


def long_functions() -> dict[str, int]:
    """``file::Class.function`` -> lines, for every function over MAX_LINES (tests excluded)."""
    out = {}
    files = [*CORE.rglob("*.py"), *(p for p in PLUGINS.rglob("*.py") if "tests" not in p.parts)]
    for path in sorted(files):
        tree = ast.parse(path.read_text())

        def visit(node: ast.AST, prefix: str, where: Path = path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = child.end_lineno - child.lineno + 1
                    if n > MAX_LINES:
                        out[f"{where.relative_to(ROOT).as_posix()}::{prefix}{child.name}"] = n
                    visit(child, f"{prefix}{child.name}.")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
                else:
                    visit(child, prefix)

        visit(tree, "")
    return out


def test_no_function_longer_than_100_lines():
    found = long_functions()
    new = {k: v for k, v in found.items() if k not in LONG_FUNCTIONS}
    assert not new, f"functions over {MAX_LINES} lines (split them): {new}"


def test_the_allow_list_only_holds_todays_offenders():
    found = long_functions()
    fixed = sorted(set(LONG_FUNCTIONS) - set(found))
    assert not fixed, f"no longer over {MAX_LINES} lines: remove from LONG_FUNCTIONS: {fixed}"
