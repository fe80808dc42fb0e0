"""One asset pair per configured export: its source records and its quarantined rows."""

from dagster import AssetExecutionContext, AssetOut, Output, multi_asset

from assets.resources import PipelineSettings
from dedup_pipeline.config import SourceConfig
from dedup_pipeline.sources import read_source

__all__ = [
    "build_source_assets",
    "issues_asset_name",
    "quarantine_asset_name",
    "raw_asset_name",
]


def issues_asset_name(source: SourceConfig) -> str:
    """Asset name of a source's value problems (in records that were kept)."""
    return f"issues_{source.name}"


def raw_asset_name(source: SourceConfig) -> str:
    """Asset name of a source's records."""
    return f"raw_{source.name}"


def quarantine_asset_name(source: SourceConfig) -> str:
    """Asset name of a source's quarantined rows."""
    return f"quarantine_{source.name}"


def _source_asset(source: SourceConfig):
    @multi_asset(
        name=f"read_{source.name}",
        group_name="sources",
        outs={
            raw_asset_name(source): AssetOut(description=f"Source records of {source.path.name}"),
            quarantine_asset_name(source): AssetOut(
                description=f"Rows of {source.path.name} that could not be read"
            ),
            issues_asset_name(source): AssetOut(
                description=f"Unusable values in kept records of {source.path.name}"
            ),
        },
    )
    def read_export(context: AssetExecutionContext, settings: PipelineSettings):
        declared = settings.config.source(source.name)
        result = read_source(declared)
        context.log.info(
            f"{declared.path.name}: {result.rows_read} rows, {result.records.height} records, "
            f"{result.quarantine.height} quarantined"
        )
        yield Output(
            result.records,
            output_name=raw_asset_name(source),
            metadata={
                "file": str(declared.path),
                "rows_read": result.rows_read,
                "records": result.records.height,
                "encoding": result.encoding or "",
                "delimiter": result.delimiter or "",
                "value_issues": result.issues.height,
            },
        )
        yield Output(
            result.quarantine,
            output_name=quarantine_asset_name(source),
            metadata={"quarantined": result.quarantine.height},
        )
        yield Output(
            result.issues,
            output_name=issues_asset_name(source),
            metadata={"issues": result.issues.height},
        )

    return read_export


def build_source_assets(sources: list[SourceConfig]) -> list:
    """Return the reading assets of every configured source."""
    return [_source_asset(source) for source in sources]
