"""The application layer: the use cases that compose stages.

Ingest (:mod:`~vigia.app.ingest`), the process stage end to end (:mod:`~vigia.app.process`) and
administration (:mod:`~vigia.app.admin`). It owns transactions and the catalog's commit; the CLI
and the API call it, no stage imports it.
"""
