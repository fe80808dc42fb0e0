"""XLSX, Parquet, JSON and JSONL exports."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl

from dedup_pipeline.schema import empty_quarantine
from dedup_pipeline.sources.base import RawTable, SourceError, quarantine_frame

__all__ = ["read_json_export", "read_jsonl_export", "read_parquet_export", "read_xlsx_export"]


def read_xlsx_export(path: Path, *, sheet: str | None) -> RawTable:
    """Read one sheet as strings; ``source_rows`` are Excel row numbers (header = row 1).

    Blank rows are skipped but still counted, so row numbers match what Excel shows as
    long as the header is on the sheet's first row.
    """
    selector = {"sheet_name": sheet} if sheet is not None else {"sheet_id": 1}
    try:
        frame = pl.read_excel(
            path,
            engine="calamine",
            infer_schema_length=0,
            drop_empty_rows=False,
            drop_empty_cols=False,
            raise_if_empty=False,
            **selector,
        )
    except Exception as exc:  # fastexcel raises its own types for missing sheets etc.
        where = f" sheet {sheet!r}" if sheet is not None else ""
        raise SourceError(f"{path}{where}: cannot read the workbook: {exc}") from None
    frame = frame.with_row_index("__excel_row__", offset=2)
    if frame.width > 1:
        # Blank rows are layout, not records.
        frame = frame.filter(pl.any_horizontal(pl.all().exclude("__excel_row__").is_not_null()))
    rows = frame["__excel_row__"].cast(pl.Int64).alias("source_row")
    return RawTable(
        frame=frame.drop("__excel_row__"), source_rows=rows, rejected=empty_quarantine()
    )


def read_parquet_export(path: Path) -> RawTable:
    """Read a Parquet export with its native types; ``source_rows`` are row index + 2.

    Parquet has no header line; numbering as if it had one keeps row numbers comparable
    with the CSV and XLSX exports of the same CRM.
    """
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several error types for corrupt files
        raise SourceError(f"{path}: cannot read as Parquet: {exc}") from None
    rows = pl.int_range(2, frame.height + 2, dtype=pl.Int64, eager=True).alias("source_row")
    return RawTable(frame=frame, source_rows=rows, rejected=empty_quarantine())


def _json_key_order(connection: duckdb.DuckDBPyConnection) -> list[str]:
    keys = connection.sql(
        "SELECT key FROM (SELECT rn, unnest(json_keys(doc)) AS key, "
        "unnest(range(len(json_keys(doc)))) AS pos FROM objects) "
        "GROUP BY key ORDER BY min(rn), arg_min(pos, rn)"
    ).fetchall()
    return [key for (key,) in keys]


def _extract_objects(objects: pl.DataFrame, list_columns: set[str], path: Path) -> pl.DataFrame:
    """Turn a frame of JSON object texts (``doc``, ``rn``) into one column per key.

    Scalars become strings, arrays of mapped multi-value columns become List(String), other
    arrays and objects keep their JSON text.
    """
    connection = duckdb.connect()
    try:
        connection.register("objects", objects)
        keys = _json_key_order(connection)
        if not keys:
            return pl.DataFrame({"__rn__": objects["rn"]})
        # Parse each document once into a struct of JSON values, unless keys differ only in
        # case (DuckDB struct fields are case-insensitive): then extract by JSON pointer.
        by_struct = len({key.lower() for key in keys}) == len(keys)
        spec = json.dumps(dict.fromkeys(keys, "JSON"), ensure_ascii=False).replace("'", "''")
        selects = []
        for position, key in enumerate(keys):
            pointer = "/" + key.replace("~", "~0").replace("/", "~1")
            value = (
                f"struct_extract_at(s, {position + 1})"
                if by_struct
                else f"json_extract(doc, '{pointer.replace(chr(39), chr(39) * 2)}')"
            )
            alias = '"' + key.replace('"', '""') + '"'
            text = (
                f"CASE WHEN json_type({value}) IN ('ARRAY', 'OBJECT') THEN {value}::VARCHAR "
                f"ELSE {value} ->> '$' END"
            )
            if key in list_columns:
                selects.append(
                    f"CASE WHEN json_type({value}) = 'ARRAY' "
                    f"THEN from_json({value}, '[\"VARCHAR\"]') "
                    f"WHEN {value} IS NULL THEN NULL ELSE [{text}] END AS {alias}"
                )
            else:
                selects.append(f"{text} AS {alias}")
        parsed = f"from_json(doc, '{spec}')" if by_struct else "NULL"
        query = (
            f"SELECT rn AS __rn__, {', '.join(selects)} "
            f"FROM (SELECT rn, doc, {parsed} AS s FROM objects) ORDER BY rn"
        )
        return connection.sql(query).pl()
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot extract JSON values: {exc}") from None
    finally:
        connection.close()


def _objects_and_rejects(
    docs: pl.DataFrame, path: Path, source: str, list_columns: set[str], mapped_columns: list[str]
) -> RawTable:
    """Split ``docs`` (``doc``, ``rn``) into JSON objects and quarantined values."""
    connection = duckdb.connect()
    try:
        connection.register("docs", docs)
        # CASE keeps json_type away from invalid documents (AND does not short-circuit).
        checked = connection.sql(
            "SELECT rn, doc, CASE WHEN json_valid(doc) THEN json_type(doc) = 'OBJECT' "
            "ELSE false END AS is_object, json_valid(doc) AS is_valid FROM docs ORDER BY rn"
        ).pl()
    finally:
        connection.close()
    bad = checked.filter(~pl.col("is_object"))
    rejected = quarantine_frame(
        source,
        path,
        source_row=bad["rn"],
        reason=pl.select(
            pl.when(bad["is_valid"])
            .then(pl.lit("not a JSON object"))
            .otherwise(pl.lit("invalid JSON"))
        ).to_series(),
        raw=bad["doc"],
    )
    objects = checked.filter(pl.col("is_object")).select("rn", "doc")
    if objects.height == 0:
        # No object, no keys: an empty export has every mapped column, just no rows.
        frame = pl.DataFrame(
            schema={"__rn__": pl.Int64, **dict.fromkeys(mapped_columns, pl.String)}
        )
    else:
        frame = _extract_objects(objects, list_columns, path)
    rows = frame["__rn__"].cast(pl.Int64).alias("source_row")
    return RawTable(frame=frame.drop("__rn__"), source_rows=rows, rejected=rejected)


def read_jsonl_export(
    path: Path, source: str, *, list_columns: set[str], mapped_columns: list[str]
) -> RawTable:
    """Read one JSON object per line; ``source_rows`` are line numbers.

    Blank lines are skipped; lines that are not JSON objects are quarantined.
    """
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc}") from None
    docs = (
        pl.DataFrame({"doc": [text]})
        .select(pl.col("doc").str.split("\n"))
        .explode("doc")
        .with_row_index("rn", offset=1)
        .with_columns(pl.col("rn").cast(pl.Int64), pl.col("doc").str.strip_chars())
        .filter(pl.col("doc") != "")
    )
    del text
    return _objects_and_rejects(docs, path, source, list_columns, mapped_columns)


def read_json_export(
    path: Path, source: str, *, list_columns: set[str], mapped_columns: list[str]
) -> RawTable:
    """Read a JSON array of objects; ``source_rows`` are 1-based positions in the array.

    Elements that are not objects are quarantined; a file that is not a JSON array raises
    `SourceError`.
    """
    connection = duckdb.connect()
    try:
        docs = connection.sql(
            "SELECT row_number() OVER () AS rn, json::VARCHAR AS doc "
            f"FROM read_json_objects('{str(path).replace(chr(39), chr(39) * 2)}', "
            "format = 'array')"
        ).pl()
    except duckdb.Error as exc:
        raise SourceError(f"{path}: not a valid JSON array of objects: {exc}") from None
    finally:
        connection.close()
    docs = docs.with_columns(pl.col("rn").cast(pl.Int64))
    return _objects_and_rejects(docs, path, source, list_columns, mapped_columns)
