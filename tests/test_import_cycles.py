"""No import cycles between the package's modules (issue 22).

The module graph is read with ``ast`` (nothing is imported): an edge for every ``import`` of another
wav2vec_hf module, ``from package import name`` counting as an import of the package. Imports under
``if TYPE_CHECKING:`` are not edges (never run).

* Module-level imports: no cycle at all (a cycle there breaks depending on which module is imported first).
* Imports inside functions too: none of the cycles issue 22 found (tasks / units_bert, demo /
  demo_steps, hub / cards) come back; the remaining lazy ones are listed here, each a deliberate
  late import.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "wav2vec_hf"
LAZY_CYCLES = [
    {
        "wav2vec_hf.cli",
        "wav2vec_hf.cli_help",
    },  # cli_help builds the live parser to compare with the stored help
]  # (pretraining.arguments <-> pretraining_state is gone: the recipe schema has its own module)


def _module_name(path: Path) -> str:
    name = "wav2vec_hf." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _strip_type_checking(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
        ):
            node.body = []


def _imports(nodes, modules: set[str]) -> set[str]:
    found = set()
    for node in nodes:
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found.update(name for name in names if name in modules)
    return found


def _graph(module_level_only: bool) -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        _strip_type_checking(tree)
        if module_level_only:
            nodes = [
                n
                for top in tree.body
                if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                for n in ast.walk(top)
            ]
        else:
            nodes = list(ast.walk(tree))
        graph[name] = _imports(nodes, modules) - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_cycle_among_module_level_imports():
    assert _cycles(_graph(module_level_only=True)) == []


def test_no_new_cycle_through_late_imports():
    cycles = _cycles(_graph(module_level_only=False))
    assert sorted(map(sorted, cycles)) == sorted(map(sorted, LAZY_CYCLES))


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
