"""The HTTP API of ``vigia serve`` (FastAPI): auth, sites, products, releases, partner actions.

``create_app(data_dir)`` builds the app; ``serve(data_dir, host, port)`` runs it with uvicorn.
"""

from vigia.api.app import create_app
from vigia.api.serve import serve

__all__ = ["create_app", "serve"]
