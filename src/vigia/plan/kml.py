"""KML of a plan: one folder per kind (transit, lane, orbit), styled lines, properties as data."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

KML_NS = "http://www.opengis.net/kml/2.2"
# KML colours are aabbggrr
STYLES = {
    "transit": ("ff9e9e9e", 1.5),
    "lane": ("ff3cb44b", 2.5),
    "orbit": ("ff0080ff", 2.5),
}


def _coords(coords: Any) -> str:
    return " ".join(f"{c[0]:.7f},{c[1]:.7f},0" for c in coords)


def plan_to_kml(plan_geojson: Mapping[str, Any], name: str = "Vigía sortie plan") -> str:
    """KML document (string) from a plan FeatureCollection (`SortiePlan.to_geojson`)."""
    ET.register_namespace("", KML_NS)
    kml = ET.Element(f"{{{KML_NS}}}kml")
    doc = ET.SubElement(kml, "Document")
    ET.SubElement(doc, "name").text = name
    summary = plan_geojson.get("vigia_plan")
    if isinstance(summary, Mapping):
        brief = {k: summary.get(k) for k in ("start", "end", "duration_h", "coverage_fraction")}
        ET.SubElement(doc, "description").text = json.dumps(brief, ensure_ascii=False)
    for kind, (colour, width) in STYLES.items():
        st = ET.SubElement(doc, "Style", id=kind)
        ls = ET.SubElement(st, "LineStyle")
        ET.SubElement(ls, "color").text = colour
        ET.SubElement(ls, "width").text = str(width)
    folders: dict[str, ET.Element] = {}
    for feat in plan_geojson.get("features", []):
        props = feat.get("properties", {})
        kind = str(props.get("kind", "transit"))
        if kind not in folders:
            folders[kind] = ET.SubElement(doc, "Folder")
            ET.SubElement(folders[kind], "name").text = kind
        pm = ET.SubElement(folders[kind], "Placemark")
        label = props.get("aoi") or f"{props.get('from', '')} → {props.get('to', '')}"
        ET.SubElement(pm, "name").text = f"{kind} {label}"
        if props.get("start"):
            span = ET.SubElement(pm, "TimeSpan")
            ET.SubElement(span, "begin").text = str(props["start"])
            ET.SubElement(span, "end").text = str(props.get("end", props["start"]))
        ET.SubElement(pm, "styleUrl").text = f"#{kind if kind in STYLES else 'transit'}"
        ext = ET.SubElement(pm, "ExtendedData")
        for k, v in props.items():
            d = ET.SubElement(ext, "Data", name=str(k))
            ET.SubElement(d, "value").text = "" if v is None else str(v)
        geom = feat.get("geometry") or {}
        if geom.get("type") == "LineString":
            ls = ET.SubElement(pm, "LineString")
            ET.SubElement(ls, "tessellate").text = "1"
            ET.SubElement(ls, "coordinates").text = _coords(geom["coordinates"])
    ET.indent(kml)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(kml, encoding="unicode")
