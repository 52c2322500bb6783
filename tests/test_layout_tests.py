"""The layout of the tests: no test module (nor helper) imports a test module or ``conftest``.

Shared builders live in ``tests/helpers/`` and shared fixtures in ``conftest.py`` (which pytest
finds by itself), so each test module can be read, run and moved on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _forbidden(name: str) -> bool:
    parts = name.split(".")
    if parts[0] == "tests":
        parts = parts[1:]
    return bool(parts) and (parts[0].startswith("test_") or parts[0] == "conftest")


def test_modules_import_no_test_module_nor_conftest() -> None:
    found = []
    for path in sorted([*TESTS.glob("*.py"), *TESTS.glob("helpers/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # from .test_x import ... / from . import test_x
                    base = [node.module] if node.module else [a.name for a in node.names]
                    names = [f"tests.{b}" for b in base]
                elif node.module == "tests":  # from tests import test_x
                    names = [f"tests.{a.name}" for a in node.names]
                elif node.module:
                    names = [node.module]
            bad = [n for n in names if _forbidden(n)]
            if bad:
                found += [f"{path.relative_to(TESTS)}:{node.lineno}: {n}" for n in bad]
    assert not found, "imports of test modules or conftest:\n" + "\n".join(found)


def test_the_check_sees_every_import_form() -> None:
    assert _forbidden("tests.test_api") and _forbidden("tests.conftest")
    assert _forbidden("test_share") and not _forbidden("tests.helpers.api")
    assert not _forbidden("tests.helpers")
