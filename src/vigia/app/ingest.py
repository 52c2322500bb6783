"""Ingest: sources -> telemetry -> footprints -> coverage -> observations -> sites, stored.

``ingest`` takes transport streams (or raw KLV files) and GeoJSON files of analyst marks and
tips, and updates a :class:`~vigia.store.catalog.Catalog`. An input is identified by the
SHA-256 of its bytes: ingesting the same file again changes nothing. After new inputs, every
observation is fused and scored again, so the result does not depend on the order of ingestion.

Consent is applied retroactively. The manifest records the SHA-256 of the AOIs the data is held
under (``aois.sha256``, of their canonical GeoJSON, `aois_sha256`). When the AOIs change (given
again with ``aois``, or the copy kept in the data directory edited), the next ingest, even with
no new input, gates every held observation again and re-fuses the sites, so the catalog is the
one a fresh ingest under the new AOIs would write; the change is appended to the manifest's
``consent_changes`` (`ConsentChange`: the hashes before and after, the AOIs added, removed or
changed, the observations whose consent status changed, counted per transition, and the sites
before and after).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from vigia.coverage.accumulate import CoverageAccumulator, Visits, cells_table, merge_passes
from vigia.coverage.consent import STATUS_COLUMN, ConsentRegistry, apply_consent, load_aois
from vigia.errors import CatalogError, ConsentError, SourceError
from vigia.exploit.chips import cut_chips
from vigia.exploit.detect import Detector, carries_video, detect_video
from vigia.exploit.fusion import fuse
from vigia.exploit.marks import is_marks_file, marks_observations, read_marks
from vigia.exploit.observations import OBSERVATION_SCHEMA
from vigia.exploit.scoring import PASSES_SCHEMA, score_sites
from vigia.exploit.vmti import VmtiStats, split_standalone, vmti_observations
from vigia.exploit.vocabulary import Vocabulary, default_vocabulary
from vigia.footprints import Footprinter, TerrainOptions
from vigia.geo import PoseSigmas
from vigia.mpegts.udp import UdpSource, parse_udp_url
from vigia.store.catalog import Catalog, CatalogTransaction
from vigia.telemetry.source import TelemetryReader
from vigia.times import iso_time

__all__ = [
    "PASS_KEY",
    "ConsentChange",
    "IngestReport",
    "InputReport",
    "aois_sha256",
    "dedupe_passes",
    "ingest",
    "refuse_sites",
]

ProgressFn = Callable[[int], None]


@dataclass
class InputReport:
    """What ingesting one input did."""

    path: str
    sha256: str
    kind: str
    status: str
    """'ingested', 'unchanged' (already ingested: nothing was done) or 'truncated' (ends
    mid-packet: not ingested, unless accepted)."""
    sortie: str | None = None
    packets: int = 0
    observations: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_consent: dict[str, int] = field(default_factory=dict)
    """Rows per ``consent_status`` ('consented', 'withheld', 'undetermined')."""
    vmti: dict[str, Any] = field(default_factory=dict)
    klv: dict[str, Any] = field(default_factory=dict)
    chips: int = 0
    detector: dict[str, Any] = field(default_factory=dict)
    terrain: str | None = None
    """The terrain its footprints used ('dem', 'stream_elevation', 'constant')."""
    truncated: dict[str, Any] | None = None
    """Where a stream ends mid-packet: ``why``, ``at_byte``, ``size_bytes``, ``packets_read``
    and, where the stream's own rate says, ``packets_expected``; None when it is whole."""
    seconds: float = 0.0


@dataclass
class ConsentChange:
    """AOIs that changed under data already held, and what applying them again changed."""

    at: str
    """When it was applied (ISO 8601 UTC)."""
    from_sha256: str | None
    to_sha256: str | None
    """`aois_sha256` of the AOIs before and after (None: no AOIs)."""
    aois: dict[str, list[str]] | None
    """AOI names ``added``, ``removed`` and ``changed``; None when the earlier AOIs are not
    known any more (the kept copy was edited in place)."""
    observations: dict[str, int]
    """Held observations whose consent status changed, per ``before->after``."""
    sites_before: int
    sites_after: int
    candidates_before: int
    candidates_after: int


@dataclass
class IngestReport:
    """What an ingest run did, and the state of the catalog after it."""

    inputs: list[InputReport]
    sites: int
    candidates: int
    observations: int
    warnings: list[str] = field(default_factory=list)
    """Why a step did not run (no consent AOIs; no video: chips and detector skipped)."""
    consent_change: ConsentChange | None = None
    """Set when the AOIs changed under held data and were applied to it again."""
    removed: list[dict[str, Any]] = field(default_factory=list)
    """The inputs taken out (``sha256``, ``path``)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "inputs": [i.__dict__ for i in self.inputs],
            "sites": self.sites,
            "candidates": self.candidates,
            "observations": self.observations,
            "warnings": self.warnings,
            "consent_change": None if self.consent_change is None else asdict(self.consent_change),
            "removed": self.removed,
        }


def file_sha256(path: str | PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _passes_table(v: Visits, sortie: str | None) -> pa.Table:
    n = len(v)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "cell": pa.array(v.cell, pa.uint64()),
            "lat": v.lat,
            "lon": v.lon,
            "t0": pa.array(v.t0, pa.int64()).cast(ts),
            "t1": pa.array(v.t1, pa.int64()).cast(ts),
            "n_frames": pa.array(v.n_frames, pa.int64()),
            "gsd_m": pa.array(v.gsd, pa.float64(), from_pandas=True),
            "sensor_bits": pa.array(v.sensor_bits, pa.uint8()),
            "light_bits": pa.array(v.light_bits, pa.uint8()),
            "sortie": pa.array([sortie] * n, pa.string()),
        },
        schema=PASSES_SCHEMA,
    )


def _visits(t: pa.Table) -> Visits:
    def col(name: str, dt: Any) -> Any:
        c = t.column(name)
        if pa.types.is_timestamp(c.type):
            c = c.cast(pa.int64())
        return np.asarray(c.to_numpy(zero_copy_only=False), dt)

    return Visits(
        cell=col("cell", np.uint64),
        lat=col("lat", np.float64),
        lon=col("lon", np.float64),
        t0=col("t0", np.int64),
        t1=col("t1", np.int64),
        n_frames=col("n_frames", np.int64),
        gsd=col("gsd_m", np.float64),
        sensor_bits=col("sensor_bits", np.uint8),
        light_bits=col("light_bits", np.uint8),
    )


def _sortie_id(table: pa.Table, path: Path) -> str:
    if "mission_id" in table.column_names:
        ids = [x for x in table.column("mission_id").drop_null().unique().to_pylist() if x]
        if ids:
            return str(ids[0])
    return path.stem


def _ingest_stream(
    path: Path,
    rep: InputReport,
    *,
    vocab: Vocabulary,
    terrain: TerrainOptions,
    sigmas: PoseSigmas | None,
    progress: ProgressFn | None,
    detector: Detector | None = None,
    every_n_frames: int = 5,
) -> tuple[pa.Table, pa.Table]:
    """Observations and coverage passes of one stream."""
    chunks: list[pa.Table] = []
    reader = TelemetryReader(str(path), progress=progress, keep_vmti=True)
    acc = CoverageAccumulator()
    obs_parts: list[pa.Table] = []
    stats = VmtiStats()
    sortie: str | None = None
    # The VMTI of a chunk is read once the next chunk is in, so that a stand-alone ST 0903
    # packet near the boundary is tied to the nearest row of either (split_standalone).
    held: tuple[pa.Table, Any, TerrainOptions] | None = None
    alone: list[tuple[int, bytes]] = []
    with Footprinter(terrain) as fp:

        def vmti(held: tuple[pa.Table, Any, TerrainOptions], packets: list[Any]) -> pa.Table:
            chunk, gsd_m, used = held
            return vmti_observations(
                chunk,
                vocab,
                sortie=sortie,
                standalone=packets,
                terrain_height_m=used.terrain_height_m,
                dem=fp.dem,
                use_stream_elevation=used.use_stream_elevation,
                sigmas=sigmas,
                frame_width_px=used.frame_width_px,
                frame_height_px=used.frame_height_px,
                gsd_m=gsd_m,
                source_file=str(path),
                stats=stats,
            )

        for chunk in reader:
            if sortie is None:
                sortie = _sortie_id(chunk, path)
            rep.packets += chunk.num_rows
            if detector is not None:
                chunks.append(chunk)
            res, table = fp(chunk)
            acc.add(table)
            used = fp.terrain
            assert used is not None
            rep.terrain = used.source
            alone += reader.take_vmti()
            if held is not None:
                now, alone = split_standalone(alone, held[0], chunk)
                obs_parts.append(vmti(held, now))
            held = (chunk, res["gsd_m"], used)
        alone += reader.take_vmti()
        if held is not None:
            obs_parts.append(vmti(held, alone))
        else:
            vmti_observations(pa.table({}), vocab, sortie=sortie, standalone=alone, stats=stats)
        if detector is not None and chunks and fp.terrain is not None:
            run = detect_video(
                path,
                pa.concat_tables(chunks),
                detector,
                sortie=sortie or path.stem,
                terrain_height_m=fp.terrain.terrain_height_m,
                dem=fp.dem,
                use_stream_elevation=fp.terrain.use_stream_elevation,
                sigmas=sigmas,
                every_n_frames=every_n_frames,
                source_file=str(path),
            )
            rep.detector = run.as_dict()
            obs_parts.append(run.observations)
    rep.sortie = sortie or path.stem
    rep.truncated = _truncation(path, reader, rep.packets)
    rep.vmti = stats.as_dict()
    rep.klv = {k: v for k, v in reader.stats.as_dict().items() if isinstance(v, int | float | str)}
    obs = pa.concat_tables(obs_parts) if obs_parts else OBSERVATION_SCHEMA.empty_table()
    return obs, _passes_table(acc.passes(), rep.sortie)


def _truncation(path: Path, reader: TelemetryReader, packets: int) -> dict[str, Any] | None:
    """How a stream ends mid-packet (a copy cut short), or None when its last packet is whole:
    a last transport-stream packet, or a last KLV packet whose declared length runs past the
    end of the file."""
    ts = reader.transport_stats()
    if ts is not None and ts.get("tail_cut_at") is not None:
        at, what = int(ts["tail_cut_at"]), "a transport-stream packet"
    elif reader.stats.cut_short_at is not None:
        at, what = int(reader.stats.cut_short_at), "a KLV packet"
    else:
        return None
    size = path.stat().st_size
    return {
        "why": f"ends mid-way through {what} at byte {at:,} of {size:,}; {packets:,} packets read",
        "at_byte": at,
        "size_bytes": size,
        "packets_read": packets,
    }


#: The ingest report's warning when there is no consent registry (fail closed).
NO_AOIS_WARNING = (
    "no consent AOIs (give --aois FILE): every observation is 'undetermined' and none reaches "
    "a site"
)


def aois_sha256(registry: ConsentRegistry | None) -> str | None:
    """SHA-256 of the AOIs as kept (their canonical GeoJSON), or None without AOIs: two AOI files
    with the same consent have the same hash whatever their formatting."""
    if registry is None:
        return None
    text = json.dumps(registry.to_geojson(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _kept_features(catalog: Catalog) -> dict[str, str] | None:
    """Each kept AOI's canonical feature by name, or None when there is no readable kept copy."""
    if not catalog.aois_path.exists():
        return None
    try:
        reg = load_aois(catalog.aois_path)
    except ConsentError:
        return None
    return {a.name: json.dumps(a.to_feature(), sort_keys=True) for a in reg}


def _aoi_diff(before: dict[str, str] | None, after: ConsentRegistry | None) -> dict[str, list[str]]:
    old = before or {}
    new = (
        {} if after is None else {a.name: json.dumps(a.to_feature(), sort_keys=True) for a in after}
    )
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(k for k in set(old) & set(new) if old[k] != new[k]),
    }


def capture_udp(
    url: str,
    captures_dir: Path,
    *,
    duration_s: float | None = None,
    idle_timeout_s: float = 5.0,
    on_ready: Callable[[], None] | None = None,
) -> Path:
    """Record the transport stream arriving on ``url`` (``udp://HOST:PORT``) into a new file of
    ``captures_dir`` (``udp-PORT-<UTC time>.ts``), for ``duration_s`` seconds or until nothing
    arrives for ``idle_timeout_s``; ``on_ready`` is called once the socket is bound. Refused
    (:class:`SourceError`, nothing kept) when nothing arrived."""
    _host, port, _multicast = parse_udp_url(url)
    captures_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = captures_dir / f"udp-{port}-{stamp}.ts"
    part = path.with_suffix(".ts.part")
    deadline = None if duration_s is None else time.monotonic() + duration_s
    received = 0
    with UdpSource(url, timeout=idle_timeout_s) as udp, part.open("wb") as fh:
        if on_ready is not None:
            on_ready()
        for data in udp:
            fh.write(data)
            received += len(data)
            if deadline is not None and time.monotonic() >= deadline:
                break
    if not received:
        part.unlink(missing_ok=True)
        raise SourceError(f"nothing arrived on {url} within {idle_timeout_s:g} s")
    part.rename(path)
    return path


def no_video_warning(path: Path, detector: bool) -> str:
    """The ingest report's line for an input without video (raw KLV, or metadata alone)."""
    steps = "chips and detector" if detector else "chips"
    return f"{path.name}: no video: {steps} skipped, telemetry and VMTI ingested"


def _registry(
    catalog: Catalog, aois: str | PathLike[str] | Mapping[str, Any] | None
) -> ConsentRegistry | None:
    """The AOIs given (to be kept in the catalog, replacing earlier ones), else the catalog's,
    or None."""
    if aois is not None:
        return load_aois(aois)
    if catalog.aois_path.exists():
        return load_aois(catalog.aois_path)
    return None


def _transitions(old: pa.Table, new: pa.Table) -> dict[str, int]:
    """Per ``before->after``, held observations (by ``obs_id``) whose consent status changed."""
    if old.num_rows == 0 or STATUS_COLUMN not in old.column_names:
        return {}
    nid = np.asarray(new.column("obs_id").to_numpy(zero_copy_only=False), dtype=object)
    nst = np.asarray(new.column(STATUS_COLUMN).to_numpy(zero_copy_only=False), dtype=object)
    after = dict(zip(nid.tolist(), nst.tolist(), strict=True))
    counts: dict[str, int] = {}
    ids = old.column("obs_id").to_pylist()
    was = old.column(STATUS_COLUMN).cast(pa.string()).fill_null("undetermined").to_pylist()
    for i, b in zip(ids, was, strict=True):
        a = after.get(i)
        if a is not None and a != b:
            key = f"{b}->{a}"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _n_candidates(sites: pa.Table) -> int:
    return int(pc.sum(sites.column("candidate")).as_py() or 0) if sites.num_rows else 0


def ingest(
    sources: Sequence[str | PathLike[str]],
    catalog: Catalog,
    *,
    aois: str | PathLike[str] | Mapping[str, Any] | None = None,
    terrain: TerrainOptions | None = None,
    sigmas: PoseSigmas | None = None,
    vocab: Vocabulary | None = None,
    chips: bool = True,
    detector: Detector | None = None,
    every_n_frames: int = 5,
    progress: Callable[[str, int | None], ProgressFn | None] | None = None,
    udp_duration_s: float | None = None,
    remove: Sequence[str] = (),
    accept_truncated: bool = False,
    wait_s: float = 0.0,
) -> IngestReport:
    """Ingest ``sources`` into ``catalog`` and re-score its sites (see the module docstring).

    ``aois`` are the consent AOIs (kept in the catalog; given again, they replace the kept ones
    and every held observation is gated again; when they differ from those the data is held
    under, the change is recorded, see the module docstring). ``sources`` may be empty: the AOIs
    are then applied again to what is held. Without any, every observation is
    'undetermined' (fail closed): no sites, and the report says so in ``warnings``. ``detector``
    runs on every ``every_n_frames``-th decoded video frame of streams that carry video.
    ``progress`` is a factory ``(label, total_bytes) -> callback(n_bytes)`` for long inputs.
    A ``udp://`` source is first recorded (:func:`capture_udp`, for ``udp_duration_s`` seconds or
    until it goes quiet) into the data directory's ``captures/``, and that file is ingested: the
    stream is kept as it arrived, and ingesting it again changes nothing.

    ``remove`` names inputs to take out (a path as ingested, or a SHA-256 or a unique prefix of
    8 or more of its hex digits): their observations and coverage leave the catalog and the
    sites are fused again. A stream that ends mid-packet is ``truncated`` and not committed
    unless ``accept_truncated``. The run is one transaction (see :mod:`vigia.store.catalog`),
    under the data directory's writers' lock (another writer: wait ``wait_s`` seconds, then
    :class:`~vigia.errors.CatalogBusy`).
    """
    with catalog.writer(wait_s=wait_s):
        return _ingest(
            sources,
            catalog,
            aois=aois,
            terrain=terrain or TerrainOptions(),
            sigmas=sigmas,
            vocab=vocab or default_vocabulary(),
            chips=chips,
            detector=detector,
            every_n_frames=every_n_frames,
            progress=progress,
            udp_duration_s=udp_duration_s,
            remove=remove,
            accept_truncated=accept_truncated,
        )


def _match_inputs(manifest: dict[str, Any], spec: str) -> list[str]:
    """SHA-256s of the held inputs that ``spec`` names (see :func:`ingest`'s ``remove``)."""
    inputs = manifest["inputs"]
    s = spec.strip().lower()
    if len(s) >= 8 and all(c in "0123456789abcdef" for c in s):
        hits = [sha for sha in inputs if sha.startswith(s)]
        if hits:
            return hits
    want = {spec, str(Path(spec)), str(Path(spec).absolute())}
    return [
        sha
        for sha, entry in inputs.items()
        if {str(entry.get("path")), str(Path(str(entry.get("path"))).absolute())} & want
    ]


def _ingest(
    sources: Sequence[str | PathLike[str]],
    catalog: Catalog,
    *,
    aois: str | PathLike[str] | Mapping[str, Any] | None,
    terrain: TerrainOptions,
    sigmas: PoseSigmas | None,
    vocab: Vocabulary,
    chips: bool,
    detector: Detector | None,
    every_n_frames: int,
    progress: Callable[[str, int | None], ProgressFn | None] | None,
    udp_duration_s: float | None,
    remove: Sequence[str],
    accept_truncated: bool,
) -> IngestReport:
    manifest = catalog.manifest()
    removed: dict[str, dict[str, Any]] = {}
    for spec in remove:
        hits = _match_inputs(manifest, spec)
        if not hits:
            raise CatalogError(f"--remove {spec}: no such input in {catalog.root}")
        if len(hits) > 1:
            raise CatalogError(
                f"--remove {spec}: {len(hits)} inputs match ({', '.join(h[:12] for h in hits)}); "
                "name one by its SHA-256"
            )
        removed[hits[0]] = manifest["inputs"].pop(hits[0])
    kept_before = _kept_features(catalog) if aois is not None else None
    registry = _registry(catalog, aois)
    held_sha = (manifest.get("aois") or {}).get("sha256")
    new_sha = aois_sha256(registry)
    consent_changed = new_sha != held_sha
    held_before = bool(manifest["inputs"]) or bool(removed)
    sites_before = catalog.sites() if consent_changed and held_before else None
    reports: list[InputReport] = []
    new_obs: list[pa.Table] = []
    new_passes: list[pa.Table] = []
    records: dict[str, tuple[pa.Table, pa.Table | None]] = {}
    warnings: list[str] = []
    for src in sources:
        if str(src).startswith("udp://"):
            path = capture_udp(str(src), catalog.captures_dir, duration_s=udp_duration_s)
            warnings.append(f"{src}: recorded to {path} and ingested from there")
        else:
            path = Path(src)
        sha = file_sha256(path)
        kind = "marks" if is_marks_file(path) else "stream"
        rep = InputReport(path=str(path), sha256=sha, kind=kind, status="unchanged")
        reports.append(rep)
        if sha in manifest["inputs"] or sha in records:
            rep.sortie = (manifest["inputs"].get(sha) or {}).get("sortie") or rep.sortie
            continue
        t0 = time.perf_counter()
        video = False
        passes: pa.Table | None = None
        if kind == "marks":
            obs = marks_observations(read_marks(path), vocab, source_file=str(path))
        else:
            video = carries_video(path)
            cb = progress(path.name, path.stat().st_size) if progress else None
            obs, passes = _ingest_stream(
                path,
                rep,
                vocab=vocab,
                terrain=terrain,
                sigmas=sigmas,
                progress=cb,
                detector=detector if video else None,
                every_n_frames=every_n_frames,
            )
            if rep.truncated is not None and not accept_truncated:
                rep.status = "truncated"
                warnings.append(
                    f"{path.name}: truncated ({rep.truncated['why']}): not ingested; "
                    "give --accept-truncated to ingest what it holds"
                )
                continue
            if not video and (chips or detector is not None):
                warnings.append(no_video_warning(path, detector is not None))
            new_passes.append(passes)
        obs = apply_consent(obs, registry)
        if kind == "stream" and chips and video:
            rep.chips = _cut_chips(path, obs, catalog)
        new_obs.append(obs)
        records[sha] = (obs, passes)
        rep.status = "ingested"
        rep.observations = obs.num_rows
        rep.by_status = {
            str(d["values"]): int(d["counts"])
            for d in pc.value_counts(obs.column("status")).to_pylist()
        }
        rep.by_consent = {
            str(d["values"]): int(d["counts"])
            for d in pc.value_counts(obs.column(STATUS_COLUMN)).to_pylist()
        }
        rep.seconds = round(time.perf_counter() - t0, 3)
        manifest["inputs"][sha] = {
            "path": str(path),
            "kind": kind,
            "sortie": rep.sortie,
            "packets": rep.packets,
            "observations": rep.observations,
            "by_status": rep.by_status,
            "vmti": rep.vmti,
            **({"truncated": rep.truncated} if rep.truncated else {}),
        }
    change: ConsentChange | None = None
    if new_obs or new_passes or removed or aois is not None or consent_changed:
        txn = catalog.transaction()
        old = catalog.observations()
        old = old.drop_columns(["site_id"]) if "site_id" in old.column_names else old
        old_passes = catalog.coverage_passes()
        if removed:
            old, old_passes = _without_inputs(catalog, old, old_passes, removed, manifest)
        all_obs = pa.concat_tables([old.cast(old.schema), *new_obs], promote_options="default")
        all_obs = _dedupe(all_obs)
        passes = dedupe_passes(pa.concat_tables([old_passes, *new_passes]))
        if aois is not None and registry is not None:
            txn.write_aois(registry.to_geojson())
        for sha, (obs, pas) in records.items():
            txn.write_input(sha, "observations", obs)
            if pas is not None:
                txn.write_input(sha, "passes", pas)
        for sha in removed:
            txn.remove_input(sha)
        txn.write_table("coverage_passes", passes)
        txn.write_table("coverage", cells_table(merge_passes(_visits(passes), 0), {}))
        sites, fused = refuse_sites(txn, all_obs, passes, vocab=vocab, registry=registry)
        manifest["vocabulary"] = vocab.ident
        manifest["terrain"] = terrain.__dict__
        manifest["aois"] = {"sha256": new_sha, "features": 0 if registry is None else len(registry)}
        if removed:
            manifest.setdefault("removed", []).extend(
                {"sha256": sha, "path": e.get("path"), "at": iso_time(datetime.now(UTC))}
                for sha, e in removed.items()
            )
        if sites_before is not None and consent_changed:
            change = ConsentChange(
                at=iso_time(datetime.now(UTC)),
                from_sha256=held_sha,
                to_sha256=new_sha,
                aois=None if aois is None else _aoi_diff(kept_before, registry),
                observations=_transitions(old, fused),
                sites_before=sites_before.num_rows,
                sites_after=sites.num_rows,
                candidates_before=_n_candidates(sites_before),
                candidates_after=_n_candidates(sites),
            )
            manifest.setdefault("consent_changes", []).append(asdict(change))
        txn.write_manifest(manifest)
        txn.commit()
    sites = catalog.sites()
    return IngestReport(
        inputs=reports,
        sites=sites.num_rows,
        candidates=_n_candidates(sites),
        observations=catalog.observations().num_rows,
        warnings=([NO_AOIS_WARNING] if registry is None else []) + warnings,
        consent_change=change,
        removed=[{"sha256": sha, "path": e.get("path")} for sha, e in removed.items()],
    )


#: The key of a coverage pass: one sortie's look at one cell, from when it began.
PASS_KEY = ("sortie", "cell", "t0")


def dedupe_passes(passes: pa.Table) -> pa.Table:
    """One row per :data:`PASS_KEY`: the one with the most frames (then the latest end), so
    that a pass held twice, or cut short in one input and whole in another, counts once."""
    if passes.num_rows == 0:
        return passes
    order = passes.sort_by(
        [
            ("sortie", "ascending"),
            ("cell", "ascending"),
            ("t0", "ascending"),
            ("n_frames", "descending"),
            ("t1", "descending"),
        ]
    )
    # sorted, so equal keys are adjacent: keep the first row of each run
    sortie = pc.dictionary_encode(order.column("sortie").combine_chunks()).indices
    keys = [
        np.asarray(pc.fill_null(sortie, -1).to_numpy(zero_copy_only=False)),
        np.asarray(pc.fill_null(order.column("cell"), 0).to_numpy()),
        np.asarray(pc.fill_null(order.column("t0").cast(pa.int64()), 0).to_numpy()),
    ]
    first = np.ones(order.num_rows, dtype=bool)
    first[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    if first.all():
        return passes
    return order.filter(pa.array(first))


def _pass_ids(t: pa.Table) -> pa.ChunkedArray:
    """One string per pass naming it whole: its key (:data:`PASS_KEY`), end and frames."""
    parts = [
        pc.fill_null(pc.cast(t.column(k), pa.string()), "") for k in (*PASS_KEY, "t1", "n_frames")
    ]
    return pc.binary_join_element_wise(*parts, "|")


def _unique(parts: list[Any]) -> pa.Array:
    """The distinct strings of ``parts`` (arrays), as one array."""
    if not parts:
        return pa.array([], pa.string())
    return pc.unique(pa.chunked_array(parts, pa.string()).combine_chunks())


def _without_inputs(
    catalog: Catalog,
    obs: pa.Table,
    passes: pa.Table,
    removed: Mapping[str, Mapping[str, Any]],
    manifest: Mapping[str, Any],
) -> tuple[pa.Table, pa.Table]:
    """``obs`` and ``passes`` without what the ``removed`` inputs gave and no input left still
    gives (an input ingested before inputs were kept one by one: its observations by source
    file, its passes by sortie)."""

    def given(shas: Any) -> tuple[list[Any], list[Any], list[str], list[str]]:
        """Observation ids and pass ids the inputs ``shas`` gave; source files and sorties of
        those ingested before inputs were kept one by one."""
        ids: list[Any] = []
        pass_ids: list[Any] = []
        files: list[str] = []
        sorties: list[str] = []
        for sha in shas:
            o = catalog.input_table(sha, "observations")
            if o is None:
                entry = removed.get(sha) or manifest["inputs"].get(sha) or {}
                files.append(str(entry.get("path")))
                sorties.append(str(entry.get("sortie")))
                continue
            ids.extend(o.column("obs_id").chunks)
            pas = catalog.input_table(sha, "passes")
            if pas is not None and pas.num_rows:
                pass_ids.extend(_pass_ids(pas).chunks)
        return ids, pass_ids, files, sorties

    gone_ids, gone_pass_ids, gone_files, gone_sorties = given(removed)
    kept_ids, kept_pass_ids, _, _ = given(manifest["inputs"])
    gone = pc.filter(_unique(gone_ids), pc.invert(pc.is_in(_unique(gone_ids), _unique(kept_ids))))
    gone_p = _unique(gone_pass_ids)
    gone_p = pc.filter(gone_p, pc.invert(pc.is_in(gone_p, _unique(kept_pass_ids))))
    keep_obs = pc.invert(
        pc.or_(
            pc.is_in(obs.column("obs_id"), gone),
            pc.is_in(obs.column("source_file"), pa.array(gone_files, pa.string())),
        )
    )
    keep_passes = pc.invert(
        pc.or_(
            pc.is_in(_pass_ids(passes), gone_p),
            pc.is_in(passes.column("sortie"), pa.array(gone_sorties, pa.string())),
        )
    )
    return obs.filter(pc.fill_null(keep_obs, True)), passes.filter(pc.fill_null(keep_passes, True))


def _dedupe(obs: pa.Table) -> pa.Table:
    ids = obs.column("obs_id").to_numpy(zero_copy_only=False)
    _, first = np.unique(ids, return_index=True)
    if first.size == obs.num_rows:
        return obs
    return obs.take(pa.array(np.sort(first)))


def _cut_chips(path: Path, obs: pa.Table, catalog: Catalog) -> int:
    return len(cut_chips(path, obs, catalog.chips_dir))


def _aoi_names(registry: ConsentRegistry | None, lat: np.ndarray, lon: np.ndarray) -> list[Any]:
    names: list[Any] = [None] * lat.size
    if registry is None:
        return names
    for a in registry:
        hit = shapely.intersects_xy(a.geometry, lon, lat)
        for i in np.flatnonzero(hit).tolist():
            if names[i] is None:
                names[i] = a.name
    return names


def refuse_sites(
    writer: CatalogTransaction,
    observations: pa.Table,
    passes: pa.Table,
    *,
    vocab: Vocabulary,
    registry: ConsentRegistry | None,
) -> tuple[pa.Table, pa.Table]:
    """Gate every observation again against ``registry`` (a revocation applies to everything
    held), fuse and score; stage observations (with site ids and consent) and sites in
    ``writer``; return (sites, observations)."""
    obs = apply_consent(observations, registry)
    obs = obs.sort_by([("time", "ascending"), ("obs_id", "ascending")])
    fusion = fuse(obs, gate_d2=vocab.scoring.gate_d2, pass_gap_s=vocab.scoring.pass_gap_s)
    sites = score_sites(
        obs,
        fusion,
        vocab,
        coverage_passes=passes,
        aoi_names=_aoi_names(registry, fusion.lat, fusion.lon),
    )
    ids = np.asarray([*fusion.site_id, None], dtype=object)
    site_col = pa.array(ids[fusion.site_index].tolist(), pa.string())
    obs = obs.append_column("site_id", site_col)
    writer.write_table("observations", obs)
    writer.write_table("sites", sites)
    return sites, obs
