"""The package's layers: each subpackage imports only those below it (README, Layout).

Stages (klv ... store, and the scenario world) never import the application layer
(``vigia.app``), the API or the CLI; the application layer never imports the API or the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vigia

#: Lowest first. A module may import its own subpackage and any listed before it.
ORDER = (
    "errors",
    "times",
    "outputs",
    "klv",
    "mpegts",
    "geo",
    "telemetry",
    "footprints",
    "coverage",
    "exploit",
    "plan",
    "share",
    "store",
    "scenario",
    "video",
    "app",
    "api",
    "cli",
)
ROOT = Path(vigia.__file__).parent


def _layer(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "vigia" and len(parts) > 1 and parts[1] in ORDER:
                found.append((node.lineno, parts[1]))
    return found


def test_every_subpackage_has_a_layer() -> None:
    layers = {_layer(p) for p in ROOT.rglob("*.py")} - {"__init__"}
    assert layers <= set(ORDER), layers - set(ORDER)


def test_each_layer_imports_only_those_below() -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        layer = _layer(path)
        if layer == "__init__":
            continue
        for line, target in _imports(path):
            if ORDER.index(target) > ORDER.index(layer):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports vigia.{target}")
    assert wrong == []
