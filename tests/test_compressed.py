"""Line files: what a writer flushed reads back whole, whatever cut the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from argus_cli.compressed import kind_of, open_lines, read_lines

LINES = [
    b'{"type":"price","seq":%d,"symbol":"AAPL","price":%d.5}' % (i, 100 + i) for i in range(400)
]


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz", "rec.jsonl.zst"])
def test_a_closed_file_reads_back_every_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    writer = open_lines(path)
    for line in LINES:
        writer.write(line + b"\n")
    writer.close()
    assert list(read_lines(path)) == LINES
    assert (
        kind_of(path) == {"rec.jsonl": "plain", "rec.jsonl.gz": "gz", "rec.jsonl.zst": "zst"}[name]
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
@settings(max_examples=40, deadline=None)
@given(flushed=st.integers(1, 399), cut=st.floats(0.0, 1.0))
def test_a_cut_file_reads_back_a_whole_prefix(
    tmp_path_factory: pytest.TempPathFactory, suffix: str, flushed: int, cut: float
) -> None:
    """A writer killed after a flush: the bytes on disk end anywhere after the flush
    point. Reading gives every flushed line and never a partial one."""
    path = tmp_path_factory.mktemp("cut") / f"rec{suffix}"
    writer = open_lines(path)
    for line in LINES[:flushed]:
        writer.write(line + b"\n")
    writer.flush()
    at_flush = path.stat().st_size
    for line in LINES[flushed:]:
        writer.write(line + b"\n")
    writer.flush()
    whole = path.read_bytes()
    writer.close()
    end = at_flush + int((len(whole) - at_flush) * cut)
    path.write_bytes(whole[:end])  # what a SIGKILL between the two flushes could leave
    got = list(read_lines(path))
    assert got == LINES[: len(got)]  # a prefix, every line whole
    assert len(got) >= flushed
