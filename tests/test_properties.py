"""Property tests: whatever bytes an export holds, every line is a record or quarantined."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dedup_pipeline.config import ColumnMapping, SourceConfig
from dedup_pipeline.normalize import normalize_contacts
from dedup_pipeline.sources import read_source

# Any character but line breaks: quotes, delimiters, NULs and control characters included.
_FIELD = st.text(
    st.sampled_from(list('"",;\t\x00 aЯ'))
    | st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    max_size=30,
)
_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# A stray quote opening a field and one closing it lines later: the rows between are
# swallowed into one field unless the reader counts the file's lines.
_SWALLOWING = [("a", "b", "c")] * 3 + [('"open', "b", "c")] + [("a", "b", "c")] * 5
_SWALLOWING += [('x "closed" y', "b", "c"), ("a", "b", "c")]


@_SETTINGS
@given(
    rows=st.lists(st.tuples(_FIELD, _FIELD, _FIELD), min_size=1, max_size=25),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]),
)
@example(rows=_SWALLOWING, delimiter=",", encoding="utf-8")
# A quote that closes a line later: the second row used to vanish into the first's field.
@example(rows=[("", "", '"'), ("", "", '"')], delimiter=",", encoding="utf-8")
@example(rows=[("", "", '"'), ("", '"', "")], delimiter=",", encoding="utf-8")
@example(rows=[("", '"', ""), ("", "", '"')], delimiter=",", encoding="utf-8")
def test_every_line_of_a_csv_is_a_record_or_quarantined(tmp_path, rows, delimiter, encoding):
    # Each data line starts with its own id; the rest is whatever the writer produced.
    lines = [delimiter.join(["id", "full_name", "phone", "email"])]
    lines += [delimiter.join([f"r{i}", *fields]) for i, fields in enumerate(rows)]
    text = "\n".join(lines) + "\n"
    data = text.encode(encoding, errors="replace")
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    source = SourceConfig(
        name="crm",
        path=path,
        encoding=encoding,
        delimiter=delimiter,
        columns=ColumnMapping(
            source_record_id="id", full_name="full_name", phones=["phone"], emails=["email"]
        ),
    )
    result = read_source(source)
    # Every data line starts with its id, so none is blank: each must be accounted for.
    assert result.rows_read == len(rows)
    assert result.records.height + result.quarantine.height == result.rows_read
    # Nothing read twice: a record's line is not also a quarantined one.
    lines_read = set(result.records["source_row"]) | set(result.quarantine["source_row"])
    assert len(lines_read) == result.rows_read
    # Whatever the values, normalisation keeps every record.
    assert normalize_contacts(result.records).contacts.height == result.records.height


def _read_or_refused(source: SourceConfig):
    """The read, or None when it was refused with a SourceError naming the file (the only
    error allowed to escape)."""
    from dedup_pipeline.sources import SourceError

    try:
        return read_source(source)
    except Exception as exc:  # the property is about which errors escape
        assert isinstance(exc, SourceError), repr(exc)
        assert str(source.path) in str(exc)
        return None


@_SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_read_or_refused_with_a_clear_error(tmp_path, data):
    path = tmp_path / "noise.csv"
    path.write_bytes(b"id,full_name\n" + data)
    source = SourceConfig(
        name="crm",
        path=path,
        columns=ColumnMapping(source_record_id="id", full_name="full_name"),
    )
    result = _read_or_refused(source)
    if result is None:
        return
    assert result.records.height + result.quarantine.height == result.rows_read
    assert isinstance(result.records, pl.DataFrame)


# A JSON value of any type, as a careless exporter writes one.
_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _FIELD,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_FIELD, inner, max_size=2),
    max_leaves=4,
)
# A line of a JSON Lines export: an object (with or without its id), or broken text.
_JSONL_LINE = st.fixed_dictionaries(
    {"full_name": _JSON_VALUE, "phone": _JSON_VALUE, "email": _JSON_VALUE}
).map(lambda record: ("object", record)) | _FIELD.filter(lambda text: text.strip() != "").map(
    lambda text: ("text", text)
)


@settings(_SETTINGS, max_examples=25)  # each example reads a file through DuckDB
@given(lines=st.lists(_JSONL_LINE, min_size=1, max_size=20))
def test_every_line_of_a_json_lines_export_is_a_record_or_quarantined(tmp_path, lines):
    import json

    written = []
    for n, (kind, value) in enumerate(lines):
        written.append(json.dumps({"id": f"r{n}", **value}) if kind == "object" else value)
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(written) + "\n", encoding="utf-8")
    source = SourceConfig(
        name="crm",
        path=path,
        columns=ColumnMapping(
            source_record_id="id", full_name="full_name", phones=["phone"], emails=["email"]
        ),
    )
    result = _read_or_refused(source)
    if result is None:
        return
    non_blank = sum(1 for line in written if line.strip())
    assert result.rows_read == non_blank
    assert result.records.height + result.quarantine.height == non_blank
    assert normalize_contacts(result.records).contacts.height == result.records.height
