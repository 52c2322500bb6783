"""MPEG-2 transport streams: KLV demux (STANAG 4609 / ST 1402), sample muxer, UDP source."""

from vigia.mpegts.demux import (
    DemuxStats,
    KLVDemuxer,
    KLVFileReader,
    MetadataChunk,
    demux_klv_file,
    is_transport_stream,
)
from vigia.mpegts.mux import write_klv_ts, write_video_klv_ts
from vigia.mpegts.psi import StreamInfo
from vigia.mpegts.udp import UdpSource, UdpStats, parse_udp_url

__all__ = [
    "DemuxStats",
    "KLVDemuxer",
    "KLVFileReader",
    "MetadataChunk",
    "StreamInfo",
    "UdpSource",
    "UdpStats",
    "demux_klv_file",
    "is_transport_stream",
    "parse_udp_url",
    "write_klv_ts",
    "write_video_klv_ts",
]
