"""Marks drawn on a sortie's video: create, list, edit, delete (analysts and supervisors).

Each change is one ingest of the catalog (`vigia.app.marks`), run in the threadpool under the
catalog's writers' lock (another writer past a few seconds: 503 with ``Retry-After``); the
store then mirrors the re-scored sites (the same `vigia.api.state.sync_if_newer` as at start),
so the new scores are in the API at once. Every change is audited with the user.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from vigia.api.cache import Principal
from vigia.api.deps import Staff, State
from vigia.api.schemas import COMMON_ERRORS, Text, _In, error_responses
from vigia.api.state import ApiState, sync_if_newer
from vigia.app.marks import MarkView, create_mark, delete_mark, edit_mark, list_marks
from vigia.store import audit
from vigia.video.sortie import open_sortie

router = APIRouter(prefix="/api", tags=["marks"], responses=error_responses(*COMMON_ERRORS))

SortieIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$", description="sortie id")
]
MarkIdPath = Annotated[str, Path(pattern=r"^M[0-9a-f]{16}$", description="mark id")]
#: How long a change of marks waits for another writer of the data directory (s).
WRITER_WAIT_S = 5.0

Box = Annotated[
    list[Annotated[float, Field(allow_inf_nan=False)]],
    Field(min_length=4, max_length=4, description="[x0, y0, x1, y1], pixels of the full frame"),
]
Indicator = Annotated[Text, Field(min_length=1, max_length=64)]
Note = Annotated[Text, Field(max_length=10_000)]


class MarkIn(_In):
    """A box drawn on the frame at ``time`` (ISO 8601 with offset, or the media time in s)."""

    time: Annotated[str, Field(max_length=64)] | Annotated[float, Field(allow_inf_nan=False)]
    box: Box
    indicator: Indicator
    note: Note | None = None


class MarkPatch(_In):
    """What to change in a mark (fields left out stay as they are)."""

    indicator: Indicator | None = None
    note: Note | None = None
    box: Box | None = None


def _changed(state: ApiState) -> None:
    """The store mirrors the catalog's sites again, and caches are told."""
    sync_if_newer(state.store, state.data_dir)
    state.changed()


def _audit(
    state: ApiState,
    who: Principal,
    action: str,
    object_id: str,
    details: dict[str, Any],
    *,
    object_type: str = "mark",
) -> None:
    with state.store.transaction() as s:
        audit(s, who.username, action, object_type, object_id, details)


def _details(m: MarkView) -> dict[str, Any]:
    return {
        "sortie": m.sortie_id,
        "obs_id": m.obs_id,
        "indicator": m.indicator,
        "box": m.box,
        "time": m.time,
        "consent_status": m.consent_status,
        "site_id": m.site_id,
        "p": m.p,
    }


@router.post(
    "/sorties/{sortie_id}/marks",
    status_code=201,
    responses=error_responses(403, 404, 409),
)
def create(sortie_id: SortieIdPath, body: MarkIn, who: Staff, state: State) -> dict[str, Any]:
    """Draw a mark: the box becomes an analyst observation (placed through the sensor model,
    with its chip), fused and scored with the rest; returns the mark with the site it fused
    into and that site's new probability ``p``."""
    mark = create_mark(
        state.catalog,
        sortie_id,
        time=body.time,
        box=body.box,
        indicator=body.indicator,
        note=body.note,
        author=who.username,
        wait_s=WRITER_WAIT_S,
    )
    _changed(state)
    _audit(state, who, "create", mark.mark_id, _details(mark))
    return mark.as_dict()


@router.get("/sorties/{sortie_id}/marks", responses=error_responses(403, 404))
async def index(sortie_id: SortieIdPath, who: Staff, state: State) -> list[dict[str, Any]]:
    """The marks of a sortie, in time order."""

    def read() -> list[dict[str, Any]]:
        open_sortie(state.catalog, sortie_id)  # 404 for an unknown sortie
        marks = list_marks(state.catalog, sortie_id)
        _audit(state, who, "read", sortie_id, {"marks": len(marks)}, object_type="marks")
        return [m.as_dict() for m in marks]

    return await run_in_threadpool(read)


@router.patch("/marks/{mark_id}", responses=error_responses(403, 404, 409))
def edit(mark_id: MarkIdPath, body: MarkPatch, who: Staff, state: State) -> dict[str, Any]:
    """Change a mark's indicator, note or box: its old observation is replaced in one ingest
    and the sites are scored again."""
    before, after = edit_mark(
        state.catalog,
        mark_id,
        indicator=body.indicator,
        note=body.note,
        box=body.box,
        editor=who.username,
        wait_s=WRITER_WAIT_S,
    )
    _changed(state)
    _audit(
        state,
        who,
        "edit",
        mark_id,
        {**_details(after), "before": _details(before)},
    )
    return after.as_dict()


@router.delete(
    "/marks/{mark_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(403, 404, 409),
)
def delete(mark_id: MarkIdPath, who: Staff, state: State) -> Response:
    """Delete a mark: its observation leaves the catalog and the sites are scored again."""
    before = delete_mark(state.catalog, mark_id, wait_s=WRITER_WAIT_S)
    _changed(state)
    _audit(state, who, "delete", mark_id, _details(before))
    return Response(status_code=204)
