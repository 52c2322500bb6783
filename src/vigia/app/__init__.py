"""The application layer: the use cases that compose stages.

Ingest (:mod:`~vigia.app.ingest`), telemetry alone (:mod:`~vigia.app.telemetry`), the process
stage end to end (:mod:`~vigia.app.process`),
products (:mod:`~vigia.app.products`: drafting with :mod:`vigia.share`, storing, rendering what
was stored), their TAK delivery (:mod:`~vigia.app.delivery`), planning (:mod:`~vigia.app.plan`),
the demo (:mod:`~vigia.app.demo`), the end-to-end evaluation on the scenario world
(:mod:`~vigia.app.evaluate`) and administration (:mod:`~vigia.app.admin`). It owns transactions
and the catalog's commit; the CLI and the API call it, no stage imports it.
"""
