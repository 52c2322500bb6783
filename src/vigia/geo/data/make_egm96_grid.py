"""Build ``egm96_15m_cm.npz``, the EGM96 geoid grid that ``vigia.geo.geoid`` ships.

Run once, offline, on a machine with Debian's ``proj-data`` package::

    apt-get install proj-data
    .venv/bin/python src/vigia/geo/data/make_egm96_grid.py /usr/share/proj/egm96_15.gtx

The source may be PROJ's ``egm96_15.gtx`` (older proj-data) or ``us_nga_egm96_15.tif`` (newer
proj-data): both hold NGA's EGM96 undulations on a 15-arc-minute grid of nodes at latitudes
90..-90 and longitudes -180..179.75 (721 x 1440 nodes). The grid keeps its full 15' resolution;
the values are rounded to whole centimetres and stored as int16, which is what brings it under
2 MB. The rounding error is <= 0.005 m at every node, hence everywhere under bilinear
interpolation. (Thinning to 30' instead would cost up to 3.2 m worldwide, 1.4 m over Mexico.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import rasterio


def build(source: Path, target: Path) -> None:
    """Read the 15' EGM96 grid at ``source`` and write the int16 centimetre grid to ``target``."""
    with rasterio.open(source) as ds:
        undulation_m = ds.read(1).astype(np.float64)
        transform = ds.transform
    # Node (row 0, col 0) must be (90 N, 180 W) with a 0.25 degree step.
    step_deg = transform.a
    lon0_deg = transform.c + step_deg / 2.0
    lat0_deg = transform.f - step_deg / 2.0
    if undulation_m.shape != (721, 1440) or abs(step_deg - 0.25) > 1e-12:
        raise SystemExit(f"unexpected grid layout {undulation_m.shape}, step {step_deg}")
    if abs(lon0_deg + 180.0) > 1e-9 or abs(lat0_deg - 90.0) > 1e-9:
        raise SystemExit(f"unexpected grid origin {lat0_deg}, {lon0_deg}")
    centimetres = np.round(undulation_m * 100.0).astype(np.int16)
    np.savez_compressed(
        target,
        undulation_cm=centimetres,
        lat0_deg=np.float64(lat0_deg),
        lon0_deg=np.float64(lon0_deg),
        step_deg=np.float64(step_deg),
    )
    error_m = np.abs(centimetres / 100.0 - undulation_m).max()
    print(f"wrote {target} ({target.stat().st_size} bytes), max rounding error {error_m:.4f} m")


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/proj/egm96_15.gtx")
    build(src, Path(__file__).with_name("egm96_15m_cm.npz"))
