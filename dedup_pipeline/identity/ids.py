"""Stable client ids: a golden client keeps its id from run to run.

Splink numbers clusters afresh on every run; downstream systems, reviewers and CRMs need an
id that lasts. `reconcile_client_ids` carries ids over from the previous run's membership
(record -> client id) to this run's clusters by their records in common:

- **kept**: a previous client's id goes to the cluster holding most of its records (its
  *heir*; on a tie, the cluster with the smallest id). A cluster that is heir to one
  client keeps that id, whatever records joined or left it.
- **merged**: a cluster that is heir to several clients keeps the *oldest* id (ids are
  issued in increasing order, so the smallest); the others become redirects to it.
- **split**: the parts of a client that are not its heir get new ids, recorded as split
  from it.
- **created**: a cluster of records no client held before gets a new id.
- **retired**: a client none of whose records is left (deleted at the source) keeps its
  id in the registry with status ``retired``.

Ids look like ``CL0000000042`` and are never reused. The registry keeps every id ever
issued with its status, and a merged id's ``redirect_to`` always names a current id: when
a survivor is merged in turn, earlier redirects to it are moved on. Every change is an
event with the run that caused it. Running again on the same clusters changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dedup_pipeline.schema import require_columns

__all__ = [
    "CLIENT_EVENT_SCHEMA",
    "CLIENT_REGISTRY_SCHEMA",
    "MEMBERSHIP_SCHEMA",
    "ClientIdentity",
    "IdEvent",
    "IdStatus",
    "reconcile_client_ids",
    "resolve_client_ids",
    "with_client_ids",
]

#: Prefix and width of issued ids: ``CL`` and ten digits.
ID_PREFIX = "CL"
ID_DIGITS = 10


class IdEvent:
    """What happened to a client id in a run (plain strings in ``client_id_events``)."""

    CREATED = "created"
    SPLIT = "split"
    MERGED = "merged"
    RETIRED = "retired"


class IdStatus:
    """A registry entry's state."""

    ACTIVE = "active"
    MERGED = "merged"
    RETIRED = "retired"


#: One row per present record: its client's id.
MEMBERSHIP_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "client_id": pl.String(),
}

#: One row per id ever issued.
CLIENT_REGISTRY_SCHEMA: dict[str, pl.DataType] = {
    "client_id": pl.String(),
    "status": pl.String(),
    "redirect_to": pl.String(),
    "record_count": pl.UInt32(),
    "created_run_id": pl.String(),
    "updated_run_id": pl.String(),
}

#: One row per id event. For ``merged``, ``related_client_id`` is the surviving id; for
#: ``split``, the id the records were split from.
CLIENT_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "event": pl.String(),
    "client_id": pl.String(),
    "related_client_id": pl.String(),
    "record_count": pl.UInt32(),
}


@dataclass(frozen=True)
class ClientIdentity:
    """Output of `reconcile_client_ids`.

    Attributes
    ----------
    membership
        `MEMBERSHIP_SCHEMA`: every record of this run and its client id.
    cluster_ids
        ``cluster_id`` (this run's) and ``client_id``.
    registry
        `CLIENT_REGISTRY_SCHEMA`: every id ever issued, updated by this run.
    events
        `CLIENT_EVENT_SCHEMA`: this run's id events only.
    changes
        Clients of this run by what happened to them: ``unchanged`` (same id, same
        records), ``changed`` (same id, records joined or left), ``merged`` (kept the
        oldest of several ids), ``split`` and ``created`` (new ids), and ``retired`` ids.
    """

    membership: pl.DataFrame
    cluster_ids: pl.DataFrame
    registry: pl.DataFrame
    events: pl.DataFrame
    changes: dict[str, int]


def _format_ids(numbers: pl.Expr) -> pl.Expr:
    return pl.lit(ID_PREFIX) + numbers.cast(pl.String).str.zfill(ID_DIGITS)


def _next_number(registry: pl.DataFrame) -> int:
    if registry.is_empty():
        return 1
    numbers = registry.get_column("client_id").str.strip_prefix(ID_PREFIX).cast(pl.Int64)
    return int(numbers.max() or 0) + 1  # type: ignore[arg-type]


def reconcile_client_ids(
    clusters: pl.DataFrame,
    *,
    run_id: str,
    previous_membership: pl.DataFrame | None = None,
    previous_registry: pl.DataFrame | None = None,
) -> ClientIdentity:
    """Give this run's clusters the ids their records had, by the rules above.

    Parameters
    ----------
    clusters
        ``record_id`` and ``cluster_id`` (this run's cluster labels), one row per record.
    run_id
        The run, recorded on events and registry entries.
    previous_membership
        The last run's `MEMBERSHIP_SCHEMA` table, or None on the first run.
    previous_registry
        The last run's `CLIENT_REGISTRY_SCHEMA` table, or None on the first run.
    """
    require_columns(clusters, ["record_id", "cluster_id"], table="clusters")
    current = clusters.select("record_id", "cluster_id")
    previous = (
        pl.DataFrame(schema=MEMBERSHIP_SCHEMA)
        if previous_membership is None
        else previous_membership.select(list(MEMBERSHIP_SCHEMA))
    )
    registry = (
        pl.DataFrame(schema=CLIENT_REGISTRY_SCHEMA)
        if previous_registry is None
        else previous_registry.select(list(CLIENT_REGISTRY_SCHEMA))
    )
    sizes = current.group_by("cluster_id").agg(
        record_count=pl.len().cast(pl.UInt32), first_record=pl.col("record_id").min()
    )
    overlap = (
        current.join(previous, on="record_id")
        .group_by("cluster_id", "client_id")
        .agg(shared=pl.len().cast(pl.UInt32))
    )
    # Each previous client's heir: the cluster holding most of its records.
    heirs = overlap.sort(
        ["client_id", "shared", "cluster_id"], descending=[False, True, False]
    ).unique("client_id", keep="first", maintain_order=True)
    # A cluster heir to several clients keeps the oldest (smallest) id.
    kept = heirs.group_by("cluster_id").agg(pl.col("client_id").min())
    merged = heirs.join(kept, on="cluster_id", suffix="_survivor").filter(
        pl.col("client_id") != pl.col("client_id_survivor")
    )
    fresh = (
        sizes.join(kept, on="cluster_id", how="anti")
        .sort("first_record")
        .with_row_index("offset")
        .with_columns(
            client_id=_format_ids(pl.col("offset").cast(pl.Int64) + _next_number(registry))
        )
    )
    # A new id that took records from a previous client was split from it (the one it
    # took most from).
    split_from = (
        overlap.join(fresh.select("cluster_id"), on="cluster_id")
        .sort(["cluster_id", "shared", "client_id"], descending=[False, True, False])
        .unique("cluster_id", keep="first")
        .select("cluster_id", related_client_id="client_id")
    )
    cluster_ids = pl.concat([kept, fresh.select("cluster_id", "client_id")])
    membership = current.join(cluster_ids, on="cluster_id").select(list(MEMBERSHIP_SCHEMA))
    # Each previous client's size: for the events and to tell unchanged clients.
    before = previous.group_by("client_id").agg(record_count=pl.len().cast(pl.UInt32))
    retired = before.join(heirs.select("client_id"), on="client_id", how="anti")

    new_events = fresh.join(split_from, on="cluster_id", how="left").select(
        pl.lit(run_id).alias("run_id"),
        event=pl.when(pl.col("related_client_id").is_null())
        .then(pl.lit(IdEvent.CREATED))
        .otherwise(pl.lit(IdEvent.SPLIT)),
        client_id="client_id",
        related_client_id="related_client_id",
        record_count="record_count",
    )
    merge_events = merged.join(before, on="client_id").select(
        pl.lit(run_id).alias("run_id"),
        event=pl.lit(IdEvent.MERGED),
        client_id="client_id",
        related_client_id="client_id_survivor",
        record_count="record_count",
    )
    retire_events = retired.select(
        pl.lit(run_id).alias("run_id"),
        event=pl.lit(IdEvent.RETIRED),
        client_id="client_id",
        related_client_id=pl.lit(None, dtype=pl.String),
        record_count="record_count",
    )
    events = (
        pl.concat([new_events, merge_events, retire_events])
        .cast(CLIENT_EVENT_SCHEMA)  # type: ignore[arg-type]
        .sort("event", "client_id")
    )

    # Which kept clients have the same records as before.
    kept_state = (
        kept.join(sizes.select("cluster_id", "record_count"), on="cluster_id")
        .join(before.rename({"record_count": "before"}), on="client_id", how="left")
        .join(heirs.select("client_id", "shared"), on="client_id", how="left")
        .join(
            merged.group_by("client_id_survivor").len(),
            left_on="client_id",
            right_on="client_id_survivor",
            how="left",
        )
        .with_columns(
            unchanged=(pl.col("record_count") == pl.col("before"))
            & (pl.col("shared") == pl.col("before"))
            & pl.col("len").is_null(),
            merged=pl.col("len").is_not_null(),
        )
    )
    registry = _updated_registry(registry, kept_state, fresh, merged, retired, run_id=run_id)
    changes = {
        "unchanged": int(kept_state.get_column("unchanged").sum()),
        "changed": int((~kept_state["unchanged"] & ~kept_state["merged"]).sum()),
        "merged": int(kept_state.get_column("merged").sum()),
        "split": int((new_events["event"] == IdEvent.SPLIT).sum()),
        "created": int((new_events["event"] == IdEvent.CREATED).sum()),
        "retired": retired.height,
        "redirected": merged.height,
    }
    return ClientIdentity(
        membership=membership,
        cluster_ids=cluster_ids,
        registry=registry,
        events=events,
        changes=changes,
    )


def _updated_registry(
    registry: pl.DataFrame,
    kept_state: pl.DataFrame,
    fresh: pl.DataFrame,
    merged: pl.DataFrame,
    retired: pl.DataFrame,
    *,
    run_id: str,
) -> pl.DataFrame:
    survivor_of = merged.select("client_id", redirect="client_id_survivor")
    touched = kept_state.filter(~pl.col("unchanged")).select("client_id", "record_count")
    updated = (
        registry.join(survivor_of, on="client_id", how="left")
        # Earlier redirects to an id merged now move on to its survivor.
        .join(
            survivor_of.rename({"client_id": "redirect_to", "redirect": "onward"}),
            on="redirect_to",
            how="left",
        )
        .join(touched.rename({"record_count": "count_now"}), on="client_id", how="left")
        .with_columns(
            is_retired=pl.col("client_id").is_in(retired.get_column("client_id").implode()),
        )
        .with_columns(
            status=pl.when(pl.col("redirect").is_not_null())
            .then(pl.lit(IdStatus.MERGED))
            .when(pl.col("is_retired"))
            .then(pl.lit(IdStatus.RETIRED))
            .otherwise("status"),
            redirect_to=pl.coalesce("redirect", "onward", "redirect_to"),
            record_count=pl.when(pl.col("redirect").is_not_null() | pl.col("is_retired"))
            .then(pl.lit(0, dtype=pl.UInt32))
            .otherwise(pl.coalesce("count_now", "record_count")),
            updated_run_id=pl.when(
                pl.col("redirect").is_not_null()
                | pl.col("onward").is_not_null()
                | pl.col("is_retired")
                | pl.col("count_now").is_not_null()
            )
            .then(pl.lit(run_id))
            .otherwise("updated_run_id"),
        )
        .select(list(CLIENT_REGISTRY_SCHEMA))
    )
    issued = fresh.select(
        "client_id",
        status=pl.lit(IdStatus.ACTIVE),
        redirect_to=pl.lit(None, dtype=pl.String),
        record_count="record_count",
        created_run_id=pl.lit(run_id),
        updated_run_id=pl.lit(run_id),
    )
    return pl.concat([updated, issued.cast(CLIENT_REGISTRY_SCHEMA)]).sort(  # type: ignore[arg-type]
        "client_id"
    )


def resolve_client_ids(client_ids: pl.Series, registry: pl.DataFrame) -> pl.DataFrame:
    """Where each id points now: itself if active, its survivor if merged.

    Parameters
    ----------
    client_ids
        Ids a downstream system holds, current or old.
    registry
        The `CLIENT_REGISTRY_SCHEMA` table.

    Returns
    -------
    polars.DataFrame
        ``client_id``, ``current_client_id`` (null for an unknown id) and ``status``.
    """
    asked = client_ids.alias("client_id").cast(pl.String).to_frame()
    return asked.join(
        registry.select("client_id", "status", "redirect_to"), on="client_id", how="left"
    ).select(
        "client_id",
        current_client_id=pl.when(pl.col("status") == IdStatus.MERGED)
        .then("redirect_to")
        .when(pl.col("status").is_not_null())
        .then("client_id"),
        status="status",
    )


def with_client_ids(clusters: pl.DataFrame, identity: ClientIdentity) -> pl.DataFrame:
    """``clusters`` with each ``cluster_id`` replaced by its stable client id.

    From here on a cluster's id is its client's: golden profiles, merge instructions and
    exports all carry ids that last across runs.
    """
    require_columns(clusters, ["record_id", "cluster_id"], table="clusters")
    relabel = identity.cluster_ids.rename({"client_id": "stable_id"})
    return (
        clusters.join(relabel, on="cluster_id", how="left")
        .with_columns(cluster_id=pl.col("stable_id"))
        .select(clusters.columns)
    )
