"""Cluster hygiene: chains through a name-less record fall apart at the conflict."""

import polars as pl

from dedup_pipeline.match.hygiene import split_conflicting_clusters


def _clusters(mapping: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame({"record_id": list(mapping), "cluster_id": list(mapping.values())})


def _edges(*edges: tuple[str, str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        edges, schema=["record_id_l", "record_id_r", "match_probability"], orient="row"
    )


def _groups(frame: pl.DataFrame) -> set[frozenset[str]]:
    return {frozenset(g) for g in frame.group_by("cluster_id").agg("record_id")["record_id"]}


def test_a_chain_of_colleagues_is_cut_where_the_names_conflict():
    # "Mary Smith" - "Mary" (no last name, shares both phones) - "Mary Morris"
    clusters = _clusters({"smith": "c", "mary": "c", "morris": "c", "smith2": "c", "other": "o"})
    edges = _edges(
        ("mary", "smith", 0.995),
        ("mary", "morris", 0.999),
        ("smith", "smith2", 0.9999),
    )
    cannot = pl.DataFrame({"record_id_l": ["morris", "morris"], "record_id_r": ["smith", "smith2"]})
    split = split_conflicting_clusters(clusters, edges, cannot)
    # The strongest tie wins: "Mary" stays with Morris; the Smiths stay together.
    assert _groups(split) == {
        frozenset({"mary", "morris"}),
        frozenset({"smith", "smith2"}),
        frozenset({"other"}),
    }
    assert split.filter(pl.col("record_id") == "other")["cluster_id"].item() == "o"


def test_consistent_clusters_are_left_alone():
    clusters = _clusters({"a": "c", "b": "c", "c": "c"})
    edges = _edges(("a", "b", 0.999), ("b", "c", 0.999))
    cannot = pl.DataFrame(schema={"record_id_l": pl.String, "record_id_r": pl.String})
    assert split_conflicting_clusters(clusters, edges, cannot).equals(clusters)
