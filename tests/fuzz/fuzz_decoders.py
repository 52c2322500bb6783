"""atheris target: the KLV stream decoder and the TS demuxer on arbitrary bytes.

Any exception other than a :class:`vigia.errors.VigiaError` is a bug. Run by
``tests/test_fuzz.py`` for a bounded number of inputs, or by hand:

    .venv/bin/python tests/fuzz/fuzz_decoders.py -runs=100000
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from vigia.errors import VigiaError
    from vigia.klv.batch import decode_buffer
    from vigia.klv.keys import ST0601_KEY
    from vigia.klv.st0903 import decode_vmti
    from vigia.mpegts import KLVDemuxer


def test_one_input(data: bytes) -> None:
    """Feed ``data`` to every decoder in lenient and strict mode."""
    for payload in (data, ST0601_KEY + data):
        decode_buffer(payload)
        with contextlib.suppress(VigiaError):
            decode_buffer(payload, strict=True)
    demux = KLVDemuxer()
    demux.feed(b"\x47" + data)
    demux.flush()
    with contextlib.suppress(VigiaError):
        decode_vmti(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
