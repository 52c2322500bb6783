"""Sorties for the analyst's workstation: the list, the playable video, frames, the track and
the geolocation of a click (analysts and supervisors only; partners never see sorties).

The browser's ``<video>`` element cannot send an ``Authorization`` header, so the video is also
served to a short-lived ticket (``POST /api/sorties/{id}/ticket``): an HMAC over the user, the
sortie and the expiry, with a key kept in the data directory (``.video-ticket.key``, 0600).
Opening the video (the ticket) and every frame, track and geolocation read are audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections import OrderedDict
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from vigia.api.cache import Principal
from vigia.api.deps import Staff, State, principal_of
from vigia.api.schemas import COMMON_ERRORS, _In, error_responses
from vigia.api.state import ApiState
from vigia.errors import ValidationError
from vigia.geo.mgrs import to_mgrs
from vigia.store.auditlog import AuditRecord
from vigia.store.files import create_private_file
from vigia.times import user_time_us
from vigia.video import SortieVideo, list_sorties, open_sortie

router = APIRouter(prefix="/api", tags=["sorties"], responses=error_responses(*COMMON_ERRORS))

SortieIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:~-]{0,127}$", description="sortie id")
]
#: How long a video ticket is valid (s).
TICKET_LIFE_S = 600
_TICKET = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]{1,200})\.([0-9a-f]{64})$")
_STAFF_ROLES = ("analyst", "supervisor")
_CACHE: OrderedDict[tuple[str, str], SortieVideo] = OrderedDict()
_CACHE_SIZE = 8


def sortie_of(state: ApiState, sortie_id: str) -> SortieVideo:
    """The sortie (kept open for the next requests: its telemetry and footprints are read
    once)."""
    key = (str(state.data_dir), sortie_id)
    v = _CACHE.get(key)
    if v is not None and FsPath(v.info.path).is_file():
        held = state.catalog.manifest().get("inputs", {})
        if v.info.sha256 in held:
            _CACHE.move_to_end(key)
            return v
    v = open_sortie(state.catalog, sortie_id)
    _CACHE[key] = v
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return v


def _ticket_key(state: ApiState) -> bytes:
    path = state.data_dir / ".video-ticket.key"
    if create_private_file(path) or path.stat().st_size == 0:
        with open(path, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def _sign(key: bytes, username: str, sortie_id: str, expires: int) -> str:
    msg = f"{username}\n{sortie_id}\n{expires}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def make_ticket(state: ApiState, username: str, sortie_id: str, now_s: float) -> tuple[str, int]:
    """A ticket for ``username`` to read the video of ``sortie_id``, and its expiry (s)."""
    expires = int(now_s) + TICKET_LIFE_S
    name = base64.urlsafe_b64encode(username.encode()).decode("ascii").rstrip("=")
    return f"{expires}.{name}.{_sign(_ticket_key(state), username, sortie_id, expires)}", expires


def _audit(
    state: ApiState, who: Principal | str, action: str, kind: str, oid: str, **d: Any
) -> Any:
    name = who if isinstance(who, str) else who.username
    return state.sink.append(AuditRecord(name, action, kind, oid, d))


@router.get(
    "/sorties",
    summary="The sorties held (analysts and supervisors)",
    responses=error_responses(403),
)
async def sorties(who: Staff, state: State) -> list[dict[str, Any]]:
    """Every sortie of the data directory: id, whether it has video, start, end, sensor,
    ST 0601 packets and frame size."""
    found = await run_in_threadpool(list_sorties, state.catalog)
    await _audit(state, who, "read", "sorties", "*", count=len(found))
    return [s.as_dict() for s in found]


@router.post(
    "/sorties/{sortie_id}/ticket",
    summary="A short-lived ticket to play the sortie's video",
    responses=error_responses(403, 404, 410),
)
async def ticket(sortie_id: SortieIdPath, who: Staff, state: State) -> dict[str, Any]:
    """A capability for ``GET /api/sorties/{id}/video?ticket=…`` (valid 10 minutes, for this
    user and sortie only): the ``<video>`` element cannot send the bearer token."""
    v = await run_in_threadpool(sortie_of, state, sortie_id)
    await run_in_threadpool(v.ensure_rendition)
    t, expires = make_ticket(state, who.username, sortie_id, time.time())
    await _audit(state, who, "open", "sortie_video", sortie_id, expires=expires)
    url = f"/api/sorties/{sortie_id}/video?ticket={t}"
    return {"ticket": t, "expires": expires, "url": url, **v.rendition}


async def _video_reader(
    request: Request, state: ApiState, sortie_id: str, ticket: str | None
) -> str:
    """Who reads the video: a valid ticket's user, else the bearer token's (staff only)."""
    if ticket is None:
        who = await principal_of(request)
        if who.role not in _STAFF_ROLES:
            raise HTTPException(403, "only analysts and supervisors may see sorties")
        return who.username
    m = _TICKET.match(ticket)
    if m is None:
        raise HTTPException(401, "not a video ticket")
    expires = int(m.group(1))
    if expires < time.time():
        raise HTTPException(401, "the video ticket has expired: ask for another")
    try:
        username = base64.urlsafe_b64decode(m.group(2) + "=" * (-len(m.group(2)) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(401, "not a video ticket") from None
    if not hmac.compare_digest(_sign(_ticket_key(state), username, sortie_id, expires), m.group(3)):
        raise HTTPException(403, "this ticket is not for this sortie")
    if not await run_in_threadpool(_is_active_staff, state, username):
        raise HTTPException(403, "only analysts and supervisors may see sorties")
    return username


def _is_active_staff(state: ApiState, username: str) -> bool:
    from sqlalchemy import select

    from vigia.store import User

    with state.store.transaction() as s:
        u = s.scalar(select(User).where(User.username == username))
        return u is not None and bool(u.active) and u.role in _STAFF_ROLES


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@router.get(
    "/sorties/{sortie_id}/video",
    summary="The sortie's video as fragmented MP4 (H.264), with range requests",
    response_class=Response,
    responses={
        200: {"content": {"video/mp4": {}}},
        206: {"content": {"video/mp4": {}}, "description": "the range asked for"},
        **error_responses(403, 404, 410, 416),
    },
)
async def video(
    sortie_id: SortieIdPath,
    request: Request,
    state: State,
    ticket: Annotated[str | None, Query(max_length=100, description="from POST …/ticket")] = None,
) -> Response:
    """The MP4 rendition; ``Range: bytes=A-B`` is answered 206 (one range), 416 when it lies
    outside the file."""
    await _video_reader(request, state, sortie_id, ticket)
    v = await run_in_threadpool(sortie_of, state, sortie_id)
    path = await run_in_threadpool(v.ensure_rendition)
    size = path.stat().st_size
    head = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=600"}
    spec = request.headers.get("range")
    if spec is None:
        data = await run_in_threadpool(path.read_bytes)
        return Response(data, media_type="video/mp4", headers=head)
    m = _RANGE.match(spec.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise HTTPException(
            416, "only one byte range, as bytes=START-END", {"Content-Range": f"bytes */{size}"}
        )
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    else:
        start, end = max(0, size - int(m.group(2))), size - 1
    if start >= size or end < start:
        raise HTTPException(
            416, f"range outside the {size} bytes", {"Content-Range": f"bytes */{size}"}
        )
    end = min(end, start + (8 << 20) - 1)  # at most 8 MiB per answer: the player asks again

    def read() -> bytes:
        with open(path, "rb") as fh:
            fh.seek(start)
            return fh.read(end - start + 1)

    data = await run_in_threadpool(read)
    head["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data, status_code=206, media_type="video/mp4", headers=head)


def _index(v: SortieVideo, index: int | None, when: str | None) -> int:
    if index is None and when is None:
        raise ValidationError("give index=N or time=ISO")
    if index is not None:
        return v.frame_at(index=index)
    assert when is not None
    return v.frame_at(time_us=user_time_us(when, "time"))


@router.get(
    "/sorties/{sortie_id}/frame",
    summary="One frame: footprint, targets, sites in view",
    responses=error_responses(403, 404, 410),
)
async def frame(
    sortie_id: SortieIdPath,
    who: Staff,
    state: State,
    index: Annotated[int | None, Query(ge=0, le=10**9)] = None,
    time: Annotated[str | None, Query(max_length=64, description="ISO 8601 with offset")] = None,
) -> dict[str, Any]:
    """Frame ``index`` (or the one nearest ``time``): its time, size, sensor position, frame
    centre, footprint (GeoJSON polygon), VMTI targets and observations with their pixel boxes,
    and the known sites in view with their pixel positions."""

    def work() -> dict[str, Any]:
        v = sortie_of(state, sortie_id)
        return v.frame_info(_index(v, index, time))

    info = await run_in_threadpool(work)
    await _audit(state, who, "read", "sortie_frame", sortie_id, index=info["index"])
    return info


@router.get(
    "/sorties/{sortie_id}/track",
    summary="The sensor's track and footprints per frame",
    responses=error_responses(403, 404, 410),
)
async def track(sortie_id: SortieIdPath, who: Staff, state: State) -> dict[str, Any]:
    """Per-frame arrays (at most 20,000 rows) for the player to interpolate at the video's
    current time: media time, sensor position, frame centre, footprint corners; and the
    timeline's ticks where observations and sites were seen."""
    data = await run_in_threadpool(lambda: sortie_of(state, sortie_id).track())
    await _audit(state, who, "read", "sortie_track", sortie_id)
    return data


class GeolocateIn(_In):
    """A pixel of the frame at ``time`` (ISO 8601 with offset, or the media time in s)."""

    time: Annotated[str, Field(max_length=64)] | Annotated[float, Field(allow_inf_nan=False)]
    x: Annotated[float, Field(allow_inf_nan=False, description="pixels of the full frame")]
    y: Annotated[float, Field(allow_inf_nan=False, description="pixels of the full frame")]


@router.post(
    "/sorties/{sortie_id}/geolocate",
    summary="The ground point of a pixel, with CE90",
    responses=error_responses(403, 404, 410),
)
async def geolocate(
    sortie_id: SortieIdPath, body: GeolocateIn, who: Staff, state: State
) -> dict[str, Any]:
    """Where pixel (``x``, ``y``) of the frame at ``time`` meets the ground: ``lat``, ``lon``
    (deg), ``h_m`` (HAE), ``ce90_m``, ``mgrs``, through the sensor model and the terrain the
    sortie was ingested with."""

    def work() -> dict[str, Any]:
        v = sortie_of(state, sortie_id)
        if isinstance(body.time, float):
            i = v.frame_at_media_time(body.time)
        else:
            i = v.frame_at(time_us=user_time_us(body.time, "time"))
        g = v.geolocate(i, body.x, body.y)
        if not g["valid"]:
            raise ValidationError(f"that pixel does not meet the ground ({g['reason']})")
        return {**g, "index": i, "mgrs": to_mgrs(g["lat"], g["lon"])}

    out = await run_in_threadpool(work)
    await _audit(state, who, "geolocate", "sortie_frame", sortie_id, index=out["index"])
    return out
