"""Telemetry: sources, the columnar table and its summary.

:func:`usable_rows` is the one rule later stages apply to skip damaged packets.
"""

from vigia.telemetry.table import usable_rows

__all__ = ["usable_rows"]
