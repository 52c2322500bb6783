"""vigia.share: markings, the tearline, products and release, renderers."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from shapely.geometry import shape

from tests.helpers.share import (
    MARKING,
    MISSION,
    T0,
    jpeg,
    make_chips,
    make_observations_for,
    make_site,
    pdf_pages_text,
    released_report,
)
from vigia.exploit.scoring import SITE_SCHEMA
from vigia.klv.st0102 import (
    Classification,
    CountryCodingMethod,
    SecurityMetadata,
    decode_security_local_set,
    encode_security_local_set,
    releasability_countries,
)
from vigia.share import codec, render
from vigia.share.markings import CAVEATS, Marking, MarkingError, parse_banner
from vigia.share.products import (
    ProductError,
    ReleaseError,
    approve,
    digest,
    require_released,
    site_report,
    sortie_summary,
)
from vigia.share.tearline import (
    RELEASABLE_SITE_FIELDS,
    ReleasableSite,
    TearlineError,
    TearlineLeakError,
    check_no_leak,
    releasable_observations,
    releasable_site,
    sanitize_chip,
)

KML = "{http://www.opengis.net/kml/2.2}"


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.imgs: list[str] = []
        self.banners: list[str] = []
        self._in_banner = False
        self.lang = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang") or ""
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag == "div" and "banner" in (a.get("class") or ""):
            self._in_banner = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self._in_banner = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_banner and data.strip():
            self.banners.append(data.strip())


def parse_html(text: str) -> _HTMLText:
    p = _HTMLText()
    p.feed(text)
    p.close()
    return p


# --- markings -------------------------------------------------------------------------------------
def test_banner_lines_en_es() -> None:
    m = Marking("unclassified", ["fouo"], ["mex", "USA", "MEX"])
    assert m.banner() == "UNCLASSIFIED//FOUO//REL TO USA, MEX"
    assert m.banner("es") == "SIN CLASIFICAR//FOUO//REL A USA, MEX"
    assert m.releasable_to == ("USA", "MEX")
    assert Marking(Classification.UNCLASSIFIED, ["LES", "FOUO"]).banner() == (
        "UNCLASSIFIED//LES//FOUO"
    )
    assert Marking("CONFIDENTIAL", (), ["CAN", "USA", "MEX"]).banner("es") == (
        "CONFIDENCIAL//REL A USA, CAN, MEX"
    )
    assert Marking(5).banner("es") == "ALTO SECRETO"
    assert Marking("TOP SECRET").classification is Classification.TOP_SECRET
    assert dict(m.caveat_legend("es"))["FOUO"] == CAVEATS["FOUO"]["es"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("UNCLASSIFED",), "unknown classification"),
        ((9,), "unknown classification level"),
        (("SECRET", ["FOUO", "EYES"]), "unknown caveat"),
        (("SECRET", [], ["MX"]), "alpha-3"),
        (("SECRET", [], ["USA", "ME X"]), "alpha-3"),
        (("SECRET", ["NOFORN"], ["USA", "MEX"]), "NOFORN"),
        (("SECRET", ["NOFORN"], ["USA"]), "NOFORN cannot be combined with REL TO"),
        (("SECRET", ["FOUO"]), "FOUO is a control of unclassified material"),
        (("TOP SECRET", ["FOUO"], ["USA", "MEX"]), "FOUO"),
        (("CONFIDENTIAL", ["FOUO"]), "FOUO"),
        (("SECRET", "FOUO"), "sequences"),
    ],
)
def test_marking_errors(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(MarkingError, match=match):
        Marking(*args)


def test_marking_language_and_releasability() -> None:
    with pytest.raises(MarkingError):
        MARKING.banner("fr")
    assert MARKING.is_releasable_to("MEX") and MARKING.is_releasable_to("usa")
    assert not MARKING.is_releasable_to("CAN")
    noforn = Marking("SECRET", ["NOFORN"])
    assert noforn.is_releasable_to("USA") and not noforn.is_releasable_to("MEX")
    with pytest.raises(MarkingError, match="not releasable to MEX"):
        noforn.require_releasable_to("MEX")
    assert Marking("SECRET", [], ["USA", "MEX"]).permits(MARKING)
    assert not MARKING.permits(Marking("SECRET", [], ["USA", "MEX"]))
    assert not MARKING.permits(Marking("UNCLASSIFIED", ["FOUO"], ["USA"]))


def test_parse_banner_both_languages() -> None:
    for lang in ("en", "es"):
        assert parse_banner(MARKING.banner(lang)) == MARKING
    assert parse_banner("SECRET//NOFORN").caveats == ("NOFORN",)
    with pytest.raises(MarkingError):
        parse_banner("  ")


def test_st0102_round_trip() -> None:
    sm = MARKING.to_security_metadata(["MEX"])
    assert sm.classification is Classification.UNCLASSIFIED
    assert sm.country_coding_method is CountryCodingMethod.ISO_3166_THREE_LETTER
    assert sm.classifying_country == "//USA"
    assert releasability_countries(sm) == ("USA", "MEX")
    decoded = decode_security_local_set(encode_security_local_set(sm))
    assert decoded.object_country_codes == "MEX"
    assert Marking.from_security_metadata(decoded) == MARKING
    two_letter = SecurityMetadata(
        classification=Classification.SECRET,
        country_coding_method=CountryCodingMethod.ISO_3166_TWO_LETTER,
        classifying_country="//US",
        releasing_instructions="US MX",
    )
    with pytest.raises(MarkingError, match="three-letter"):
        Marking.from_security_metadata(two_letter)
    with pytest.raises(MarkingError, match="no classification"):
        Marking.from_security_metadata(SecurityMetadata())
    assert Marking.from_dict(MARKING.to_dict()) == MARKING


@settings(max_examples=60, deadline=None)
@given(
    level=st.sampled_from(list(Classification)),
    caveats=st.sets(st.sampled_from(["FOUO", "LES", "ORCON", "PROPIN"])),
    countries=st.sets(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3)),
    lang=st.sampled_from(["en", "es"]),
)
def test_banner_round_trip_property(
    level: Classification, caveats: set[str], countries: set[str], lang: str
) -> None:
    if level > Classification.UNCLASSIFIED:  # FOUO marks unclassified material only
        caveats = caveats - {"FOUO"}
    m = Marking(level, caveats, countries)
    assert parse_banner(m.banner(lang)) == m
    again = Marking.from_security_metadata(
        decode_security_local_set(encode_security_local_set(m.to_security_metadata()))
    )
    assert again == m


# --- the tearline ---------------------------------------------------------------------------------
def test_one_declaration() -> None:
    from dataclasses import fields

    assert {f.name for f in fields(ReleasableSite)} == {*RELEASABLE_SITE_FIELDS, "chips"}
    assert set(RELEASABLE_SITE_FIELDS) == {
        "site_id", "lat", "lon", "ce90_m", "indicators", "first_seen", "last_seen", "status",
        "assessment",
    }  # fmt: skip


def test_tearline_copies_only_declared_fields(tmp_path: Path) -> None:
    site = make_site()
    site["field_added_upstream"] = "UPSTREAM-NEW-FIELD"
    rel = releasable_site(site, make_observations_for(), make_chips(tmp_path))
    assert rel.site_id == "S7f3a2c91" and rel.lat == 24.81234 and rel.ce90_m == 14.2
    assert [i.code for i in rel.indicators] == ["tarp_structure", "chemical_containers"]
    assert rel.indicators[0].es == "Estructura cubierta con lonas"
    assert rel.first_seen == T0 and rel.first_seen.tzinfo is not None
    text = json.dumps([*rel.strings()])
    assert "UPSTREAM-NEW-FIELD" not in text and MISSION not in text and "Sinaloa" not in text


def test_withheld_and_ungeolocated_observations_never_pass(tmp_path: Path) -> None:
    obs = make_observations_for()
    ok = releasable_observations(obs)
    assert ok.column("obs_id").to_pylist() == ["Oa1", "Oa2", "Oa3"]
    assert releasable_observations(obs.to_pylist()).num_rows == 3
    with pytest.raises(TearlineError, match="status"):
        releasable_observations(obs.drop_columns(["status"]))
    with pytest.raises(TearlineError, match="consent_status"):
        releasable_observations(obs.drop_columns(["consent_status"]))
    chips = make_chips(tmp_path)
    rel = releasable_site(make_site(), obs, chips, max_chips=10)
    # Only the three 'ok' observations have chips; the withheld one (yellow) is not among them.
    assert [c.name for c in rel.chips] == [f"S7f3a2c91-0{k}.jpg" for k in (1, 2, 3)]
    colours = []
    for c in rel.chips:
        with Image.open(io.BytesIO(c.data)) as img:
            colours.append(img.convert("RGB").getpixel((40, 30)))
    assert all(abs(r - 250) > 60 or abs(g - 250) > 60 for r, g, _ in colours)
    # Even asking for chips of withheld rows only gives nothing.
    only_withheld = {"Owithheld": chips["Owithheld"]}
    assert releasable_site(make_site(), obs, only_withheld).chips == ()
    # A site-report body never lists the withheld or ungeolocated rows either.
    p = site_report(make_site(), obs, chips, marking=MARKING, author="ana", created=T0)
    body = json.dumps(p.body)
    assert "Owithheld" not in body and "Ounloc" not in body and "Oa2" in body


def test_chips_are_reencoded_without_metadata(tmp_path: Path) -> None:
    raw = jpeg((10, 120, 240), (300, 200), comment="SECRET-COMMENT", exif_text="SECRET-EXIF")
    assert b"SECRET-COMMENT" in raw and b"SECRET-EXIF" in raw
    clean = sanitize_chip(raw)
    assert b"SECRET-COMMENT" not in clean and b"SECRET-EXIF" not in clean
    with Image.open(io.BytesIO(clean)) as img:
        assert img.format == "JPEG" and img.size == (300, 200)
        assert not img.getexif()
        r, g, b = img.convert("RGB").getpixel((150, 100))
        assert abs(r - 10) < 8 and abs(g - 120) < 8 and abs(b - 240) < 8
    big = sanitize_chip(jpeg((1, 2, 3), (3000, 1500)))
    with Image.open(io.BytesIO(big)) as img:
        assert max(img.size) == 1024
    with pytest.raises(TearlineError, match="decoded"):
        sanitize_chip(b"not an image")


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"lat": 95.0}, "lat"),
        ({"lon": float("nan")}, "lon"),
        ({"ce90_m": -1.0}, "ce90_m"),
        ({"indicators": ["tarp_structure", "unicorns"]}, "unknown indicator"),
        ({"site_id": "S1 <script>"}, "site_id"),
        ({"status": "Robert'); DROP"}, "status"),
        ({"first_seen": None}, "first_seen"),
        ({"last_seen": T0 - dt.timedelta(days=1)}, "before"),
        ({"assessment": "x" * 9000}, "longer"),
    ],
)
def test_bad_releasable_values(over: dict[str, Any], match: str) -> None:
    site = make_site()
    site.update(over)
    with pytest.raises(TearlineError, match=match):
        releasable_site(site)


def test_naive_times_refused() -> None:
    site = make_site()
    site["first_seen"] = dt.datetime(2026, 3, 14, 5, 0)
    with pytest.raises(TearlineError, match="UTC offset"):
        releasable_site(site)
    site["first_seen"] = "2026-03-14T05:00:00Z"
    assert releasable_site(site).first_seen == T0


def test_leak_check() -> None:
    check_no_leak(["Estructura con lonas"], [MISSION, "MQ-9"])
    with pytest.raises(TearlineLeakError):
        check_no_leak(["visto por vigia-sin-0314 de noche"], [MISSION])
    with pytest.raises(TearlineLeakError):
        check_no_leak(["el MQ-9 lo vio"], ["MQ-9"])
    check_no_leak(["XVIGIA-SIN-0314X"], [MISSION])  # part of a longer word: not a mention
    check_no_leak(["EO and IR"], ["EO", "IR"])  # too short to scan
    site = make_site(assessment=f"Seen on sortie {MISSION} by the EO sensor.")
    with pytest.raises(TearlineLeakError, match="source-sensitive"):
        site_report(site, make_observations_for(), marking=MARKING, author="ana", created=T0)


# --- products and release -------------------------------------------------------------------------
def test_site_report(tmp_path: Path) -> None:
    p = released_report(tmp_path)
    assert p.kind == "site_report" and p.id.startswith("SR-")
    assert p.title("es") == "Informe de sitio S7f3a2c91"
    assert p.body["site"]["sorties"] == [MISSION]  # analyst side keeps everything
    assert len(p.tearline.sites) == 1 and len(p.tearline.sites[0].chips) == 3
    assert p.tearline.period_start == T0
    assert p.tearline.released == T0 + dt.timedelta(days=3, hours=2)
    again = site_report(
        make_site(), make_observations_for(), marking=MARKING, author="ana",
        created=T0 + dt.timedelta(days=3),
    )  # fmt: skip
    assert again.id == p.id  # same inputs, same time: same id
    with pytest.raises(ProductError, match="author"):
        site_report(make_site(), marking=MARKING, author=" ", created=T0)
    with pytest.raises(ProductError, match="language"):
        site_report(make_site(), marking=MARKING, author="ana", lang="fr", created=T0)
    with pytest.raises(ProductError, match="classified above"):
        site_report(
            make_site(), marking=MARKING, tearline_marking=Marking("SECRET", [], ["USA", "MEX"]),
            author="ana", created=T0,
        )  # fmt: skip


def test_two_person_release() -> None:
    secret = Marking("SECRET", ["NOFORN"])
    p = site_report(make_site(), marking=secret, tearline_marking=MARKING, author="ana", created=T0)
    assert not p.released
    with pytest.raises(ReleaseError, match="not been released"):
        require_released(p)
    with pytest.raises(ReleaseError, match="two-person"):
        approve(p, approver="ANA", approver_role="supervisor")
    with pytest.raises(ReleaseError, match="supervisor"):
        approve(p, approver="alex", approver_role="analyst")
    with pytest.raises(ReleaseError, match="before it was created"):
        approve(p, approver="sam", approver_role="supervisor", at=T0 - dt.timedelta(hours=1))
    with pytest.raises(ReleaseError, match="not releasable to CAN"):
        approve(p, approver="sam", approver_role="supervisor", partner_country="CAN")
    r = approve(p, approver="sam", approver_role="supervisor", at=T0 + dt.timedelta(hours=1))
    assert require_released(r).approved_by == "sam" and r.release is not None
    assert r.release.partner_country == "MEX"
    with pytest.raises(ReleaseError, match="already"):
        approve(r, approver="sofia", approver_role="supervisor")
    whole_noforn = site_report(make_site(), marking=secret, author="ana", created=T0)
    with pytest.raises(ReleaseError, match="not releasable to MEX"):
        approve(whole_noforn, approver="sam", approver_role="supervisor")


def _many_sites(n: int) -> pa.Table:
    rows = []
    for k in range(n):
        rows.append(
            make_site(
                f"S{k:08x}",
                lat=24.0 + 0.05 * k,
                lon=-107.0 - 0.05 * k,
                first_seen=T0 + dt.timedelta(days=k),
                last_seen=T0 + dt.timedelta(days=k, hours=6),
                candidate=k % 4 != 3,
                sorties=[MISSION if k % 2 == 0 else "VIGIA-SIN-0320"],
            )
        )
    return pa.Table.from_pylist(rows, schema=SITE_SCHEMA)


def test_digest_period_and_candidates() -> None:
    sites = _many_sites(10)
    p = digest(
        sites, (T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=6)), marking=MARKING,
        author="ana", created=T0 + dt.timedelta(days=7),
    )  # fmt: skip
    # Days 2..5 are in the period; day 3 is not a candidate.
    assert [s.site_id for s in p.tearline.sites] == ["S00000002", "S00000004", "S00000005"]
    assert p.title() == "Digest 2026-03-16 – 2026-03-20"
    assert p.tearline.title("es").startswith("Resumen periódico")
    everything = digest(
        sites, (T0, T0 + dt.timedelta(days=30)), marking=MARKING, author="ana",
        candidates_only=False, created=T0,
    )  # fmt: skip
    assert len(everything.tearline.sites) == 10
    with pytest.raises(ProductError, match="end after"):
        digest(sites, (T0, T0), marking=MARKING, author="ana")


def test_sortie_summary_keeps_the_sortie_on_the_analyst_side(tmp_path: Path) -> None:
    sites = _many_sites(6)
    sortie = {
        "mission_id": MISSION,
        "platform": "MQ-9",
        "platform_designation": "N123VG",
        "start": T0,
        "end": T0 + dt.timedelta(hours=20),
        "track": [[24.1, -107.1], [24.2, -107.2]],
    }
    p = sortie_summary(
        sortie, sites, make_observations_for("S00000000"), make_chips(tmp_path),
        marking=MARKING, author="ana", created=T0 + dt.timedelta(days=9),
    )  # fmt: skip
    assert [s.site_id for s in p.tearline.sites] == ["S00000000", "S00000002", "S00000004"]
    assert p.body["sortie"]["platform_designation"] == "N123VG"
    assert MISSION not in json.dumps(list(p.tearline.strings()))
    assert p.tearline.period_start == T0
    assert p.tearline.period_end == T0 + dt.timedelta(days=2)  # the sortie's 'ok' rows only
    assert p.title() == "Surveillance summary 2026-03-14"
    assert len(p.tearline.sites[0].chips) == 2


# --- renderers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "es"])
def test_html(tmp_path: Path, lang: str) -> None:
    p = released_report(tmp_path)
    html = render.render_html(p, lang=lang)
    doc = parse_html(html)
    banner = MARKING.banner(lang)
    assert doc.lang == lang
    assert doc.banners == [banner, banner]  # top and bottom
    assert html.index(banner) < html.index("S7f3a2c91") < html.rindex(banner)
    text = " ".join(doc.text)
    label = "Estructura cubierta con lonas" if lang == "es" else "Tarpaulin-covered structure"
    assert label in text and "24.81234, -107.39876" in text
    assert ("Evaluación del analista" if lang == "es" else "Analyst assessment") in text
    assert len(doc.imgs) == 3
    for src in doc.imgs:
        head, data = src.split(",", 1)
        assert head == "data:image/jpeg;base64"
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            assert img.format == "JPEG"
    linked = parse_html(render.render_html(p, lang=lang, chip_base="chips"))
    files = render.chip_files(p)
    assert sorted(linked.imgs) == sorted(f"chips/{n}" for n in files)
    assert "<script" not in html


def test_html_escapes_assessment(tmp_path: Path) -> None:
    site = make_site(assessment="<script>alert(1)</script> & más")
    p = site_report(site, marking=MARKING, author="ana", created=T0)
    html = render.render_html(p, lang="es")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_analyst_html_has_body_above_the_tearline(tmp_path: Path) -> None:
    secret = Marking("SECRET", ["NOFORN"])
    p = site_report(
        make_site(), make_observations_for(), make_chips(tmp_path), marking=secret,
        tearline_marking=MARKING, author="ana", created=T0,
    )  # fmt: skip
    html = render.render_html(p, audience="analyst")
    doc = parse_html(html)
    assert doc.banners == ["SECRET//NOFORN", "SECRET//NOFORN"]
    assert MISSION in html and html.index(MISSION) < html.index("TEARLINE")
    assert html.index("TEARLINE") < html.index("UNCLASSIFIED//FOUO//REL TO USA, MEX")
    partner = render.render_html(p)
    assert MISSION not in partner and "SECRET" not in partner.replace("UNCLASSIFIED", "")
    with pytest.raises(render.RenderError):
        render.render_html(p.tearline, audience="analyst")
    with pytest.raises(render.RenderError):
        render.render_html(p, audience="public")  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_pdf(tmp_path: Path, lang: str) -> None:
    p = released_report(tmp_path)
    pdf = render.render_pdf(p, lang=lang)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    pages = pdf_pages_text(pdf)
    banner = MARKING.banner(lang)
    assert pages and all(
        pg.split("\n")[0] == banner and pg.rstrip().endswith(banner) for pg in pages
    )
    text = "\n".join(pages)
    assert "S7f3a2c91" in text and "24.81234, -107.39876" in text
    if lang == "es":
        assert "Ubicación (lat, lon)" in text and "Estructura cubierta con lonas" in text
        assert "Probable laboratorio bajo lonas; actividad nocturna." in text
    assert pdf.count(b"/Subtype /Image") == 3
    assert render.render_pdf(p, lang=lang) == pdf  # deterministic


def test_pdf_banner_on_every_page() -> None:
    sites = _many_sites(14)
    p = digest(
        sites, (T0, T0 + dt.timedelta(days=30)), marking=MARKING, author="ana", created=T0,
        candidates_only=False,
    )  # fmt: skip
    pages = pdf_pages_text(render.render_pdf(p, lang="es"))
    assert len(pages) >= 3
    banner = MARKING.banner("es")
    for k, page in enumerate(pages, start=1):
        lines = page.split("\n")
        assert lines[0] == banner and lines[-1] == banner
        assert "".join(lines[-3:-1]) == f"{k}/{len(pages)}"  # page k of n
    secret = Marking("SECRET", ["NOFORN"])
    analyst = site_report(
        make_site(), make_observations_for(), marking=secret, tearline_marking=MARKING,
        author="ana", created=T0,
    )  # fmt: skip
    text = "\n".join(pdf_pages_text(render.render_pdf(analyst, audience="analyst")))
    assert "SECRET//NOFORN" in text and MISSION in text.replace("\n", "")


def test_pdf_wrap_keeps_every_character_and_fits_the_line() -> None:
    from fpdf.fonts import CORE_FONTS_CHARWIDTHS

    widths = CORE_FONTS_CHARWIDTHS["helvetica"]
    text = "; ".join(f"col_{i}=value {i * 7919}" for i in range(60)) + "\n\n" + "x" * 400
    lines = render.pdf_wrap(text, widths, 2.5, 120.0)
    assert len(lines) > 5
    for line in lines:
        assert sum(widths[c] for c in line) * 2.5 / 1000 <= 120.0
    # breaks drop one space each (or cut a word), never any other character
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert "" in lines  # the empty paragraph is kept as an empty line
    assert render.pdf_wrap("", widths, 2.5, 120.0) == [""]


def test_pdf_table_rows_break_as_fpdf2_does() -> None:
    """The rows of an analyst body are laid out line for line as ``multi_cell`` laid them out
    (only faster): the same lines, at the same places."""
    from fpdf import FPDF

    rows = [{f"c{k}": f"value-{i}-{k} " * (1 + k % 3) for k in range(25)} for i in range(30)]
    p = sortie_summary(
        {"mission_id": MISSION}, [make_site()], marking=MARKING, author="ana", created=T0
    )
    p = dataclasses.replace(p, body={"rows": rows})
    pages = pdf_pages_text(render.render_pdf(p, audience="analyst"))
    shown = [ln for pg in pages for ln in pg.split("\n")]
    ref = FPDF(format="A4")
    ref.add_page()
    ref.set_font("Helvetica", "", 7)
    for r in rows:
        text = "; ".join(f"{c}={v}" for c, v in r.items())
        expected = ref.multi_cell(0, 3.5, text, align="L", dry_run=True, output="LINES")
        at = shown.index(expected[0])
        assert shown[at : at + len(expected)] == expected


def test_pdf_text_is_latin1_only() -> None:
    assert render.latin1("Señal – “ok” … ≥ 3 ¿sí?") == 'Señal - "ok" ... >= 3 ¿sí?'
    assert render.latin1("東") == "?"


def test_json(tmp_path: Path) -> None:
    p = released_report(tmp_path)
    d = json.loads(render.render_json(p))
    assert d["marking"]["banner"] == "UNCLASSIFIED//FOUO//REL TO USA, MEX"
    assert d["product_id"] == p.id and d["released"] == "2026-03-17T07:00:00.000Z"
    site = d["sites"][0]
    assert set(site) == {*RELEASABLE_SITE_FIELDS, "chips"}
    assert site["indicators"][1] == {
        "code": "chemical_containers",
        "en": "Chemical drums or containers",
        "es": "Tambos o contenedores de químicos",
    }
    assert site["chips"][0]["data_uri"].startswith("data:image/jpeg;base64,")
    refs = json.loads(render.render_json(p, chips="refs"))
    assert "data_uri" not in refs["sites"][0]["chips"][0]
    full = json.loads(render.render_json(p, audience="analyst"))
    assert full["body"]["site"]["sorties"] == [MISSION] and full["tearline"] == d
    with pytest.raises(render.RenderError):
        render.render_json(p, chips="all")  # type: ignore[arg-type]


def test_geojson_rfc7946(tmp_path: Path) -> None:
    from pyproj import Geod

    p = released_report(tmp_path)
    d = json.loads(render.render_geojson(p, ce90_polygons=True))
    assert d["type"] == "FeatureCollection" and "crs" not in d
    assert d["marking"]["banner_es"] == "SIN CLASIFICAR//FOUO//REL A USA, MEX"
    point, circle = d["features"]
    assert point["geometry"] == {"type": "Point", "coordinates": [-107.39876, 24.81234]}
    assert point["properties"]["indicator_labels_es"][0] == "Estructura cubierta con lonas"
    geom = shape(circle["geometry"])
    assert geom.is_valid and geom.exterior.is_ccw and geom.contains(shape(point["geometry"]))
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(geom)
    assert area == pytest.approx(3.14159 * 14.2**2, rel=0.01)
    ring = circle["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    only_points = json.loads(render.render_geojson(p))
    assert [f["geometry"]["type"] for f in only_points["features"]] == ["Point"]
    assert shapely.is_valid(shape(only_points["features"][0]["geometry"]))


@pytest.mark.parametrize("lang", ["en", "es"])
def test_kml(tmp_path: Path, lang: str) -> None:
    p = released_report(tmp_path)
    text = render.render_kml(p, lang=lang)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{KML}kml"
    doc = root.find(f"{KML}Document")
    assert doc is not None
    assert (doc.findtext(f"{KML}name") or "").startswith(MARKING.banner(lang))
    pms = doc.findall(f"{KML}Placemark")
    assert len(pms) == 1
    pm = pms[0]
    assert pm.findtext(f"{KML}name") == "S7f3a2c91"
    desc = pm.findtext(f"{KML}description") or ""
    assert desc.startswith(MARKING.banner(lang)) and desc.endswith(MARKING.banner(lang))
    data = {d.get("name"): d.findtext(f"{KML}value") for d in pm.iter(f"{KML}Data")}
    assert data["site_id"] == "S7f3a2c91" and data["status"] == "active"
    assert data["indicators"] == "tarp_structure, chemical_containers"
    coords = pm.findtext(f"{KML}MultiGeometry/{KML}Point/{KML}coordinates") or ""
    lon, lat, alt = (float(x) for x in coords.split(","))
    assert (lon, lat, alt) == (pytest.approx(-107.39876), pytest.approx(24.81234), 0.0)
    ring_text = pm.findtext(
        f"{KML}MultiGeometry/{KML}Polygon/{KML}outerBoundaryIs/{KML}LinearRing/{KML}coordinates"
    )
    ring = [tuple(float(v) for v in c.split(",")) for c in (ring_text or "").split()]
    assert len(ring) == 73 and ring[0] == ring[-1]
    assert pm.findtext(f"{KML}TimeSpan/{KML}begin") == "2026-03-14T05:00:00.000Z"
    assert doc.find(f"{KML}Style") is not None


@pytest.mark.parametrize("lang", ["en", "es"])
def test_cot(tmp_path: Path, lang: str) -> None:
    p = released_report(tmp_path)
    (ev,) = render.cot_events(p, lang=lang, stale_after=dt.timedelta(days=2))
    assert ev.xml.startswith("<?xml")
    e = ET.fromstring(ev.to_bytes())
    assert e.tag == "event" and e.get("version") == "2.0"
    assert e.get("uid") == "S7f3a2c91" == ev.uid
    assert e.get("type") == "a-u-G" and e.get("how") == "h-e"
    times = {k: dt.datetime.fromisoformat(e.get(k, "").replace("Z", "+00:00")) for k in
             ("time", "start", "stale")}  # fmt: skip
    assert times["time"] == times["start"] == p.tearline.released
    assert times["stale"] - times["time"] == dt.timedelta(days=2)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e.get("stale", ""))
    pt = e.find("point")
    assert pt is not None
    assert float(pt.get("lat", "")) == pytest.approx(24.81234)
    assert float(pt.get("lon", "")) == pytest.approx(-107.39876)
    assert float(pt.get("ce", "")) == pytest.approx(14.2)
    assert float(pt.get("hae", "")) == 9999999.0 and float(pt.get("le", "")) == 9999999.0
    contact = e.find("detail/contact")
    assert contact is not None and contact.get("callsign") == "VIGIA S7f3a2c91"
    remarks = e.findtext("detail/remarks") or ""
    assert remarks.split("\n")[0] == MARKING.banner(lang)
    label = "Tambos o contenedores de químicos" if lang == "es" else "Chemical drums"
    assert label in remarks
    with pytest.raises(render.RenderError, match="stale"):
        render.site_cot(p.tearline.sites[0], MARKING, time=T0, stale=T0)


def test_round_trip_through_plain_data(tmp_path: Path) -> None:
    p = released_report(tmp_path)
    back = codec.product_from_dict(json.loads(render.render_json(p, audience="analyst")))
    assert back.tearline == p.tearline and back.release == p.release
    assert back.marking == p.marking and back.id == p.id
    for lang in ("en", "es"):
        assert render.render_html(back, lang=lang) == render.render_html(p, lang=lang)
        assert render.render_kml(back, lang=lang) == render.render_kml(p, lang=lang)
        assert render.render_pdf(back, lang=lang) == render.render_pdf(p, lang=lang)
    refs = json.loads(render.render_json(p, chips="refs"))
    with pytest.raises(TearlineError, match="no data"):
        codec.tearline_from_dict(refs)
    assert codec.tearline_from_dict(refs, render.chip_files(p)) == p.tearline
    tampered = json.loads(render.render_json(p))
    tampered["sites"][0]["lat"] = 123.0
    with pytest.raises(TearlineError, match="lat"):
        codec.tearline_from_dict(tampered)


def test_chips_need_a_site_to_belong_to(tmp_path: Path) -> None:
    """Observations without site_id cannot put chips on any site of a many-site product."""
    obs = make_observations_for().drop_columns(["site_id"])
    sites = [make_site("S1"), make_site("S2", lat=25.0)]
    p = digest(
        sites, (T0, T0 + dt.timedelta(days=5)), obs, make_chips(tmp_path), marking=MARKING,
        author="ana", created=T0,
    )  # fmt: skip
    assert all(s.chips == () for s in p.tearline.sites)
    one = site_report(sites[0], obs, make_chips(tmp_path), marking=MARKING, author="a", created=T0)
    assert len(one.tearline.sites[0].chips) == 3


def test_from_a_data_directory(tmp_path: Path) -> None:
    """The products take what the exploitation catalog hands over, as it hands it over."""
    from vigia.store.catalog import Catalog

    cat = Catalog(tmp_path / "data")
    cat.write_table("sites", _many_sites(3))
    obs = make_observations_for("S00000001")
    cat.write_table("observations", obs)
    cat.chips_dir.mkdir(parents=True)
    for obs_id, path in make_chips(tmp_path).items():
        (cat.chips_dir / f"{obs_id}.jpg").write_bytes(path.read_bytes())
    site = cat.site("S00000001")
    assert site is not None
    site_obs = cat.observations("S00000001")
    chips = {o: p for o in site_obs.column("obs_id").to_pylist() if (p := cat.chip_path(o))}
    p = site_report(site, site_obs, chips, marking=MARKING, author="ana", created=T0)
    assert len(p.tearline.sites[0].chips) == 3
    d = digest(cat.sites(), (T0, T0 + dt.timedelta(days=5)), cat.observations(), chips,
               marking=MARKING, author="ana", created=T0)  # fmt: skip
    assert [s.site_id for s in d.tearline.sites] == ["S00000000", "S00000001", "S00000002"]
    assert [len(s.chips) for s in d.tearline.sites] == [0, 1, 0]


def test_portal_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigia.share.markings import PORTAL_CEILING_ENV, portal_ceiling

    monkeypatch.delenv(PORTAL_CEILING_ENV, raising=False)
    ceiling = portal_ceiling()
    assert ceiling.banner() == "UNCLASSIFIED//FOUO"
    MARKING.require_within(ceiling)
    for level in ("CONFIDENTIAL", "SECRET", "TOP SECRET"):
        m = Marking(level, [], ["USA", "MEX"])
        assert m.exceeds(ceiling)
        with pytest.raises(MarkingError, match="above the maximum classification"):
            m.require_within(ceiling)
    monkeypatch.setenv(PORTAL_CEILING_ENV, "SECRET")
    Marking("SECRET", [], ["USA", "MEX"]).require_within(portal_ceiling())


def test_release_rule_is_one_function() -> None:
    """share.approve and the store's approve_release both refuse through check_release."""
    from vigia.share.products import check_release

    ok = {"author": "ana", "approver": "sam", "approver_role": "supervisor", "marking": MARKING}
    check_release(**ok, countries=["MEX"])
    for bad, rule in (
        ({"approver": "ANA"}, "two-person"),
        ({"approver_role": "analyst"}, "two-person"),
        ({"marking": Marking("SECRET", [], ["USA", "MEX"])}, "releasability"),
        ({"marking": Marking("UNCLASSIFIED", ["FOUO"], ["USA"])}, "releasability"),
    ):
        with pytest.raises(ReleaseError) as info:
            check_release(**(ok | bad), countries=["MEX"])
        assert info.value.rule == rule
    with pytest.raises(ReleaseError, match="not releasable to CAN"):
        check_release(**ok, countries=["MEX", "CAN"])


def test_sortie_summary_names_only_candidate_sites() -> None:
    """A sortie sees many ordinary places: only candidate sites reach the partner's tearline."""
    sites = [
        make_site(f"S{i:08x}", candidate=i % 3 == 0, sorties=[MISSION], probability=0.9)
        for i in range(9)
    ]
    p = sortie_summary({"mission_id": MISSION}, sites, marking=MARKING, author="ana", created=T0)
    assert [s.site_id for s in p.tearline.sites] == ["S00000000", "S00000003", "S00000006"]
    assert [s["site_id"] for s in p.body["sites"]] == ["S00000000", "S00000003", "S00000006"]
    every = sortie_summary(
        {"mission_id": MISSION}, sites, marking=MARKING, author="ana", created=T0,
        candidates_only=False,
    )  # fmt: skip
    assert len(every.tearline.sites) == 9
