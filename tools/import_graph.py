"""The structure of mpesa_lab drawn from its imports: rooms, floors, arrows back up, circles.

    python tools/import_graph.py            # a summary (the numbers docs/architecture.md quotes)
    python tools/import_graph.py --json     # the same, machine-readable
    python tools/import_graph.py --dot      # the room graph for Graphviz

Every ``import`` and ``from ... import`` in the package is read with ``ast`` (but those under
``if TYPE_CHECKING:``, which only annotations use), at module level and inside functions alike (an import inside a function is still an arrow; hiding it there is how
cycles used to survive). A *room* is a sub-package (``listener``) or a top-level module
(``lab``). The floors are those of ../shared/DESIGN.md as this project builds them
(:data:`FLOORS`): an arrow from a room to a room on a higher floor, or to another room on the
same floor, is an arrow *back up*. Circles are strongly connected components of the module graph
and of the room graph.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "mpesa_lab"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# Floor of each room, from the ground up (DESIGN.md's floors; rooms of one floor are independent).
FLOORS: dict[str, float] = {
    # 1: the ground floor, itself in steps (the root errors and lazy exports at the bottom, then
    # public facts, then the catalogue, then settings and the background server; the templates'
    # environment depends on nothing of the package, so the report (floor 3) can use it too)
    "__init__": 1.0,
    "errors": 1.0,
    "_lazy": 1.0,
    "_exports": 1.0,
    "data": 1.0,
    "_templates": 1.0,
    "constants": 1.1,
    "clock": 1.1,
    "secret": 1.1,
    "_startup": 1.1,
    "paths": 1.2,
    "password": 1.2,
    "codes": 1.3,
    "config": 1.4,
    "_uvicorn_guard": 1.4,
    "background": 1.5,
    # 2: both sides' engines and the store
    "daraja": 2,
    "emulator": 2,
    "store": 2,
    # 3: HTTP in front of the store; frames from any source
    "listener": 3,
    "analytics": 3,
    "callback_check": 3,  # plays Daraja toward a merchant's endpoint (check-callback)
    # 4: the façade and its rich display
    "display": 4.0,
    "lab": 4.1,
    # 5: the outer rooms
    "widgets": 5,
    "course": 5,
    "workshop": 5,
    "notebook_server": 5,
    "demo": 5,
    "checker": 5,
    "doctor": 5,
    # 6: the command line
    "cli": 6,
    "__main__": 6,
}


@dataclass
class Graph:
    modules: dict[str, int] = field(default_factory=dict)  # module -> lines
    edges: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    deferred: int = 0  # arrows first drawn by an import inside a function
    imports_in_functions: int = 0  # import statements inside functions (any package)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def read_graph(root: Path = ROOT) -> Graph:
    graph = Graph()
    files = sorted(root.rglob("*.py"))
    names = {module_name(p, root) for p in files}
    for path in files:
        name = module_name(path, root)
        source = path.read_text(encoding="utf-8")
        graph.modules[name] = source.count("\n") + 1
        tree = ast.parse(source)
        # `if TYPE_CHECKING:` imports are annotations, not arrows (as import-linter reads them).
        type_only = {
            id(inner)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for stmt in block.body
            for inner in ast.walk(stmt)
        }
        function_nodes = {
            id(inner)
            for fn in ast.walk(tree)
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for inner in ast.walk(fn)
        }
        graph.imports_in_functions += sum(
            1 for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) in function_nodes
        )
        for node in ast.walk(tree):
            targets: list[str] = []
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node)
                # `from pkg import sub` (a submodule) is an arrow to pkg.sub; `from pkg import Name`
                # is an arrow to pkg's __init__, which holds Name.
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base for alias in node.names]
            for target in targets:
                while target and target not in names:
                    target = target.rpartition(".")[0]
                if target and target.startswith(PACKAGE) and target != name and target != PACKAGE:
                    if target not in graph.edges[name]:
                        graph.edges[name].add(target)
                        graph.deferred += id(node) in function_nodes
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; only components with more than one node (a circle) are returned."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def summarize(graph: Graph) -> dict[str, object]:
    room_edges: dict[str, set[str]] = defaultdict(set)
    back_up: list[str] = []
    for source, targets in graph.edges.items():
        for target in targets:
            a, b = room(source), room(target)
            if a == b:
                continue
            room_edges[a].add(b)
            fa, fb = FLOORS.get(a, 99), FLOORS.get(b, 99)
            if fb >= fa and a != "__init__":
                back_up.append(f"{source} -> {target} (floor {fa} -> {fb})")
    rooms = sorted({room(m) for m in graph.modules})
    largest = sorted(graph.modules.items(), key=lambda kv: -kv[1])[:8]
    return {
        "modules": len(graph.modules),
        "rooms": len(rooms),
        "arrows": sum(len(t) for t in graph.edges.values()),
        "arrows_drawn_only_inside_functions": graph.deferred,
        "import_statements_inside_functions": graph.imports_in_functions,
        "arrows_back_up": sorted(back_up),
        "module_circles": strongly_connected(sorted(graph.modules), graph.edges),
        "room_circles": strongly_connected(rooms, room_edges),
        "largest_modules": [f"{name} {lines}" for name, lines in largest],
        "unplaced_rooms": [r for r in rooms if r not in FLOORS],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--dot", action="store_true")
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the mpesa_lab package folder to read (e.g. another checkout's, for a before/after)",
    )
    args = parser.parse_args(argv)
    graph = read_graph(args.root.resolve())
    summary = summarize(graph)
    if args.json:
        print(json.dumps(summary, indent=2))
    elif args.dot:
        print("digraph mpesa_lab {")
        pairs = {(room(s), room(t)) for s, ts in graph.edges.items() for t in ts if room(s) != room(t)}
        for a, b in sorted(pairs):
            print(f'  "{a}" -> "{b}";')
        print("}")
    else:
        for key, value in summary.items():
            if isinstance(value, list):
                print(f"{key}: {len(value)}")
                for item in value[:40]:
                    print(f"  {item}")
            else:
                print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
