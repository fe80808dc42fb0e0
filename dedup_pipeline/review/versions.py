"""What a record said when a reviewer decided: a short hash of its contents.

A decision stores the version of each record the reviewer saw. When a later run finds a
record with a different version (a new phone, a corrected name), the decision no longer
speaks for it: the decision is set aside and, if the model is still in doubt, the proposal
comes back to the queue flagged ``records_changed``.

Only the contact's content counts (names, phones, e-mails, company, city and extra fields
as exported); timestamps, row numbers and passthrough attributes do not, so a CRM touching
``updated_at`` does not re-open a decision.
"""

from __future__ import annotations

import duckdb
import polars as pl

from dedup_pipeline.schema import require_columns

__all__ = ["CONTENT_COLUMNS", "record_versions"]

#: The contact columns a record's version covers.
CONTENT_COLUMNS: tuple[str, ...] = (
    "first_name",
    "middle_name",
    "last_name",
    "full_name",
    "phones",
    "emails",
    "company",
    "city",
    "extra",
)


def record_versions(contacts: pl.DataFrame) -> pl.DataFrame:
    """The version of every record: 16 hex digits of an MD5 of its content.

    Parameters
    ----------
    contacts
        ``record_id`` and `CONTENT_COLUMNS` (the normalized contacts table).

    Returns
    -------
    polars.DataFrame
        ``record_id`` and ``record_version``, one row per record.
    """
    require_columns(contacts, ["record_id", *CONTENT_COLUMNS], table="contacts")
    content = contacts.select("record_id", *CONTENT_COLUMNS).to_arrow()
    fields = ", ".join(f'"{name}" := "{name}"' for name in CONTENT_COLUMNS)
    # DuckDB hashes in bulk and its JSON text of a struct is stable across versions, which
    # a dataframe library's row hash does not promise.
    with duckdb.connect() as connection:
        connection.register("content", content)
        versions = connection.execute(
            f"select record_id, left(md5(to_json(struct_pack({fields}))), 16) as record_version "
            "from content"
        ).pl()
    return versions.with_columns(pl.col("record_id").cast(pl.String))
