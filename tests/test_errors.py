"""One exception hierarchy: every error class is defined in vigia.errors, drawn in its
docstring, and the API maps it to a status in one table."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import vigia
from vigia import errors
from vigia.api.app import STATUS_OF


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(vigia.__path__, "vigia.")]
    # alembic scripts and ``python -m`` entry points run when imported
    return [
        n
        for n in names
        if not n.startswith("vigia.store.migrations.") and not n.endswith(".__main__")
    ]


def test_every_error_class_is_defined_in_vigia_errors() -> None:
    elsewhere = []
    for name in _modules():
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == name
                and name != "vigia.errors"
            ):
                elsewhere.append(f"{name}.{attr}")
    assert elsewhere == []


def test_the_docstring_draws_every_class() -> None:
    doc = errors.__doc__ or ""
    classes = [
        n
        for n, c in vars(errors).items()
        if inspect.isclass(c) and issubclass(c, errors.VigiaError)
    ]
    assert len(classes) > 30
    missing = [n for n in classes if f"── {n} " not in doc and f"    {n}\n" not in doc]
    assert missing == []
    for n in classes:  # drawn under its parent
        parent = vars(errors)[n].__mro__[1].__name__
        if n != "VigiaError" and parent != "VigiaError":
            assert doc.index(f"── {parent} ") < doc.index(f"── {n} "), n


def test_api_statuses_come_from_one_table() -> None:
    mapped = {cls: status for cls, status in STATUS_OF}
    for cls in (errors.AuthError, errors.PermissionDenied, errors.NotFound, errors.Conflict):
        assert cls in mapped
    assert mapped[errors.Gone] == 410 and mapped[errors.ValidationError] == 422
    assert all(issubclass(c, errors.VigiaError) for c in mapped)
    drawn = {
        line.split("── ")[1].split()[0]: line.rstrip()
        for line in (errors.__doc__ or "").splitlines()
        if "── " in line
    }
    for cls, status in STATUS_OF:  # where the drawing gives a status, it is the table's
        if drawn[cls.__name__].endswith(")") and drawn[cls.__name__][-4:-1].isdigit():
            assert drawn[cls.__name__].endswith(f"({status})"), cls.__name__
