"""PostgreSQL's binary ``COPY`` format, as both directions of this project use it: a signature and
header, then tuples (a field count, then each field's big-endian int32 length and bytes), then a
trailer. Fixed-size tuples let numpy build or parse a whole batch as one structured array."""

from __future__ import annotations

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")  # no flags, no header extension
HEADER_MIN = len(HEADER)  # a header extension, when a server sends one, follows it
TRAILER = (-1).to_bytes(2, "big", signed=True)
