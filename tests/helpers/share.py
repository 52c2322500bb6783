"""Inputs and readers for the vigia.share tests: sites, observations and chips, PDF text.

The sites and observations follow the real schemas; the PDF reader pulls the text fpdf2 shows.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zlib
from pathlib import Path
from typing import Any

import pyarrow as pa
from PIL import Image

from vigia.exploit.observations import make_observations
from vigia.exploit.scoring import SITE_SCHEMA
from vigia.share.markings import Marking
from vigia.share.products import Product, approve, site_report

T0 = dt.datetime(2026, 3, 14, 5, 0, tzinfo=dt.UTC)
MISSION = "VIGIA-SIN-0314"
MARKING = Marking("UNCLASSIFIED", ["FOUO"], ["USA", "MEX"])


# --- inputs ---------------------------------------------------------------------------------------
def us(t: dt.datetime) -> int:
    """Microseconds since the epoch."""
    return int(t.timestamp() * 1_000_000)


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (80, 60), **meta: Any) -> bytes:
    """A JPEG chip; ``comment`` / ``exif_text`` put metadata in it."""
    img = Image.new("RGB", size, colour)
    out = io.BytesIO()
    kw: dict[str, Any] = {}
    if "comment" in meta:
        kw["comment"] = meta["comment"].encode()
    if "exif_text" in meta:
        exif = Image.Exif()
        exif[0x010E] = meta["exif_text"]  # ImageDescription
        exif[0x0110] = meta["exif_text"]  # Model
        kw["exif"] = exif.tobytes()
    img.save(out, "JPEG", **kw)
    return out.getvalue()


def make_site(site_id: str = "S7f3a2c91", **over: Any) -> dict[str, Any]:
    """A row of sites.parquet (the real schema), as a mapping."""
    row: dict[str, Any] = {
        "site_id": site_id,
        "lat": 24.81234,
        "lon": -107.39876,
        "h_m": 312.5,
        "ce90_m": 14.2,
        "cov_ee_m2": 40.0,
        "cov_en_m2": 1.0,
        "cov_nn_m2": 38.0,
        "log_odds": 2.3,
        "probability": 0.91,
        "candidate": True,
        "status": "active",
        "new_since_previous_pass": False,
        "previous_pass_time": T0,
        "first_seen": T0,
        "last_seen": T0 + dt.timedelta(days=2),
        "n_observations": 3,
        "n_passes": 2,
        "n_sorties": 1,
        "night_passes": 1,
        "empty_passes": 0,
        "indicators": ["tarp_structure", "chemical_containers"],
        "sorties": [MISSION],
        "aoi": "Sinaloa-Norte",
        "vocabulary": "vigia-lab-indicators@2026.1",
        "explanation": json.dumps([{"term": "tarp_structure", "detail": MISSION, "log_lr": 1.8}]),
        "assessment": "Probable laboratorio bajo lonas; actividad nocturna.",
    }
    row.update(over)
    # Through the real schema and back, as the catalog hands it over.
    return pa.Table.from_pylist([row], schema=SITE_SCHEMA).to_pylist()[0]


def make_observations_for(site_id: str = "S7f3a2c91") -> pa.Table:
    """Three 'ok' rows, one 'withheld' (outside consent) and one 'ungeolocated'."""
    times = [T0, T0 + dt.timedelta(hours=1), T0 + dt.timedelta(days=2), T0, T0]
    n = len(times)
    nan = float("nan")
    table = make_observations(
        n,
        {
            "obs_id": ["Oa1", "Oa2", "Oa3", "Owithheld", "Ounloc"],
            "time": [us(t) for t in times],
            "sortie": MISSION,
            "source": "vmti",
            "indicator": [
                "tarp_structure",
                "chemical_containers",
                "tarp_structure",
                "burn_waste_pit",
                "tarp_structure",
            ],
            "confidence": [0.9, 0.8, 0.7, 0.99, 0.5],
            "lat": [24.8123, 24.8124, 24.8122, 24.9, nan],
            "lon": [-107.3987, -107.3988, -107.3986, -107.5, nan],
            "ce90_m": [20.0, 20.0, 20.0, 20.0, nan],
            "sensor": "EO",
            "source_file": "/data/sorties/VIGIA-SIN-0314.ts",
            "status": ["ok", "ok", "ok", "ok", "ungeolocated"],
            "reason": [None, None, None, None, "no ground position"],
            "consent_status": ["consented", "consented", "consented", "withheld", "undetermined"],
        },
    )
    return table.append_column("site_id", pa.array([site_id] * n))


def make_chips(tmp_path: Path) -> dict[str, Path]:
    """A JPEG chip with metadata in it for each observation of :func:`make_observations_for`."""
    colours = {
        "Oa1": (200, 30, 30),
        "Oa2": (30, 200, 30),
        "Oa3": (30, 30, 200),
        "Owithheld": (250, 250, 0),
        "Ounloc": (0, 250, 250),
    }
    out = {}
    for obs_id, c in colours.items():
        p = tmp_path / f"{obs_id}.jpg"
        p.write_bytes(jpeg(c, comment="obs " + obs_id, exif_text="sensor EO " + MISSION))
        out[obs_id] = p
    return out


def released_report(tmp_path: Path, **kw: Any) -> Product:
    """The site report of :func:`make_site`, approved by a supervisor."""
    p = site_report(
        make_site(),
        make_observations_for(),
        make_chips(tmp_path),
        marking=kw.pop("marking", MARKING),
        author="ana",
        created=T0 + dt.timedelta(days=3),
        **kw,
    )
    return approve(
        p, approver="sam", approver_role="supervisor", at=T0 + dt.timedelta(days=3, hours=2)
    )


# --- PDF text -------------------------------------------------------------------------------------
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_TJ = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*Tj")


def _unescape_pdf(s: bytes) -> bytes:
    """A PDF string literal's bytes, its backslash escapes resolved."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == 0x5C and i + 1 < len(s):
            n = s[i + 1]
            if 0x30 <= n <= 0x37:
                j = i + 1
                while j < len(s) and j < i + 4 and 0x30 <= s[j] <= 0x37:
                    j += 1
                out.append(int(s[i + 1 : j], 8) & 0xFF)
                i = j
                continue
            out.append({ord("n"): 10, ord("r"): 13, ord("t"): 9}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def pdf_streams(data: bytes) -> list[bytes]:
    """Every stream of the PDF, inflated where it is Flate-compressed.

    A compressed stream may end in ``b"\\r"``, which the pattern then leaves out: what is there
    is inflated instead of requiring a complete stream.
    """
    out = []
    for m in _STREAM.finditer(data):
        raw = m.group(1)
        try:
            out.append(zlib.decompressobj().decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


def pdf_pages_text(data: bytes) -> list[str]:
    """Text shown by each content stream (one per page with fpdf2), lines joined by newlines."""
    pages = []
    for s in pdf_streams(data):
        shown = [_unescape_pdf(m.group(1)).decode("latin-1") for m in _TJ.finditer(s)]
        if shown:
            pages.append("\n".join(shown))
    return pages
