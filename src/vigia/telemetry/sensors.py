"""Sensor kinds: MISB ST 0601 item 11 (image source sensor) classified as EO, IR or unknown.

The one place that decides whether a frame is electro-optical or infrared; coverage, VMTI,
detectors and the scenario call it.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = [
    "SENSOR_EO",
    "SENSOR_IR",
    "SENSOR_UNKNOWN",
    "classify_sensor_name",
    "sensor_kinds",
    "sensor_labels",
]

SENSOR_UNKNOWN = np.uint8(0)
SENSOR_EO = np.uint8(1)
SENSOR_IR = np.uint8(2)

_IR_TOKENS = frozenset(
    {
        "ir",
        "irw",
        "irn",
        "irm",
        "mwir",
        "lwir",
        "swir",
        "flir",
        "thermal",
        "infrared",
        "termico",
        "térmico",
        "infrarrojo",
        "tir",
        "fir",
    }
)
#: Words that suggest a day camera only when nothing names a band ("EO Spotter" is EO, "IR MWIR
#: Spotter" is IR): turret product names, not bands.
_WEAK_EO_TOKENS = frozenset({"spotter"})
_EO_TOKENS = frozenset(
    {
        "eo",
        "eow",
        "eon",
        "eom",
        "tv",
        "hdtv",
        "lltv",
        "dtv",
        "color",
        "colour",
        "visible",
        "daylight",
        "ccd",
        "cmos",
        "rgb",
        "vis",
        "electro",
        "optical",
        "electrooptical",
        "diurna",
    }
)


def classify_sensor_name(name: str | None) -> int:
    """Classify one ST 0601 item 11 string: 1 = EO, 2 = IR, 0 = unknown or ambiguous.

    Tokens are split on anything that is not a letter, case-insensitive ("EO Nose" -> EO,
    "IR Wide" -> IR, "MWIR" -> IR, "EO/IR" -> unknown because it names both; a product name
    such as "Spotter" counts as EO only when no band is named: "IR MWIR Spotter" -> IR).
    """
    if not name:
        return int(SENSOR_UNKNOWN)
    tokens = set(re.split(r"[^a-záéíóúñ]+", name.lower())) - {""}
    ir = bool(tokens & _IR_TOKENS) or any(t.endswith("ir") and len(t) <= 5 for t in tokens)
    eo = bool(tokens & _EO_TOKENS) or "electro-optical" in name.lower()
    if ir and not eo:
        return int(SENSOR_IR)
    if (eo or tokens & _WEAK_EO_TOKENS) and not ir:
        return int(SENSOR_EO)
    return int(SENSOR_UNKNOWN)


def sensor_kinds(names: Any) -> npt.NDArray[np.uint8]:
    """Vectorised `classify_sensor_name` over an array of strings (classified once per value)."""
    arr = pa.array(names) if not isinstance(names, pa.Array | pa.ChunkedArray) else names
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if len(arr) == 0:
        return np.zeros(0, np.uint8)
    enc = arr.dictionary_encode()
    lut = np.array([classify_sensor_name(v) for v in enc.dictionary.to_pylist()], np.uint8)
    idx = enc.indices.to_numpy(zero_copy_only=False)
    out = np.zeros(len(arr), np.uint8)
    ok = ~np.asarray(enc.indices.is_null().to_numpy(zero_copy_only=False), bool)
    out[ok] = lut[idx[ok].astype(np.int64)]
    return out


def sensor_labels(names: Any) -> list[str | None]:
    """``'EO'``, ``'IR'`` or None (unknown) for each ST 0601 item 11 string of ``names``."""
    return [_LABELS.get(k) for k in sensor_kinds(names).tolist()]


_LABELS: dict[int, str] = {int(SENSOR_EO): "EO", int(SENSOR_IR): "IR"}
