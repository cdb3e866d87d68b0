"""``python -m pyharness.bench --quick`` at a tiny size: every peer present yields numbers, nothing is lost.

No timing assertions: the bench's numbers are reported, never judged, here.
Delivery (sent == received) is checked inside every scenario, which raises
rather than report a number; these tests make sure that check ran.
"""

from __future__ import annotations

import pytest

from pyharness.netcore.bench.framing import FrameScanner, FrameTooLarge, encode


def test_scanner_counts_frames_across_chunks() -> None:
    stream = encode(b"a" * 5) + encode(b"") + encode(b"b" * 300)
    scanner = FrameScanner()
    scans = [scanner.feed(stream[i : i + 7], keep=True) for i in range(0, len(stream), 7)]
    assert sum(s.frames for s in scans) == 3
    assert sum(s.payload_bytes for s in scans) == 305
    assert b"".join(s.complete for s in scans) == stream


def test_scanner_rejects_a_length_above_the_maximum() -> None:
    with pytest.raises(FrameTooLarge):
        FrameScanner(max_frame=100).feed(encode(b"x" * 101))
