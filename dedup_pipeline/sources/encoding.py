"""Encoding and delimiter detection, transcoding to UTF-8 and a line index of a text file."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import numpy as np

__all__ = [
    "CANDIDATE_DELIMITERS",
    "LineIndex",
    "detect_delimiter",
    "detect_encoding",
    "read_sample",
    "to_utf8",
]

SAMPLE_BYTES = 1 << 20
CHUNK_BYTES = 16 << 20
CANDIDATE_DELIMITERS: tuple[str, ...] = (",", ";", "\t")
# charset-normalizer sometimes ranks a sibling Cyrillic code page first on short samples;
# Russian CRM exports are overwhelmingly cp1251, so it wins near-ties.
_PREFERRED_FALLBACK = "cp1251"
_TIE_MARGIN = 0.05
# Encodings contact exports come in. Restricting the search keeps short Russian samples
# from losing to Central European code pages, and the looser chaos threshold lets
# charset-normalizer consider cp1251 at all on a header and two rows.
_CANDIDATE_ENCODINGS = [
    "utf_8",
    "cp1251",
    "koi8_r",
    "cp866",
    "mac_cyrillic",
    "iso8859_5",
    "cp1252",
    "latin_1",
    "utf_16",
    "utf_32",
]
_CHAOS_THRESHOLD = 0.5


def read_sample(path: Path, size: int = SAMPLE_BYTES) -> bytes:
    """Return the first ``size`` bytes of ``path``."""
    with path.open("rb") as handle:
        return handle.read(size)


def detect_encoding(sample: bytes) -> str | None:
    """Return the Python codec name of a text sample, or None when it looks binary.

    UTF-8 wins whenever the sample decodes as UTF-8 (a truncated trailing character is
    fine); ``utf-8-sig`` when it starts with a BOM.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    matches = charset_normalizer.from_bytes(
        sample, cp_isolation=_CANDIDATE_ENCODINGS, threshold=_CHAOS_THRESHOLD
    )
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        if match.encoding == _PREFERRED_FALLBACK and match.chaos <= best.chaos + _TIE_MARGIN:
            return _PREFERRED_FALLBACK
    return codecs.lookup(best.encoding).name


def _field_counts(text: str, delimiter: str) -> list[int]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"')
    counts = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return counts
        except csv.Error:
            # A line the csv module refuses (a field over its size limit) says nothing
            # about the delimiter; the reader goes on with the next line.
            continue
        if row:
            counts.append(len(row))


def detect_delimiter(sample_text: str) -> str:
    """Pick ``,``, ``;`` or tab: most header fields, then most consistent field counts."""
    # The last line of a sample may be cut; judge on complete lines only.
    lines = sample_text.splitlines()[:50]
    if len(lines) > 1:
        lines = lines[:-1]
    text = "\n".join(lines)

    def score(delimiter: str) -> tuple[bool, float, int]:
        counts = _field_counts(text, delimiter)
        if not counts:
            return (False, 0.0, 0)
        header = counts[0]
        rest = counts[1:] or [header]
        consistent = sum(count == header for count in rest) / len(rest)
        return (header > 1, consistent, header)

    return max(CANDIDATE_DELIMITERS, key=score)


@dataclass(frozen=True)
class LineIndex:
    """Where each physical line of a UTF-8 file starts, and which lines are blank.

    Line ``n`` (1-based) starts at byte ``starts[n - 1]``.
    """

    starts: np.ndarray
    blank: np.ndarray

    def line_of(self, byte_positions: np.ndarray) -> np.ndarray:
        """Return the 1-based line containing each byte position."""
        return np.searchsorted(self.starts, byte_positions, side="right").astype(np.int64)

    def data_lines(self) -> np.ndarray:
        """Return the non-blank line numbers after the header line."""
        numbers = np.arange(1, len(self.starts) + 1, dtype=np.int64)
        return numbers[(numbers >= 2) & ~self.blank]


class _LineScanner:
    """Collect newline positions from consecutive chunks of a file."""

    def __init__(self) -> None:
        self._size = 0
        self._last_byte = 0
        self._newlines: list[np.ndarray] = []
        self._after_cr: list[np.ndarray] = []

    def feed(self, chunk: bytes) -> None:
        data = np.frombuffer(chunk, dtype=np.uint8)
        if data.size == 0:
            return
        positions = np.flatnonzero(data == 10)
        previous = np.empty(positions.size, dtype=np.uint8)
        inside = positions > 0
        previous[inside] = data[positions[inside] - 1]
        previous[~inside] = self._last_byte
        self._newlines.append(positions.astype(np.int64) + self._size)
        self._after_cr.append(previous == 13)
        self._size += data.size
        self._last_byte = int(data[-1])

    def finish(self) -> LineIndex:
        newlines = np.concatenate(self._newlines) if self._newlines else np.empty(0, np.int64)
        after_cr = np.concatenate(self._after_cr) if self._after_cr else np.empty(0, bool)
        starts = np.concatenate([np.zeros(1, np.int64), newlines + 1])
        ends = np.concatenate([newlines, np.array([self._size], np.int64)])
        ends_cr = np.concatenate([after_cr, np.array([self._last_byte == 13])])
        if starts[-1] >= self._size:
            # A final newline does not open another line.
            starts, ends, ends_cr = starts[:-1], ends[:-1], ends_cr[:-1]
        length = ends - starts
        blank = (length == 0) | ((length == 1) & ends_cr)
        return LineIndex(starts=starts, blank=blank)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def to_utf8(path: Path, encoding: str, workdir: Path) -> tuple[Path, LineIndex]:
    """Return a UTF-8 version of ``path`` (the file itself when already UTF-8) and its lines.

    Other encodings are transcoded chunk by chunk into ``workdir`` so memory stays flat;
    undecodable bytes become U+FFFD rather than aborting a million-row file.
    """
    scanner = _LineScanner()
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        for chunk in _chunks(path):
            scanner.feed(chunk)
        return path, scanner.finish()
    target = workdir / "transcoded.csv"
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with target.open("wb") as out:
        for chunk in _chunks(path):
            data = decoder.decode(chunk).encode("utf-8")
            scanner.feed(data)
            out.write(data)
        tail = decoder.decode(b"", final=True).encode("utf-8")
        scanner.feed(tail)
        out.write(tail)
    return target, scanner.finish()
