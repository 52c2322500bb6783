"""Dissemination: marked products, the partner tearline, renderers and TAK delivery.

* :mod:`~vigia.share.markings` — classification and releasability (ST 0102 vocabulary).
* :mod:`~vigia.share.tearline` — the one declaration of releasable fields; tearline building.
* :mod:`~vigia.share.products` — site report, sortie summary, digest; two-person release.
* :mod:`~vigia.share.render` — HTML/PDF (EN, ES), JSON, GeoJSON, KML 2.2, Cursor-on-Target.
* :mod:`~vigia.share.tak` — CoT delivery to a TAK server over TCP or TLS, with retries.
"""

from vigia.share.markings import Marking, MarkingError, parse_banner
from vigia.share.products import (
    Product,
    ProductError,
    Release,
    ReleaseError,
    approve,
    digest,
    require_released,
    site_report,
    sortie_summary,
)
from vigia.share.tearline import (
    RELEASABLE_SITE_FIELDS,
    Tearline,
    TearlineError,
    TearlineLeakError,
)

__all__ = [
    "RELEASABLE_SITE_FIELDS",
    "Marking",
    "MarkingError",
    "Product",
    "ProductError",
    "Release",
    "ReleaseError",
    "Tearline",
    "TearlineError",
    "TearlineLeakError",
    "approve",
    "digest",
    "parse_banner",
    "require_released",
    "site_report",
    "sortie_summary",
]
