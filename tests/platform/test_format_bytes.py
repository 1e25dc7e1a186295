"""format_bytes: powers of 1024, whole bytes below 1 KB, PB the largest unit (no unit past it)."""

from __future__ import annotations

import pytest

from edgeattn.platform.memory import format_bytes


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (5 * 1024**3, "5.0 GB"),
        (3 * 1024**5, "3.0 PB"),
        (1024**6, "1024.0 PB"),
        (-2048, "-2.0 KB"),
    ],
)
def test_format_bytes(nbytes, text):
    assert format_bytes(nbytes) == text
