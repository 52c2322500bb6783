"""One consent decision, one gate: no module outside `coverage/consent.py` decides consent, every
later stage goes through the gate, and what is not consented never reaches a site, a chip or a
product; without AOIs nothing does; a revocation withholds what is already held."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import vigia
from vigia.api.views import ChipIndex
from vigia.app.ingest import ingest
from vigia.coverage.consent import STATUSES, apply_consent, load_aois
from vigia.errors import ConsentError
from vigia.exploit.chips import cut_chips
from vigia.exploit.fusion import fuse
from vigia.exploit.observations import make_observations
from vigia.share.tearline import releasable_observations
from vigia.store.catalog import Catalog

PACKAGE = Path(vigia.__file__).parent
THE_RULE = PACKAGE / "coverage" / "consent.py"
#: Names of the gate (and of the functions built on it) a later stage may call.
GATE = {"releasable_mask", "require_releasable", "usable_mask", "releasable_observations"}
#: Later stages that filter observations or footprints, and the gate name each must call.
STAGES = {
    "exploit/fusion.py": GATE,
    "exploit/chips.py": GATE,
    "app/ingest.py": {"apply_consent"},
    "share/tearline.py": GATE,
    "share/products.py": GATE,
    "api/views.py": GATE,
}
#: Registry methods that hold the rule's geometry: only the rule calls them.
RULE_METHODS = {"is_consented", "polygon_consent"}
COMPARE_CALLS = {"equal", "not_equal", "is_in", "index_in"}

LAT, LON = 24.80, -107.40
T_MARK = "2026-03-14T18:00:00Z"


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != THE_RULE)


def _called_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def _consent_strings(node: ast.AST) -> list[str]:
    return [
        n.value
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in STATUSES
    ]


def _decisions(tree: ast.AST) -> list[str]:
    """Places where a module compares consent strings or calls the rule's geometry."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and _consent_strings(node):
            found.append(f"line {node.lineno}: compares {_consent_strings(node)}")
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in RULE_METHODS:
                found.append(f"line {node.lineno}: calls {name}")
            elif name in COMPARE_CALLS and any(_consent_strings(a) for a in node.args):
                found.append(f"line {node.lineno}: {name}() with a consent string")
    return found


def test_no_module_outside_the_rule_decides_consent() -> None:
    offenders = {}
    for path in _modules():
        found = _decisions(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            offenders[str(path.relative_to(PACKAGE))] = found
    assert offenders == {}


def test_the_walk_sees_a_decision() -> None:
    """The walk itself can fail: a module deciding consent by itself is caught."""
    src = (
        "def flag(t, reg):\n"
        "    inside = reg.is_consented(t.lat, t.lon, t.time)\n"
        "    return [s == 'withheld' for s in t.status], pc.equal(t.c, 'consented'), inside\n"
    )
    assert len(_decisions(ast.parse(src))) == 3


@pytest.mark.parametrize("module", sorted(STAGES))
def test_each_later_stage_goes_through_the_gate(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    assert _called_names(tree) & STAGES[module], f"{module} does not call the consent gate"
    status_ok = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Compare | ast.Call)
        and any(isinstance(c, ast.Constant) and c.value == "ok" for c in ast.walk(n))
        and any(isinstance(c, ast.Name | ast.Attribute) for c in ast.walk(n))
        and "status" in ast.unparse(n)
    ]
    assert status_ok == [], f"{module} filters on 'ok' itself (lines {status_ok})"


# --- behaviour ----------------------------------------------------------------------------------
def _aois(tmp: Path, revoked_at: str | None = None) -> Path:
    props: dict[str, Any] = {
        "name": "Sierra",
        "authority": "SEDENA",
        "state": "consented",
        "consent_from": "2026-01-01T00:00:00Z",
        "consent_until": "2026-12-31T00:00:00Z",
    }
    if revoked_at is not None:
        props.update(state="revoked", revoked_at=revoked_at)
    d = 0.2
    ring = [[LON - d, LAT - d], [LON + d, LAT - d], [LON + d, LAT + d], [LON - d, LAT + d]]
    feat = {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    }
    p = tmp / ("revoked.geojson" if revoked_at else "aois.geojson")
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [feat]}))
    return p


def _marks(tmp: Path) -> Path:
    feats = [
        {
            "type": "Feature",
            "properties": {"indicator": ind, "time": T_MARK, "ce90_m": 15.0, "author": "ana"},
            "geometry": {"type": "Point", "coordinates": [LON + k * 1e-5, LAT]},
        }
        for k, ind in enumerate(["tarp_structure", "chemical_containers", "burn_waste_pit"])
    ]
    p = tmp / "marks.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return p


def test_no_registry_no_sites(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    rep = ingest([_marks(tmp_path)], cat)
    assert rep.sites == 0 and cat.sites().num_rows == 0
    assert rep.warnings and "no consent AOIs" in rep.warnings[0]
    assert rep.inputs[0].by_consent == {"undetermined": 3}
    assert releasable_observations(cat.observations()).num_rows == 0


def test_a_revoked_aoi_withholds_what_is_already_held(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    rep = ingest([_marks(tmp_path)], cat, aois=_aois(tmp_path))
    assert rep.sites == 1
    assert releasable_observations(cat.observations()).num_rows == 3
    # consent revoked before the marks were made; nothing new is ingested
    again = ingest([_marks(tmp_path)], cat, aois=_aois(tmp_path, "2026-02-01T00:00:00Z"))
    assert again.inputs[0].status == "unchanged"
    assert again.sites == 0 and cat.sites().num_rows == 0
    obs = cat.observations()
    assert obs.column("consent_status").to_pylist() == ["withheld"] * 3
    assert set(obs.column("site_id").to_pylist()) == {None}
    assert releasable_observations(obs).num_rows == 0


def _table(consent: list[str]) -> pa.Table:
    n = len(consent)
    return make_observations(
        n,
        {
            "obs_id": [f"O{k:04d}" for k in range(n)],
            "time": np.full(n, 1_773_511_200_000_000),
            "source": "vmti",
            "indicator": "tarp_structure",
            "confidence": np.full(n, 0.9),
            "lat": np.full(n, LAT),
            "lon": np.full(n, LON),
            "cov_ee_m2": np.full(n, 25.0),
            "cov_en_m2": np.zeros(n),
            "cov_nn_m2": np.full(n, 25.0),
            "pts_90k": np.arange(n) * 3003,
            "box_x0_px": np.full(n, 10.0),
            "box_y0_px": np.full(n, 10.0),
            "box_x1_px": np.full(n, 50.0),
            "box_y1_px": np.full(n, 50.0),
            "consent_status": consent,
        },
    )


def test_not_consented_never_reaches_fusion_or_a_product() -> None:
    obs = _table(["consented", "withheld", "undetermined"])
    assert obs.column("status").to_pylist() == ["ok"] * 3  # consent is not in 'status'
    f = fuse(obs, gate_d2=9.0)
    assert f.site_index.tolist()[1:] == [-1, -1] and f.site_index[0] >= 0
    assert releasable_observations(obs).column("obs_id").to_pylist() == ["O0000"]


def test_undecided_consent_is_refused() -> None:
    obs = _table(["consented"]).drop_columns(["consent_status"])
    with pytest.raises(ConsentError):
        fuse(obs, gate_d2=9.0)
    with pytest.raises(ConsentError):
        cut_chips("no-such-file.ts", obs, "chips")


def test_chips_of_withheld_observations_are_not_served(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    obs = _table(["consented", "withheld"]).append_column("site_id", pa.array(["S1", "S1"]))
    cat.write_table("observations", obs)
    cat.chips_dir.mkdir()
    for o in ("O0000", "O0001"):
        (cat.chips_dir / f"{o}.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    idx = ChipIndex(cat)
    assert idx.site_of("O0000") == ("S1", True)
    assert idx.site_of("O0001") == ("S1", False)


def test_footprints_and_points_are_decided_by_the_same_function(tmp_path: Path) -> None:
    reg = load_aois(_aois(tmp_path))
    t = 1_773_511_200_000_000
    pts = apply_consent({"lat": [LAT, LAT + 1.0], "lon": [LON, LON], "time": [t, t]}, reg)
    assert pts.column("consent_status").to_pylist() == ["consented", "withheld"]
    none = apply_consent({"lat": [LAT], "lon": [LON], "time": [t]}, None)
    assert none.column("consent_status").to_pylist() == ["undetermined"]
