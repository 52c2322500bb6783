"""Security: sentinel values planted in every source-sensitive (and every undeclared) field of
the inputs never appear in any partner rendering, while the releasable values do."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.helpers.share import (
    MARKING,
    T0,
    jpeg,
    make_observations_for,
    make_site,
    pdf_pages_text,
    pdf_streams,
    us,
)
from vigia.exploit.observations import make_observations
from vigia.exploit.scoring import SITE_SCHEMA
from vigia.share import codec, render
from vigia.share.products import Product, approve, digest, site_report, sortie_summary
from vigia.share.tearline import RELEASABLE_SITE_FIELDS, SOURCE_SENSITIVE_FIELDS, TearlineLeakError

TAIL = "SENTINEL-TAIL-N123"
MISSION = "SENTINEL-MISSION-77"
SENSOR = "SENTINEL-SENSOR"
PLATFORM = "SENTINEL-PLATFORM"
FILE = "/data/SENTINEL-FILE-0314.ts"
TRACK = "SENTINEL-TRACK"
AOI = "SENTINEL-AOI"
EXPLAIN = "SENTINEL-EXPLANATION"
WITHHELD = "SENTINEL-WITHHELD-OBS"
NOTE = "SENTINEL-NOTE"
AUTHOR = "SENTINEL-AUTHOR"
CHIP_META = "SENTINEL-CHIP-METADATA"
OBS_ID = "SENTINEL-OBS"
#: A unique height (m): sites' h_m is not releasable (CoT carries 'unknown' instead).
H_M = 1234.5678
#: The withheld observation's time: it must not show up anywhere (nor its chip).
T_WITHHELD = dt.datetime(2026, 3, 14, 3, 33, 33, tzinfo=dt.UTC)
SENTINELS = [TAIL, MISSION, SENSOR, PLATFORM, "SENTINEL-FILE", TRACK, AOI, EXPLAIN, WITHHELD,
             "SENTINEL-WITHHELD-COVERAGE", "SENTINEL-VOCAB", "SENTINEL-ALGO",
             NOTE, AUTHOR, CHIP_META, OBS_ID, "SENTINEL"]  # fmt: skip
FORBIDDEN = [*SENTINELS, "1234.5", "03:33:33", "03:33 UTC", "T03:33"]

SITE_IDS = ("S0000beef", "S0000cafe")


def planted_site(site_id: str, lat: float, assessment: str) -> dict[str, Any]:
    """A sites.parquet row whose every undeclared field carries a sentinel, plus the extra
    source-sensitive fields an upstream might add (platform, tail, track, sensor...)."""
    row = make_site(
        site_id,
        lat=lat,
        h_m=H_M,
        sorties=[MISSION, "SENTINEL-MISSION-78"],
        aoi=AOI,
        vocabulary="SENTINEL-VOCAB@1",
        explanation=json.dumps([{"term": "sortie", "detail": EXPLAIN + " " + MISSION}]),
        assessment=assessment,
    )
    row.update(
        platform=PLATFORM,
        platform_designation=TAIL,
        platform_tail_number=TAIL,
        tail_number=TAIL,
        mission_id=MISSION,
        sortie_track=[{"lat": 24.1, "lon": -107.1, "label": TRACK}],
        sensor_details={"sensor": SENSOR, "fov_deg": 1.25, "slant_range_m": 8123.0},
        image_source_sensor=SENSOR,
        source_files=[FILE],
        vmti_algorithm_id="SENTINEL-ALGO-7",
        withheld_coverage="SENTINEL-WITHHELD-COVERAGE",
    )
    return row


def planted_observations(site_id: str) -> pa.Table:
    base = make_observations_for(site_id)
    n = base.num_rows
    withheld = make_observations(
        1,
        {
            "obs_id": [f"{OBS_ID}-{site_id}-W"],
            "time": [us(T_WITHHELD)],
            "sortie": MISSION,
            "source": "analyst",
            "indicator": ["thermal_hotspot_night"],
            "confidence": [1.0],
            "lat": [24.95],
            "lon": [-107.55],
            "ce90_m": [5.0],
            "sensor": SENSOR,
            "note": WITHHELD,
            "author": AUTHOR,
            "source_file": FILE,
            "status": ["ok"],
            "consent_status": ["withheld"],
        },
    ).append_column("site_id", pa.array([site_id]))
    cols = {
        "obs_id": pa.array([f"{OBS_ID}-{site_id}-{k}" for k in range(n)]),
        "sortie": pa.array([MISSION] * n),
        "sensor": pa.array([SENSOR] * n),
        "source_file": pa.array([FILE] * n),
        "note": pa.array([NOTE] * n),
        "author": pa.array([AUTHOR] * n),
    }
    for name, arr in cols.items():
        base = base.set_column(base.schema.get_field_index(name), name, arr)
    return pa.concat_tables([base.cast(withheld.schema), withheld])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("chips")
    sites = [
        planted_site(
            SITE_IDS[0], 24.81234, "Probable laboratorio bajo lonas; se sugiere inspección."
        ),
        planted_site(SITE_IDS[1], 24.91234, "Actividad nocturna, tambos visibles."),
    ]
    obs = pa.concat_tables([planted_observations(s) for s in SITE_IDS])
    chips: dict[str, Path] = {}
    for k, obs_id in enumerate(obs.column("obs_id").to_pylist()):
        p = d / f"{k}.jpg"
        colour = (250, 250, 0) if obs_id.endswith("-W") else (40 + 20 * (k % 8), 90, 140)
        p.write_bytes(
            jpeg(colour, comment=f"{CHIP_META} {MISSION}", exif_text=f"{CHIP_META} {TAIL}")
        )
        chips[obs_id] = p
    sortie = {
        "mission_id": MISSION,
        "platform": PLATFORM,
        "platform_designation": TAIL,
        "tail_number": TAIL,
        "sortie_track": [[24.1, -107.1], [24.2, -107.2]],
        "sensor_details": SENSOR,
        "source_files": [FILE],
        "start": T0 - dt.timedelta(hours=2),
        "end": T0 + dt.timedelta(days=3),
    }
    return {"sites": sites, "obs": obs, "chips": chips, "sortie": sortie}


def products(inputs: dict[str, Any]) -> list[Product]:
    secret = MARKING.__class__("SECRET", ["NOFORN"])
    common: dict[str, Any] = {
        "marking": secret,
        "tearline_marking": MARKING,
        "author": "ana",
        "created": T0 + dt.timedelta(days=4),
    }
    obs, chips = inputs["obs"], inputs["chips"]
    made = [
        site_report(inputs["sites"][0], obs, chips, **common),
        sortie_summary(inputs["sortie"], inputs["sites"], obs, chips, **common),
        digest(
            pa.Table.from_pylist(
                [{k: v for k, v in s.items() if k in SITE_SCHEMA.names} for s in inputs["sites"]],
                schema=SITE_SCHEMA,
            ),
            (T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=5)),
            obs,
            chips,
            **common,
        ),
        digest(
            inputs["sites"], (T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=5)), obs, chips,
            **common,
        ),
    ]  # fmt: skip
    return [approve(p, approver="sam", approver_role="supervisor") for p in made]


_DATA_URI = re.compile(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)")


def _decoded_payloads(text: str) -> list[bytes]:
    """Bytes of every embedded data URI (base64 would hide a sentinel from a text scan)."""
    return [base64.b64decode(m.group(1)) for m in _DATA_URI.finditer(text)]


def partner_renderings(p: Product) -> dict[str, bytes]:
    """Every partner rendering of ``p`` as bytes (texts UTF-8), data URIs decoded alongside."""
    out: dict[str, bytes] = {}
    t = p.tearline
    for lang in ("en", "es"):
        out[f"html-{lang}"] = render.render_html(t, lang=lang).encode()
        out[f"html-files-{lang}"] = render.render_html(p, lang=lang, chip_base="chips").encode()
        pdf = render.render_pdf(p, lang=lang)
        out[f"pdf-{lang}"] = pdf
        out[f"pdf-text-{lang}"] = "\n".join(pdf_pages_text(pdf)).encode("utf-8")
        out[f"pdf-text-joined-{lang}"] = "".join(pdf_pages_text(pdf)).encode("utf-8")
        out[f"pdf-streams-{lang}"] = b"\n".join(pdf_streams(pdf))
        out[f"kml-{lang}"] = render.render_kml(p, lang=lang).encode()
        out[f"cot-{lang}"] = b"\n".join(e.to_bytes() for e in render.cot_events(p, lang=lang))
    out["json"] = render.render_json(p).encode()
    out["json-dict"] = json.dumps(codec.product_dict(p, audience="partner")).encode()
    out["geojson"] = render.render_geojson(p, ce90_polygons=True).encode()
    for name, data in render.chip_files(p).items():
        out[f"chip-file-{name}"] = name.encode() + b"\n" + data
    for key in [k for k in out if k.startswith(("html", "json"))]:
        for k, payload in enumerate(_decoded_payloads(out[key].decode())):
            out[f"{key}-datauri-{k}"] = payload
    return out


def test_sentinels_never_reach_a_partner_rendering(inputs: dict[str, Any]) -> None:
    made = products(inputs)
    checked = 0
    for p in made:
        for name, data in partner_renderings(p).items():
            for s in FORBIDDEN:
                assert s.encode() not in data, f"{s!r} leaked into {p.kind} {name}"
            # Case-insensitive too (an upper-cased heading would still be a leak).
            low = data.lower()
            for s in SENTINELS:
                assert s.lower().encode() not in low, f"{s!r} leaked into {p.kind} {name}"
            checked += 1
    assert checked > 4 * 20


def test_releasable_values_do_appear(inputs: dict[str, Any]) -> None:
    p = products(inputs)[0]
    r = partner_renderings(p)
    must = {
        "html-en": ["S0000beef", "24.81234", "Tarpaulin-covered structure", "se sugiere inspecci",
                    "2026-03-14 05:00 UTC", "UNCLASSIFIED//FOUO//REL TO USA, MEX", "data:image"],
        "html-es": ["Estructura cubierta con lonas", "SIN CLASIFICAR//FOUO//REL A USA, MEX",
                    "Tambos o contenedores de químicos"],
        "pdf-text-es": ["S0000beef", "24.81234", "Estructura cubierta con lonas",
                        "se sugiere inspección", "SIN CLASIFICAR//FOUO//REL A USA, MEX"],
        "json": ["S0000beef", "24.81234", "tarp_structure", "2026-03-16T05:00:00.000Z",
                 "se sugiere inspecci", "active"],
        "geojson": ["S0000beef", "24.81234", "14.2", "Estructura cubierta con lonas"],
        "kml-es": ["S0000beef", "24.8123400", "Estructura cubierta con lonas",
                   "SIN CLASIFICAR//FOUO//REL A USA, MEX"],
        "cot-es": ['uid="S0000beef"', 'lat="24.8123400"', 'ce="14.2"', "Evaluación del analista"],
    }  # fmt: skip
    for name, values in must.items():
        text = r[name].decode("utf-8")
        for v in values:
            assert v in text, f"{v!r} missing from {name}"
    assert len(render.chip_files(p)) == 3  # the three 'ok' observations, not the withheld one


def test_sentinels_were_planted_where_analysts_see_them(inputs: dict[str, Any]) -> None:
    """The analyst renderings do show the sensitive values: the planting works, so the partner
    test above is not passing for want of sentinels."""
    for p in products(inputs):
        full = render.render_json(p, audience="analyst")
        assert MISSION in full
        html = render.render_html(p, audience="analyst")
        assert MISSION in html
    site_report_body = json.dumps(products(inputs)[0].body)
    for s in (TAIL, PLATFORM, SENSOR, "SENTINEL-FILE", TRACK, AOI, NOTE, AUTHOR, str(H_M)):
        assert s in site_report_body, s
    # ...but never the withheld observation, not even on the analyst side.
    assert WITHHELD not in site_report_body and "03:33:33" not in site_report_body
    assert SOURCE_SENSITIVE_FIELDS.isdisjoint(RELEASABLE_SITE_FIELDS)


def test_assessment_naming_a_source_is_refused(inputs: dict[str, Any]) -> None:
    for leak in (f"Visto en la salida {MISSION}.", f"Tail {TAIL.lower()} saw it", f"{SENSOR}: IR"):
        site = dict(inputs["sites"][0], assessment=leak)
        with pytest.raises(TearlineLeakError):
            site_report(site, inputs["obs"], marking=MARKING, author="ana", created=T0)
    sortie = dict(inputs["sortie"])
    site = dict(inputs["sites"][1], assessment=f"Same as {PLATFORM} reported")
    with pytest.raises(TearlineLeakError):
        sortie_summary(sortie, [site], inputs["obs"], marking=MARKING, author="ana", created=T0)
