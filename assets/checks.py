"""Asset checks: the guarantees every run must keep."""

import polars as pl
from dagster import AssetCheckResult, AssetIn, asset_check

from assets.resources import PipelineSettings
from dedup_pipeline.review import Outcome

__all__ = ["CHECKS"]


@asset_check(asset="clusters", additional_ins={"source_records": AssetIn("source_records")})
def every_record_in_exactly_one_cluster(
    clusters: pl.DataFrame, source_records: pl.DataFrame
) -> AssetCheckResult:
    """Each source record appears in exactly one client cluster."""
    counts = clusters.group_by("record_id").len()
    repeated = counts.filter(pl.col("len") > 1).height
    missing = source_records.join(clusters, on="record_id", how="anti").height
    unknown = clusters.join(source_records, on="record_id", how="anti").height
    return AssetCheckResult(
        passed=repeated == 0 and missing == 0 and unknown == 0,
        metadata={"in_several_clusters": repeated, "in_no_cluster": missing, "unknown": unknown},
    )


@asset_check(asset="golden_profiles", additional_ins={"clusters": AssetIn("clusters")})
def one_golden_profile_per_cluster(
    golden_profiles: pl.DataFrame, clusters: pl.DataFrame
) -> AssetCheckResult:
    """Every client cluster has exactly one golden profile, and nothing else does."""
    cluster_ids = clusters.select("cluster_id").unique()
    duplicated = golden_profiles.get_column("cluster_id").is_duplicated().sum()
    without = cluster_ids.join(golden_profiles, on="cluster_id", how="anti").height
    orphaned = golden_profiles.join(cluster_ids, on="cluster_id", how="anti").height
    return AssetCheckResult(
        passed=duplicated == 0 and without == 0 and orphaned == 0,
        metadata={"duplicated": int(duplicated), "clusters_without": without, "orphans": orphaned},
    )


@asset_check(asset="clusters")
def no_oversized_merge(settings: PipelineSettings, clusters: pl.DataFrame) -> AssetCheckResult:
    """No automatically merged cluster exceeds ``decision.max_cluster_size``."""
    limit = settings.config.decision.max_cluster_size
    largest = (
        clusters.filter(pl.col("outcome") == Outcome.AUTO_MERGE).get_column("cluster_size").max()
    )
    largest = int(largest or 0)
    return AssetCheckResult(
        passed=largest <= limit, metadata={"largest_merge": largest, "max_cluster_size": limit}
    )


CHECKS = [every_record_in_exactly_one_cluster, one_golden_profile_per_cluster, no_oversized_merge]
