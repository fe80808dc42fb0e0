"""Find the base records that matter to one lead without scanning the base.

A lead is judged against the records that share a value with it: the holders of its
phones and e-mails (is a phone shared by people with different names?), the records with
its name, surname, first name in its city, first name and surname initial (is the key rare
enough to block on?), and, for its mail domains, whether they are common. `KeyIndex` maps
each such key to the base's row numbers through a sorted array of 64-bit hashes: a lookup
is a binary search, and a million records take about twelve bytes per key.

The keys are the ones `dedup_pipeline.match.prepare.prepare_match_input` counts, read
from its registry of name blocks (`key_frame`).

"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from dedup_pipeline.config import ExtraFieldConfig
from dedup_pipeline.match.prepare import NAME_BLOCKS, name_block_keys
from dedup_pipeline.normalize.companies import FREE_EMAIL_DOMAINS

__all__ = ["DOMAIN", "WEAK_KINDS", "KeyIndex", "common_providers", "domain_of", "key_frame"]

#: The key kind of mail domains (of which at most `_ROWS_PER_DOMAIN` rows are indexed).
DOMAIN = "domain"

# A domain is rare when used at most twice and a provider when used three times or more
# (`dedup_pipeline.normalize.domains`): three rows per domain tell both apart.
_ROWS_PER_DOMAIN = 3
_SEPARATOR = "\x1f"
_SEED = 0


def domain_of(addresses: pl.Expr) -> pl.Expr:
    """The mail domain of each address of a ``List[str]`` column."""
    return addresses.list.eval(pl.element().str.split("@").list.last())


#: Kinds whose keys block only while rare (a tenth of ``max_block_size``): rare name
#: blocks and the company evidence.
WEAK_KINDS: frozenset[str] = frozenset(
    {*(block.column for block in NAME_BLOCKS if block.rare), "company_evidence"}
)


def key_frame(frame: pl.DataFrame, extra_fields: Mapping[str, ExtraFieldConfig]) -> pl.DataFrame:
    """Each key kind's values per row of match input columns, one column per kind.

    The values are those `prepare_match_input` counts: the record's phones, e-mails, mail
    domains and company evidence, the keys of every name block
    (`dedup_pipeline.match.prepare.name_block_keys`) and the blocking extra fields. List
    kinds hold several values per record. Every blocking column's values are among them.
    """
    return pl.concat(
        [
            frame.select(
                phone=pl.col("phones"),
                email=pl.col("emails"),
                company_evidence=pl.col("company_evidence"),
                **{DOMAIN: domain_of(pl.col("emails"))},
            ),
            name_block_keys(frame),
            frame.select(
                pl.col(name).alias(f"extra:{name}")
                for name, field in extra_fields.items()
                if field.blocking
            ),
        ],
        how="horizontal",
    )


def _hashes(kind: str, values: pl.Expr) -> pl.Expr:
    return pl.concat_str(pl.lit(kind), values, separator=_SEPARATOR).hash(seed=_SEED)


@dataclass(frozen=True)
class KeyIndex:
    """Row numbers of the base by key (a kind and a value), for lookups of a few keys.

    Attributes
    ----------
    hashes
        Sorted 64-bit hashes of ``"<kind>\\x1f<value>"``.
    rows
        The row number of each hash's record, ascending within a hash.
    """

    hashes: np.ndarray
    rows: np.ndarray

    @classmethod
    def build(cls, keys: pl.DataFrame) -> KeyIndex:
        """Index every record under each of its keys.

        Parameters
        ----------
        keys
            The base's keys (`key_frame`), one record per row (a row's number is its
            position).
        """
        row = pl.int_range(pl.len(), dtype=pl.UInt32).alias("row")
        parts = []
        for kind in keys.columns:
            values = keys.select(row, pl.col(kind).alias("value"))
            if isinstance(values.schema["value"], pl.List):
                values = values.explode("value")
            values = values.drop_nulls("value")
            if kind == DOMAIN:
                values = (
                    values.unique(maintain_order=True)
                    .group_by("value", maintain_order=True)
                    .head(_ROWS_PER_DOMAIN)
                )
            parts.append(values.select(_hashes(kind, pl.col("value")).alias("hash"), "row"))
        if not parts:
            empty = np.array([], dtype=np.uint64)
            return cls(hashes=empty, rows=np.array([], dtype=np.uint32))
        index = pl.concat(parts).sort("hash", "row")
        return cls(
            hashes=index.get_column("hash").to_numpy(),
            rows=index.get_column("row").to_numpy(),
        )

    def lookup(self, kind: str, values: Iterable[str], *, limit: int | None = None) -> np.ndarray:
        """Rows indexed under any of ``values`` of ``kind``, at most ``limit`` per value.

        A hash shared by two keys (about one chance in 10^12 on a million records) adds
        rows; callers keep only rows whose values really agree where it matters.
        """
        wanted = sorted({value for value in values if value is not None})
        if not wanted or not len(self.hashes):
            return np.array([], dtype=np.uint32)
        hashes = (
            pl.DataFrame({"value": wanted}, schema={"value": pl.String})
            .select(_hashes(kind, pl.col("value")))
            .to_series()
            .to_numpy()
        )
        starts = np.searchsorted(self.hashes, hashes, side="left")
        ends = np.searchsorted(self.hashes, hashes, side="right")
        if limit is not None:
            ends = np.minimum(ends, starts + limit)
        found = [self.rows[start:end] for start, end in zip(starts, ends, strict=True)]
        return np.unique(np.concatenate(found)) if found else np.array([], dtype=np.uint32)


def common_providers(match_input: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """The free-mail providers common in the base, and rows that show they are.

    `dedup_pipeline.normalize.domains.domain_typo_fixes` reads a rare domain one typo away
    from a free-mail provider used three times or more as that provider. Up to three rows
    holding each such provider are enough for a lead's fixes to come out as a nightly run
    would find them against the whole base.

    Returns
    -------
    tuple
        The providers' domains, sorted, and the rows (sorted row numbers).
    """
    domains = (
        match_input.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "emails")
        .explode("emails")
        .drop_nulls("emails")
        .select("row", domain=pl.col("emails").str.split("@").list.last())
        .filter(pl.col("domain").is_in(sorted(FREE_EMAIL_DOMAINS)))
    )
    common = domains.group_by("domain").len().filter(pl.col("len") >= _ROWS_PER_DOMAIN)
    rows = (
        domains.join(common.select("domain"), on="domain", how="semi")
        .unique(maintain_order=True)
        .group_by("domain", maintain_order=True)
        .head(_ROWS_PER_DOMAIN)
        .get_column("row")
        .unique()
        .sort()
    )
    return sorted(common.get_column("domain").to_list()), rows.to_numpy()
