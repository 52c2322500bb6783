"""The analyst's workstation: sorties, their playable video, frames and geolocation."""

from vigia.video.rendition import FRAMES_SCHEMA, RenditionInfo, make_rendition
from vigia.video.sortie import SortieInfo, SortieVideo, list_sorties, make_renditions, open_sortie

__all__ = [
    "FRAMES_SCHEMA",
    "RenditionInfo",
    "SortieInfo",
    "SortieVideo",
    "list_sorties",
    "make_rendition",
    "make_renditions",
    "open_sortie",
]
