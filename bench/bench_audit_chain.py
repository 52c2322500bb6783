"""Cost of chaining audit entries: keyed HMAC-SHA256 (every new entry) against the public
SHA-256 of earlier versions, per entry of the partner site list's group commit.

Run: ``.venv/bin/python bench/bench_audit_chain.py [--entries 20000]``. Prints microseconds per
entry for :func:`vigia.store.audit.chain_rows` (normalisation + HMAC, with the client address),
and for the same entries MAC-ed (:func:`~vigia.store.audit.entry_mac`) and hashed with the public
SHA-256 (:func:`~vigia.store.audit.entry_hash`), and the ratio of the last two: what the key
adds to each entry.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from vigia.store.audit import GENESIS_HASH, AuditRecord, chain_rows, entry_hash, entry_mac
from vigia.store.auditkey import AuditKey


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=20000)
    args = ap.parse_args()
    key = AuditKey(os.urandom(32), Path("bench.key"))
    t = datetime.now(UTC)
    details = {"agency": "SEMAR", "sites": 300, "listing": "ab" * 32}
    records = [
        AuditRecord("semar.oficial", "read", "site", None, details, t, "127.0.0.1")
        for _ in range(args.entries)
    ]
    start = time.perf_counter()
    rows = chain_rows(0, GENESIS_HASH, records, key)
    keyed_s = time.perf_counter() - start
    fields = [
        (
            r["seq"],
            r["time"],
            r["actor"],
            r["action"],
            r["object_type"],
            r["object_id"],
            r["details"],
        )
        for r in rows
    ]
    start = time.perf_counter()
    prev = GENESIS_HASH
    for f in fields:
        prev = entry_hash(*f, prev)
    public_s = time.perf_counter() - start
    start = time.perf_counter()
    prev = GENESIS_HASH
    for f in fields:
        prev = entry_mac(key, *f, prev)
    mac_s = time.perf_counter() - start
    n = args.entries
    print(f"chain_rows (normalise + HMAC-SHA256): {keyed_s / n * 1e6:.1f} us/entry")
    print(f"entry_mac  (HMAC-SHA256):             {mac_s / n * 1e6:.1f} us/entry")
    print(f"entry_hash (public SHA-256):          {public_s / n * 1e6:.1f} us/entry")
    print(f"ratio entry_mac / entry_hash: {mac_s / public_s:.2f}")


if __name__ == "__main__":
    main()
