"""CSV exports: detection, DuckDB parsing with rejects, exact line numbers.

DuckDB parses the (UTF-8) file in parallel with ``store_rejects``, so rows with the wrong
number of fields, unterminated quotes or invalid bytes land in its reject table instead of
failing the read. DuckDB reports no line numbers for good rows and its ``line`` column
drifts after quoted newlines, so line numbers come from a newline index of the file:

* a rejected row sits on the first non-blank line at its reported byte offset;
* good rows, in file order, take the remaining non-blank data lines.

This is exact when no field holds an embedded newline. When some do, each good row is
assumed to span ``1 + its newline count`` lines, which is exact unless a quoted field
contains a blank line.

The parser's counts are then checked against the file: a quote that never closes has its
swallowed lines read again one by one (`_split_runaway_quotes`), and any data line no row
or quarantine entry covers is quarantined (`_unread_lines`).
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from dedup_pipeline.schema import empty_quarantine
from dedup_pipeline.sources.base import RawTable, SourceError, quarantine_frame
from dedup_pipeline.sources.encoding import (
    LineIndex,
    detect_delimiter,
    detect_encoding,
    read_sample,
    to_utf8,
)

__all__ = ["read_csv_export"]

_MAX_LINE_BYTES = 64 << 20


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _header(text: str, delimiter: str, path: Path) -> list[str]:
    try:
        row = next(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"'), [])
    except csv.Error as exc:
        raise SourceError(f"{path}: cannot parse the header line: {exc}") from None
    names = [name.strip().lstrip("\ufeff").strip() for name in row]
    if not any(names):
        raise SourceError(f"{path}: the file has no header line")
    # DuckDB needs unique, non-empty names; the mapping refers to the header as written.
    seen: dict[str, int] = {}
    unique: list[str] = []
    for position, name in enumerate(names, start=1):
        name = name or f"column_{position}"
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}_{count + 1}")
    return unique


def _rejects_to_quarantine(
    rejects: pl.DataFrame, lines: LineIndex, source: str, path: Path
) -> tuple[pl.DataFrame, np.ndarray]:
    """Return quarantine rows for DuckDB's rejects and the lines those rows occupy."""
    if rejects.height == 0:
        return empty_quarantine(), np.empty(0, np.int64)
    # DuckDB logs one error per extra field; the last one carries the real field count.
    rejects = (
        rejects.with_columns(
            found_count=pl.col("error_message").str.extract(r"Found: (\d+)").cast(pl.Int64)
        )
        .sort(["line_byte_position", "found_count"], descending=[False, True], nulls_last=True)
        .unique("line_byte_position", keep="first", maintain_order=True)
        .with_columns(
            leading=pl.col("csv_line").str.len_bytes()
            - pl.col("csv_line").str.strip_chars_start("\r\n").str.len_bytes(),
            raw=pl.col("csv_line").str.strip_chars("\r\n"),
            expected=pl.col("error_message").str.extract(r"Expected Number of Columns: (\d+)"),
            found=pl.col("error_message").str.extract(r"Found: (\d+)"),
        )
    )
    reason = (
        pl.when(pl.col("expected").is_not_null() & pl.col("found").is_not_null())
        .then(pl.format("malformed row: expected {} fields, found {}", "expected", "found"))
        .when(pl.col("error_type") == "UNQUOTED VALUE")
        .then(pl.lit("malformed row: unterminated quote"))
        .when(pl.col("error_type") == "INVALID ENCODING")
        .then(pl.lit("malformed row: invalid UTF-8 byte sequence"))
        .otherwise(pl.concat_str(pl.lit("malformed row: "), pl.col("error_message")))
    )
    rejects = rejects.with_columns(reason=reason)
    # DuckDB's row start may point at the line break before the row (CRLF files, blank
    # lines); skipping the leading break characters and blank lines lands on the row.
    positions = (rejects["line_byte_position"] + rejects["leading"]).to_numpy().astype(np.int64)
    data_lines = lines.data_lines()
    if data_lines.size == 0:
        data_lines = np.array([2], np.int64)
    first = np.searchsorted(data_lines, lines.line_of(positions), side="left")
    row_lines = data_lines[np.minimum(first, data_lines.size - 1)]
    spans = rejects["raw"].fill_null("").str.count_matches("\n").to_numpy().astype(np.int64)
    occupied = np.repeat(row_lines, spans + 1) + _ranges(spans + 1)
    quarantine = quarantine_frame(
        source,
        path,
        source_row=pl.Series(row_lines),
        reason=rejects["reason"],
        raw=rejects["raw"],
    )
    return quarantine, occupied


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """Return ``0..n-1`` for each n in ``lengths``, concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - offsets


def _good_row_lines(frame: pl.DataFrame, lines: LineIndex, occupied: np.ndarray) -> pl.Series:
    available = lines.data_lines()
    if occupied.size:
        available = available[~np.isin(available, occupied)]
    count = frame.height
    if count == 0:
        return pl.Series("source_row", [], dtype=pl.Int64)
    if available.size == count:
        return pl.Series("source_row", available)
    # More lines than rows: some fields span lines. Count their newlines.
    spans = 1 + frame.select(
        pl.sum_horizontal(pl.all().str.count_matches("\n").fill_null(0))
    ).to_series().to_numpy().astype(np.int64)
    offsets = np.cumsum(spans) - spans
    if available.size == 0:
        return pl.Series("source_row", offsets + 2)
    return pl.Series("source_row", available[np.minimum(offsets, available.size - 1)])


_RUNAWAY_QUOTE = "malformed row: unterminated quote"


def _split_runaway_quotes(
    quarantine: pl.DataFrame, columns: list[str], delimiter: str, source: str, path: Path
) -> tuple[pl.DataFrame, pl.Series, pl.DataFrame]:
    """Read again, line by line, the rows a quote that never closes swallowed.

    One stray ``"`` makes a CSV parser read every following line into one field until
    some later quote closes it: 29 rows of a 40-row file vanished into one quarantined
    row. The line that opened the quote stays in quarantine, naming the lines it ran
    over; each line after it that has the header's number of fields is a row again, and
    each that has not is quarantined on its own line.

    Returns
    -------
    tuple
        The recovered rows (``columns``), their line numbers, and the quarantine with
        each runaway row replaced by its lines.
    """
    # Only a quote makes a row run over lines, whatever the parser's reason for refusing it.
    runaway = quarantine.filter(pl.col("raw").str.contains("\n", literal=True))
    recovered: list[list[str]] = []
    recovered_lines: list[int] = []
    rows: list[int] = []
    reasons: list[str] = []
    raws: list[str] = []
    # Only the swallowed lines are visited: a handful per stray quote, not the file.
    for start, raw in runaway.select("source_row", "raw").iter_rows():
        lines = raw.split("\n")
        end = start + len(lines) - 1
        rows.append(start)
        reasons.append(
            f"{_RUNAWAY_QUOTE}: the quote opened here runs over lines {start}-{end}, "
            "which were read again one by one"
        )
        raws.append(lines[0].rstrip("\r"))
        for number, line in enumerate(lines[1:], start=start + 1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            try:
                fields = next(csv.reader([line], delimiter=delimiter, quotechar='"'), [])
            except csv.Error:  # a field over the csv module's size limit
                fields = []
            if len(fields) == len(columns):
                recovered.append(fields)
                recovered_lines.append(number)
            else:
                rows.append(number)
                reasons.append(
                    f"malformed row: expected {len(columns)} fields, found {len(fields)} "
                    f"(inside the quote opened on line {start})"
                )
                raws.append(line)
    frame = pl.DataFrame(recovered, schema=dict.fromkeys(columns, pl.String), orient="row")
    replaced = quarantine_frame(source, path, source_row=rows, reason=reasons, raw=raws)
    quarantine = pl.concat(
        [quarantine.join(runaway.select("source_row"), on="source_row", how="anti"), replaced]
    ).sort("source_row")
    return frame, pl.Series("source_row", recovered_lines, dtype=pl.Int64), quarantine


def _swallowing_rows(
    frame: pl.DataFrame,
    source_rows: pl.Series,
    width: int,
    delimiter: str,
    utf8_path: Path,
    lines: LineIndex,
    source: str,
    path: Path,
) -> tuple[pl.DataFrame, pl.Series, pl.DataFrame]:
    """Rows whose quoted field runs over lines that are rows of their own.

    A quote opened at the end of one row and closed at the end of a later one reads the
    rows between into one field, and the file still parses: ``r0,"`` and ``r1,"`` become
    one record whose last field holds ``r1,``. A line break inside a quoted field is
    legitimate (an address, a comment), but a continuation line with the header's number
    of fields (or of delimiters) is a row. Such records leave the frame and go to
    quarantine as runaway quotes, whose lines `_split_runaway_quotes` reads again one by
    one.
    """
    empty = quarantine_frame(source, path, source_row=[], reason=[], raw=[])
    multiline = frame.select(pl.any_horizontal(pl.all().str.contains("\n", literal=True)))
    candidates = np.flatnonzero(multiline.to_series().fill_null(False).to_numpy())
    if candidates.size == 0:
        return frame, source_rows, empty
    data = np.memmap(utf8_path, dtype=np.uint8, mode="r")
    starts = lines.starts
    ends = np.append(starts[1:], data.size)
    swallowing, rows, raws = [], [], []
    for index in candidates.tolist():
        first = int(source_rows[index])
        span = 1 + sum(value.count("\n") for value in frame.row(index) if value)
        last = min(first + span - 1, starts.size)
        text = bytes(data[starts[first - 1] : ends[last - 1]]).decode("utf-8", "replace")
        # The continuation lines as the file holds them: a row's worth of delimiters
        # (the quote that closes the field may sit among them) makes a line a row.
        if any(
            line.count(delimiter) == width - 1
            or len(next(csv.reader([line], delimiter=delimiter), [])) == width
            for line in text.rstrip("\r\n").split("\n")[1:]
            if line.strip()
        ):
            swallowing.append(index)
            rows.append(first)
            raws.append(text.rstrip("\r\n"))
    if not swallowing:
        return frame, source_rows, empty
    keep = ~pl.Series(np.isin(np.arange(frame.height), swallowing))
    reasons = [_RUNAWAY_QUOTE] * len(rows)
    quarantine = quarantine_frame(source, path, source_row=rows, reason=reasons, raw=raws)
    return frame.filter(keep), source_rows.filter(keep), quarantine


#: Unread lines whose text is kept in quarantine (the rest are listed by number only).
_MAX_REPORTED_LINES = 10_000


def _unread_lines(
    utf8_path: Path,
    lines: LineIndex,
    frame: pl.DataFrame,
    source_rows: pl.Series,
    quarantine: pl.DataFrame,
) -> pl.DataFrame:
    """Data lines of the file that no row and no quarantine entry covers.

    The parser's own counts are not trusted: every non-blank line after the header must
    lie within a row read (its first line plus one per newline in its fields) or a
    quarantined row. Whatever does not is returned as ``source_row``, ``reason`` and
    ``raw`` for quarantine, so a line can never disappear between file and report.
    """
    empty = pl.DataFrame(schema={"source_row": pl.Int64, "reason": pl.String, "raw": pl.String})
    data_lines = lines.data_lines()
    if data_lines.size == 0:
        return empty
    # The reader's columns are all text.
    row_spans = (
        frame.select(pl.sum_horizontal(pl.all().str.count_matches("\n", literal=True).fill_null(0)))
        .to_series()
        .to_numpy()
        .astype(np.int64)
    )
    quarantine_spans = quarantine["raw"].fill_null("").str.count_matches("\n", literal=True)
    firsts = np.concatenate(
        [source_rows.to_numpy().astype(np.int64), quarantine["source_row"].to_numpy()]
    ).astype(np.int64)
    spans = np.concatenate([row_spans, quarantine_spans.to_numpy().astype(np.int64)]) + 1
    covered = np.repeat(firsts, spans) + _ranges(spans)
    seen = np.zeros(lines.starts.size + 2, dtype=bool)
    seen[np.clip(covered, 0, seen.size - 1)] = True
    missing = data_lines[~seen[data_lines]]
    if missing.size == 0:
        return empty
    data = np.memmap(utf8_path, dtype=np.uint8, mode="r")
    starts = lines.starts
    ends = np.append(starts[1:], data.size)
    raw = [
        bytes(data[starts[n - 1] : ends[n - 1]]).decode("utf-8", "replace").rstrip("\r\n")
        for n in missing[:_MAX_REPORTED_LINES]
    ]
    raw += [None] * (missing.size - len(raw))
    return pl.DataFrame(
        {
            "source_row": missing,
            "reason": ["malformed row: not read as a row by the CSV parser"] * missing.size,
            "raw": raw,
        },
        schema={"source_row": pl.Int64, "reason": pl.String, "raw": pl.String},
    )


def _extra_trailing_field_lines(
    utf8_path: Path, lines: LineIndex, delimiter: str, column_count: int
) -> pl.DataFrame:
    """Lines with one field too many that end in the delimiter.

    DuckDB accepts ``a;b;c;`` under a three-column header as if the trailing delimiter
    were decoration, which silently shifts the columns of a row whose text contained an
    unquoted delimiter (``Рога и Копыта; филиал``). The line index already says where
    every line ends, so only lines whose last byte is the delimiter are decoded; their
    fields are counted with quoted sections blanked out.
    """
    empty = pl.DataFrame(schema={"source_row": pl.Int64, "raw": pl.String, "reason": pl.String})
    if utf8_path.stat().st_size == 0 or lines.starts.size == 0:
        return empty
    data = np.memmap(utf8_path, dtype=np.uint8, mode="r")
    starts = lines.starts
    ends = np.append(starts[1:] - 1, data.size - 1 if data[-1] == 10 else data.size)
    ends = ends - ((ends > starts) & (data[np.maximum(ends - 1, 0)] == 13))
    candidates = np.flatnonzero((ends > starts) & (data[np.maximum(ends - 1, 0)] == ord(delimiter)))
    if candidates.size == 0:
        return empty
    raw = [bytes(data[starts[i] : ends[i]]).decode("utf-8", "replace") for i in candidates]
    quoted = r'"(?:[^"]|"")*"'
    return (
        pl.DataFrame({"source_row": candidates.astype(np.int64) + 1, "raw": raw})
        .with_columns(
            found=pl.col("raw")
            .str.replace_all(quoted, "")
            .str.count_matches(delimiter, literal=True)
            + 1
        )
        .filter(pl.col("found") > column_count)
        .select(
            "source_row",
            "raw",
            reason=pl.format(
                "malformed row: expected {} fields, found {}", pl.lit(column_count), "found"
            ),
        )
    )


def read_csv_export(
    path: Path, source: str, *, encoding: str | None, delimiter: str | None
) -> RawTable:
    """Read a delimited text export; malformed rows become quarantine rows.

    Parameters
    ----------
    path
        The export.
    source
        Source name, for quarantine rows.
    encoding, delimiter
        Declared values; detected when None.
    """
    sample = read_sample(path)
    if encoding is None:
        encoding = detect_encoding(sample)
        if encoding is None:
            raise SourceError(f"{path}: cannot detect the text encoding; set 'encoding'")
    try:
        encoding = codecs.lookup(encoding).name
    except LookupError:
        raise SourceError(f"{path}: unknown encoding {encoding!r}") from None
    sample_text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample)
    sample_text = sample_text.lstrip("\ufeff")
    if delimiter is None:
        delimiter = detect_delimiter(sample_text)
    columns = _header(sample_text, delimiter, path)
    reported_encoding = "utf-8" if encoding == "utf-8-sig" else encoding

    with tempfile.TemporaryDirectory(prefix="lead_dedup_csv_") as workdir:
        utf8_path, lines = to_utf8(path, encoding, Path(workdir))
        column_spec = "{" + ", ".join(f"{_sql_string(name)}: 'VARCHAR'" for name in columns) + "}"
        query = (
            f"SELECT * FROM read_csv({_sql_string(str(utf8_path))}, header = true, "
            f"auto_detect = false, columns = {column_spec}, all_varchar = true, "
            f"delim = {_sql_string(delimiter)}, quote = '\"', escape = '\"', "
            f"store_rejects = true, max_line_size = {_MAX_LINE_BYTES})"
        )
        connection = duckdb.connect()
        try:
            # Row order must follow the file for line numbers to line up.
            connection.execute("SET preserve_insertion_order = true")
            frame = connection.sql(query).pl()
            rejects = connection.sql(
                "SELECT line_byte_position, byte_position, error_type::VARCHAR AS error_type, "
                "csv_line, error_message FROM reject_errors"
            ).pl()
        except duckdb.Error as exc:
            raise SourceError(f"{path}: cannot parse as CSV: {exc}") from None
        finally:
            connection.close()

        shifted = _extra_trailing_field_lines(utf8_path, lines, delimiter, len(columns))

        quarantine, occupied = _rejects_to_quarantine(rejects, lines, source, path)
        source_rows = _good_row_lines(frame, lines, occupied)
        frame, source_rows, swallowing = _swallowing_rows(
            frame, source_rows, len(columns), delimiter, utf8_path, lines, source, path
        )
        if swallowing.height:
            quarantine = pl.concat([quarantine, swallowing]).sort("source_row")
        recovered, recovered_rows, quarantine = _split_runaway_quotes(
            quarantine, columns, delimiter, source, path
        )
        if recovered.height:
            order = pl.concat([source_rows, recovered_rows]).arg_sort()
            frame = pl.concat([frame, recovered]).select(pl.all().gather(order))
            source_rows = pl.concat([source_rows, recovered_rows]).gather(order)
        unread = _unread_lines(utf8_path, lines, frame, source_rows, quarantine)
        if unread.height:
            quarantine = pl.concat(
                [quarantine, quarantine_frame(source, path, **unread.to_dict())]
            ).sort("source_row")
    if shifted.height:
        bad = source_rows.is_in(shifted.get_column("source_row").implode())
        shifted = shifted.join(source_rows.filter(bad).to_frame(), on="source_row")
        frame, source_rows = frame.filter(~bad), source_rows.filter(~bad)
        extra = quarantine_frame(
            source,
            path,
            source_row=shifted.get_column("source_row"),
            reason=shifted.get_column("reason"),
            raw=shifted.get_column("raw"),
        )
        quarantine = pl.concat([quarantine, extra]).sort("source_row")
    return RawTable(
        frame=frame,
        source_rows=source_rows,
        rejected=quarantine,
        encoding=reported_encoding,
        delimiter=delimiter,
    )
