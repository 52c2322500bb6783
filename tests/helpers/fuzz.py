"""Schemathesis over the whole API, operation by operation (the pytest plugin's lazy loader does
not run under this pytest)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings


def fuzz_api(
    app: Any,
    headers: Sequence[dict[str, str]],
    checks: Sequence[Callable[..., Any]],
    *,
    examples: int,
    min_operations: int = 19,
) -> list[str]:
    """Send ``examples`` requests generated from ``/openapi.json`` per operation of ``app``, each
    with every one of ``headers``, through ``checks``; the failures, one line per operation."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= min_operations
    # Logging out revokes the tokens the other operations are called with: it goes last.
    operations.sort(key=lambda op: op.path == "/api/auth/logout")
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def run(case: Any) -> None:
            for h in headers:
                case.call_and_validate(headers=h, checks=list(checks))

        try:
            run()
        except BaseException as exc:  # collect every operation's failure, then report them all
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures
