"""The application layer: the use cases that compose stages.

Ingest (:mod:`~vigia.app.ingest`), the process stage end to end (:mod:`~vigia.app.process`),
planning (:mod:`~vigia.app.plan`), administration (:mod:`~vigia.app.admin`) and the demo
(:mod:`~vigia.app.demo`). It owns transactions and the catalog's commit; the CLI
and the API call it, no stage imports it.
"""
