"""Vigía: processing, exploitation, dissemination and planning for FMV counter-drug surveillance."""

from vigia.errors import VigiaError

__all__ = ["VigiaError", "__version__"]
__version__ = "0.1.0"
