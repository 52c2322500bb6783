"""Frames to the map, for the analyst's workstation (staff only; every read audited).

``snapshot`` is the frame as a JPEG; ``ortho`` the frame orthorectified through the sensor
model and the sortie's terrain (a GeoTIFF with its UTM CRS, :mod:`vigia.video.ortho`).
``POST .../mosaic`` orthorectifies every k-th frame of a span onto one Cloud-Optimised GeoTIFF
(at most :data:`MAX_MOSAIC_FRAMES` frames, :data:`DEFAULT_MOSAIC_FRAMES` when no step is
given), kept beside the sortie's rendition with a Web-Mercator PNG and its bounds for the
map's image overlay (``mosaic.png``, ``mosaic.json``).
"""

from __future__ import annotations

import io
import json
import math
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import numpy as np
from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vigia.api.deps import Staff, State
from vigia.api.routes_sorties import SortieIdPath as SortiePath
from vigia.api.routes_sorties import _audit, sortie_of
from vigia.api.schemas import COMMON_ERRORS, error_responses
from vigia.errors import Conflict, GeoError, NotFound, ValidationError
from vigia.outputs import replace_atomically
from vigia.times import iso_time, user_time_us
from vigia.video.ortho import (
    MAX_MOSAIC_PX,
    Terrain,
    mosaic,
    mosaic_grid,
    ortho_geotiff_bytes,
    orthorectify,
    overlay_png,
)
from vigia.video.sortie import SortieVideo

__all__ = ["DEFAULT_MOSAIC_FRAMES", "MAX_MOSAIC_FRAMES", "router"]

router = APIRouter(prefix="/api", tags=["imagery"], responses=error_responses(*COMMON_ERRORS))

#: The most frames one mosaic may take (a larger span needs a larger step).
MAX_MOSAIC_FRAMES: Final = 600
#: Frames a mosaic takes when no step is given.
DEFAULT_MOSAIC_FRAMES: Final = 60
#: A default mosaic GSD is coarsened to keep its canvas within this many pixels.
DEFAULT_MOSAIC_PX: Final = 64_000_000
MOSAIC_COG, MOSAIC_PNG, MOSAIC_JSON = "mosaic.tif", "mosaic.png", "mosaic.json"
_BUILDING: set[str] = set()
_BUILDING_LOCK = threading.Lock()


async def _sortie(state: Any, sortie_id: str) -> SortieVideo:
    """The sortie, with its rendition made (in a worker thread: it may take a while once)."""

    def load() -> SortieVideo:
        sv = sortie_of(state, sortie_id)
        sv.ensure_rendition()
        return sv

    return await run_in_threadpool(load)


def _index(sv: SortieVideo, index: int | None, time: str | None, media_time_s: float | None) -> int:
    """The frame asked for by exactly one of its index, its time and its media time."""
    if sum(v is not None for v in (index, time, media_time_s)) != 1:
        raise ValidationError("give one of index, time and media_time_s")
    if time is not None:
        return sv.frame_at(time_us=user_time_us(time))
    if media_time_s is not None:
        return sv.frame_at_media_time(media_time_s)
    return sv.frame_at(index=index)


def _terrain(sv: SortieVideo) -> Terrain:
    dem = sv.dem
    return dem if dem is not None else sv.terrain


def _geo(exc: GeoError) -> ValidationError:
    return ValidationError(exc.message)


@router.get(
    "/sorties/{sortie_id}/snapshot",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(403, 404, 410, 422)},
)
async def snapshot(
    sortie_id: SortiePath,
    who: Staff,
    state: State,
    index: Annotated[int | None, Query(ge=0, description="frame index")] = None,
    time: Annotated[str | None, Query(max_length=64, description="ISO 8601 time")] = None,
    media_time_s: Annotated[float | None, Query(ge=0, description="time in the video (s)")] = None,
) -> Response:
    """The frame as a JPEG (no metadata), as decoded from the sortie's video."""
    sv = await _sortie(state, sortie_id)

    def run() -> tuple[int, bytes]:
        i = _index(sv, index, time, media_time_s)
        buf = io.BytesIO()
        Image.fromarray(sv.decode_frame(i), "RGB").save(buf, format="JPEG", quality=90)
        return i, buf.getvalue()

    i, data = await run_in_threadpool(run)
    await _audit(state, who.username, "read", "sortie_snapshot", sortie_id, index=i)
    return Response(data, media_type="image/jpeg")


@router.get(
    "/sorties/{sortie_id}/ortho",
    response_class=Response,
    responses={200: {"content": {"image/tiff": {}}}, **error_responses(403, 404, 410, 422)},
)
async def ortho(
    sortie_id: SortiePath,
    who: Staff,
    state: State,
    index: Annotated[int | None, Query(ge=0, description="frame index")] = None,
    time: Annotated[str | None, Query(max_length=64, description="ISO 8601 time")] = None,
    media_time_s: Annotated[float | None, Query(ge=0, description="time in the video (s)")] = None,
    gsd_m: Annotated[
        float | None, Query(gt=0.05, le=100.0, description="pixel size (m); default: the frame's")
    ] = None,
) -> Response:
    """The frame orthorectified onto the sortie's terrain: an RGBA GeoTIFF (alpha 0 outside the
    frame), north-up in the UTM zone of the frame centre."""
    sv = await _sortie(state, sortie_id)

    def run() -> tuple[int, bytes]:
        i = _index(sv, index, time, media_time_s)
        try:
            o = orthorectify(sv.decode_frame(i), sv.pose(i), terrain=_terrain(sv), gsd_m=gsd_m)
        except GeoError as exc:
            raise _geo(exc) from exc
        return i, ortho_geotiff_bytes(o)

    i, data = await run_in_threadpool(run)
    await _audit(state, who.username, "read", "sortie_ortho", sortie_id, index=i)
    return Response(
        data,
        media_type="image/tiff",
        headers={"Content-Disposition": f'attachment; filename="frame-{i}.tif"'},
    )


class MosaicIn(BaseModel):
    """A span of the sortie (ISO 8601 times), every ``step``-th frame of it, at ``gsd_m``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", max_length=64, description="ISO 8601 start of the span")
    to: str = Field(max_length=64, description="ISO 8601 end of the span")
    step: int | None = Field(
        default=None, ge=1, le=100_000, description="take every step-th frame (default: 60 in all)"
    )
    gsd_m: float | None = Field(
        default=None, gt=0.05, le=100.0, description="pixel size (m); default: the span's median"
    )


def _mosaic_dir(sv: SortieVideo) -> Path:
    return sv.dir


def _build(sv: SortieVideo, body: MosaicIn) -> dict[str, Any]:
    t0, t1 = user_time_us(body.from_), user_time_us(body.to)
    if t1 < t0:
        raise ValidationError("the span ends before it starts")
    i0, i1 = sv.frame_at(time_us=t0), sv.frame_at(time_us=t1)
    n = i1 - i0 + 1
    step = body.step or max(1, math.ceil(n / DEFAULT_MOSAIC_FRAMES))
    picks = list(range(i0, i1 + 1, step))
    if len(picks) > MAX_MOSAIC_FRAMES:
        raise ValidationError(
            f"{len(picks)} frames: a mosaic takes at most {MAX_MOSAIC_FRAMES}; "
            f"give a step of at least {math.ceil(n / MAX_MOSAIC_FRAMES)}"
        )
    terrain = _terrain(sv)
    have = [i for i in picks if int(sv.frames.column("telemetry_row")[i].as_py()) >= 0]
    if not have:
        raise NotFound("no frame of the span has telemetry")
    poses = [sv.pose(i) for i in have]
    gsd = body.gsd_m
    if gsd is None:
        rows = [int(sv.frames.column("telemetry_row")[i].as_py()) for i in have]
        g = np.asarray(sv.footprints["gsd_m"][rows], np.float64)
        g = g[np.isfinite(g)]
        if not g.size:
            raise ValidationError("the span's frames have no ground sample distance: give gsd_m")
        gsd = max(float(np.median(g)), 0.1)
    try:
        grid = mosaic_grid(
            poses,
            terrain=terrain,
            gsd_m=gsd,
            width_px=sv.width_px,
            height_px=sv.height_px,
            max_px=DEFAULT_MOSAIC_PX if body.gsd_m is None else MAX_MOSAIC_PX,
            coarsen=body.gsd_m is None,
        )
        d = _mosaic_dir(sv)
        frames = ((sv.decode_frame(i), p) for i, p in zip(have, poses, strict=True))
        mosaic(frames, d / MOSAIC_COG, gsd_m=grid.gsd_m, terrain=terrain, grid=grid)
    except GeoError as exc:
        raise _geo(exc) from exc
    png, (west, south, east, north) = overlay_png(d / MOSAIC_COG)
    replace_atomically(d / MOSAIC_PNG, lambda tmp: tmp.write_bytes(png))
    meta = {
        "sortie_id": sv.info.sortie_id,
        "from": sv.frame_time(i0),
        "to": sv.frame_time(i1),
        "frames": len(have),
        "step": step,
        "gsd_m": grid.gsd_m,
        "crs": grid.crs,
        "bounds_crs": list(grid.bounds),
        "bounds": {"west": west, "south": south, "east": east, "north": north},
        "leaflet_bounds": [[south, west], [north, east]],
        "built": iso_time(datetime.now(UTC)),
    }
    replace_atomically(d / MOSAIC_JSON, lambda tmp: tmp.write_text(json.dumps(meta)))
    return meta


@router.post(
    "/sorties/{sortie_id}/mosaic",
    response_model=dict[str, Any],
    status_code=201,
    responses=error_responses(403, 404, 409, 410, 422),
)
async def build_mosaic(sortie_id: SortiePath, body: MosaicIn, who: Staff, state: State) -> Response:
    """Build the sortie's mosaic over a span (replacing the one before): its frames, step,
    GSD, CRS and bounds (lat/lon, and as Leaflet's [[south, west], [north, east]])."""
    sv = await _sortie(state, sortie_id)
    with _BUILDING_LOCK:
        if sortie_id in _BUILDING:
            raise Conflict(f"a mosaic of sortie {sortie_id!r} is being built; try again later")
        _BUILDING.add(sortie_id)
    try:
        meta = await run_in_threadpool(_build, sv, body)
    finally:
        with _BUILDING_LOCK:
            _BUILDING.discard(sortie_id)
    await _audit(
        state,
        who.username,
        "create",
        "sortie_mosaic",
        sortie_id,
        frames=meta["frames"],
        step=meta["step"],
        span=[meta["from"], meta["to"]],
    )
    return Response(json.dumps(meta).encode(), status_code=201, media_type="application/json")


async def _mosaic_file(sortie_id: str, state: Any, name: str) -> Path:
    sv = await _sortie(state, sortie_id)
    d = _mosaic_dir(sv)
    if not (d / MOSAIC_JSON).is_file() or not (d / name).is_file():
        raise NotFound(f"sortie {sortie_id!r} has no mosaic yet (POST .../mosaic builds one)")
    return d / name


@router.get(
    "/sorties/{sortie_id}/mosaic",
    response_class=Response,
    responses={200: {"content": {"image/tiff": {}}}, **error_responses(403, 404)},
)
async def get_mosaic(sortie_id: SortiePath, who: Staff, state: State) -> Response:
    """The sortie's mosaic: a Cloud-Optimised GeoTIFF (RGBA, overviews)."""
    path = await _mosaic_file(sortie_id, state, MOSAIC_COG)
    await _audit(state, who.username, "read", "sortie_mosaic", sortie_id, format="cog")
    return FileResponse(
        path, media_type="image/tiff", filename=f"{sortie_id.replace('~', '_')}-mosaic.tif"
    )


@router.get(
    "/sorties/{sortie_id}/mosaic.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **error_responses(403, 404)},
)
async def get_mosaic_png(sortie_id: SortiePath, who: Staff, state: State) -> Response:
    """The mosaic in Web Mercator as a PNG, for the map's image overlay (see mosaic.json)."""
    path = await _mosaic_file(sortie_id, state, MOSAIC_PNG)
    await _audit(state, who.username, "read", "sortie_mosaic", sortie_id, format="png")
    return FileResponse(path, media_type="image/png")


@router.get(
    "/sorties/{sortie_id}/mosaic.json",
    response_model=dict[str, Any],
    responses=error_responses(403, 404),
)
async def get_mosaic_json(sortie_id: SortiePath, who: Staff, state: State) -> Response:
    """What the mosaic is: span, frames, step, GSD, CRS and bounds for ``L.imageOverlay``."""
    path = await _mosaic_file(sortie_id, state, MOSAIC_JSON)
    data = await run_in_threadpool(path.read_bytes)
    await _audit(state, who.username, "read", "sortie_mosaic", sortie_id, format="json")
    return Response(data, media_type="application/json")
