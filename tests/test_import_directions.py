"""The parts import one way: formats import no runtime, the gate and the hub meet only over the wire.

Read statically (no part is imported here): every `import` and `from ... import`, and every
dotted name written as a string (what importlib and the command root's lazy table are handed).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# part -> the top-level parts it must never import.
NEVER = {
    "protocols": {"agent", "server", "hardware", "demo", "checkpoint"},
    "hardware": {"agent", "server", "demo"},
    "agent": {"server", "demo"},
    "server": {"agent", "hardware", "demo"},
}
# "pkg.module" or "pkg.module:attribute", as handed to importlib.import_module or a lazy command table.
DOTTED = re.compile(r"[a-z_]+(\.[a-z_0-9]+)+(:[a-z_0-9]+)?")


def imported_names(source: str) -> list[tuple[int, str]]:
    """(line, dotted name) for every absolute import and every dotted-name string in a module."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
            names.append((node.lineno, node.value))
    return names


def crossings(part: str) -> list[str]:
    """Every place in a part that names a part it must not import."""
    found = []
    for path in sorted((REPO / part).rglob("*.py")):
        for line, name in imported_names(path.read_text(encoding="utf-8")):
            if name.split(":")[0].split(".")[0] in NEVER[part]:
                found.append(f"{path.relative_to(REPO)}:{line} -> {name}")
    return found


@pytest.mark.parametrize("part", sorted(NEVER))
def test_a_part_imports_nothing_across_its_lines(part: str) -> None:
    assert crossings(part) == []


def test_the_reader_sees_imports_and_dotted_strings_alike() -> None:
    source = 'import agent.decode\nfrom server.store import HubStore\nx = importlib.import_module("demo.cli")\n' \
             'y = {"hub": "server.cli:hub"}\nfrom . import near\nz = "not a module name"\n'
    assert [name for _, name in imported_names(source)] == ["agent.decode", "server.store", "demo.cli", "server.cli:hub"]
