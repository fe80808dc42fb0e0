"""A client's history across sources: when and how they first and last came, through
which channels, and the channel they use most."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import polars as pl

from dedup_pipeline.config import SourceConfig
from dedup_pipeline.schema import require_columns

__all__ = ["CLIENT_HISTORY_SCHEMA", "client_history", "record_channels"]

#: Columns `client_history` gives per client cluster.
CLIENT_HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "cluster_id": pl.String(),
    "first_contact_at": pl.Datetime("us"),
    "first_contact_source": pl.String(),
    "first_contact_channel": pl.String(),
    "last_contact_at": pl.Datetime("us"),
    "last_contact_source": pl.String(),
    "last_contact_channel": pl.String(),
    "channel_counts": pl.String(),  # "Звонок: 3; web form: 1", most used first
    "preferred_channel": pl.String(),
    # The members and the channel settings: equal, the history is too.
    "history_version": pl.String(),
}

_VERSION_SEED = 20261124


def record_channels(sources: Sequence[SourceConfig]) -> pl.Expr:
    """Each record's channel: its ``channel_column`` value, else its source's ``channel``,
    else null (the data does not say)."""
    defaults = {s.name: s.channel for s in sources if s.channel}
    channel = pl.col("source").replace_strict(defaults, default=None, return_dtype=pl.String)
    for source in sources:
        if source.channel_column:
            path = '$["' + source.channel_column.replace('"', '\\"') + '"]'
            own = pl.col("attributes").str.json_path_match(path).str.strip_chars()
            channel = (
                pl.when((pl.col("source") == source.name) & (own.str.len_chars() > 0))
                .then(own)
                .otherwise(channel)
            )
    return channel


def _history_versions(records: pl.DataFrame, sources: Sequence[SourceConfig]) -> pl.DataFrame:
    """``cluster_id`` and ``history_version``: the channel settings, then the members."""
    settings = [(s.name, s.channel, s.channel_column) for s in sources]
    prefix = hashlib.sha256(repr(settings).encode("utf-8")).hexdigest()[:16]
    # XOR of the members' hashes: independent of row order, and members are distinct.
    return (
        records.select(
            "cluster_id", member=pl.struct(pl.exclude("cluster_id")).hash(seed=_VERSION_SEED)
        )
        .group_by("cluster_id")
        .agg(pl.col("member").bitwise_xor())
        .select("cluster_id", history_version=pl.format("{}-{}", pl.lit(prefix), "member"))
    )


def client_history(
    contacts: pl.DataFrame,
    clusters: pl.DataFrame,
    *,
    sources: Sequence[SourceConfig],
    previous: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per client cluster, the first and last contact and the channels used.

    Parameters
    ----------
    contacts
        Contacts with ``record_id``, ``source``, ``attributes``, ``created_at`` and
        ``updated_at``.
    clusters
        ``record_id`` and ``cluster_id``.
    sources
        The configured sources (their ``channel`` and ``channel_column``).
    previous
        The last run's histories (`CLIENT_HISTORY_SCHEMA`): a client whose members and
        channel settings are as they were (``history_version``) keeps its row, and only
        the others are worked out again.

    Returns
    -------
    polars.DataFrame
        `CLIENT_HISTORY_SCHEMA`. A record counts as a contact when it was created (first)
        and when it last changed (last). ``preferred_channel`` is the channel most of the
        client's records came through; on a tie, the one used last; null when no record
        names its channel.
    """
    require_columns(
        contacts,
        ["record_id", "source", "attributes", "created_at", "updated_at"],
        table="contacts",
    )
    records = clusters.select("record_id", "cluster_id").join(
        contacts.select("record_id", "source", "attributes", "created_at", "updated_at"),
        on="record_id",
    )
    versions = _history_versions(records, sources)
    kept = pl.DataFrame(schema=CLIENT_HISTORY_SCHEMA)
    if previous is not None and "history_version" in previous.columns:
        kept = (
            previous.select(list(CLIENT_HISTORY_SCHEMA))
            .join(versions, on=["cluster_id", "history_version"], how="semi")
            .cast(CLIENT_HISTORY_SCHEMA)  # type: ignore[arg-type]
        )
        records = records.join(kept, on="cluster_id", how="anti")
    records = records.with_columns(
        channel=record_channels(sources),
        last_at=pl.coalesce("updated_at", "created_at"),
    )
    # One pass: records in id order, so a tie goes to the smallest id for the first
    # contact and (searching backwards) to the largest for the last.
    records = records.sort("record_id")
    first_at = pl.col("created_at").arg_min()
    last_at = pl.col("last_at").reverse().arg_max()
    contacts_at = records.group_by("cluster_id").agg(
        first_contact_at=pl.col("created_at").min(),
        first_contact_source=pl.col("source").get(first_at),
        first_contact_channel=pl.col("channel").get(first_at),
        last_contact_at=pl.col("last_at").max(),
        last_contact_source=pl.col("source").reverse().get(last_at),
        last_contact_channel=pl.col("channel").reverse().get(last_at),
    )
    counts = (
        records.filter(pl.col("channel").is_not_null())
        .group_by("cluster_id", "channel")
        .agg(records=pl.len(), latest=pl.col("last_at").max())
        .sort(
            ["cluster_id", "records", "latest", "channel"],
            descending=[False, True, True, False],
            nulls_last=True,
        )
        .group_by("cluster_id", maintain_order=True)
        .agg(
            channel_counts=pl.format("{}: {}", "channel", "records").str.join("; "),
            preferred_channel=pl.col("channel").first(),
        )
    )
    worked_out = contacts_at.join(counts, on="cluster_id", how="left").join(
        versions, on="cluster_id"
    )
    return (
        pl.concat([kept, worked_out.select(list(CLIENT_HISTORY_SCHEMA))], how="vertical_relaxed")
        .cast(CLIENT_HISTORY_SCHEMA)  # type: ignore[arg-type]
        .sort("cluster_id")
    )
