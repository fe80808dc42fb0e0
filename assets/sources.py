"""One asset per configured export: its source records, quarantined rows and value issues."""

import polars as pl
from dagster import AssetExecutionContext, AssetOut, Output, multi_asset

from assets.crm import pull_asset_name
from assets.resources import DuckDBWarehouse, PipelineSettings
from dedup_pipeline.config import SourceConfig
from dedup_pipeline.sources import read_source
from dedup_pipeline.sources.fingerprint import export_fingerprint, tables_fingerprint

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


#: Not an asset: per source, the export each stored table was read from.
_FINGERPRINTS = "source_fingerprints"
_FINGERPRINT_SCHEMA = {
    "source": pl.String,
    "export": pl.String,
    "tables": pl.String,
    "encoding": pl.String,
    "delimiter": pl.String,
}


def _unchanged(
    last: dict[str, pl.DataFrame], names: list[str], source: str, fingerprint: str
) -> bool:
    """Whether the stored tables were read from this very export (same bytes, same
    reading options); a nightly run then uses them instead of reading it again."""
    if not all(name in last for name in [*names, _FINGERPRINTS]):
        return False
    if last[_FINGERPRINTS].columns != list(_FINGERPRINT_SCHEMA):
        return False
    row = last[_FINGERPRINTS].filter(pl.col("source") == source)
    return (
        row.height == 1
        and row.item(0, "export") == fingerprint
        and row.item(0, "tables") == tables_fingerprint(*(last[name] for name in names))
    )


def _remember(warehouse: DuckDBWarehouse, source: str, fingerprint: str, result) -> None:
    stored = warehouse.read_tables(_FINGERPRINTS).get(_FINGERPRINTS)
    if stored is None or stored.columns != list(_FINGERPRINT_SCHEMA):
        stored = pl.DataFrame(schema=_FINGERPRINT_SCHEMA)
    row = pl.DataFrame(
        {
            "source": [source],
            "export": [fingerprint],
            "tables": [tables_fingerprint(result.records, result.quarantine, result.issues)],
            "encoding": [result.encoding],
            "delimiter": [result.delimiter],
        },
        schema=_FINGERPRINT_SCHEMA,
    )
    warehouse.write_table(
        _FINGERPRINTS, pl.concat([stored.filter(pl.col("source") != source), row])
    )


def _source_asset(source: SourceConfig):
    @multi_asset(
        name=f"read_{source.name}",
        group_name="sources",
        # A CRM source's export is what its pull wrote.
        deps=[pull_asset_name(source)] if source.crm is not None else [],
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
    def read_export(
        context: AssetExecutionContext, settings: PipelineSettings, warehouse: DuckDBWarehouse
    ):
        declared = settings.config.source(source.name)
        names = [raw_asset_name(source), quarantine_asset_name(source), issues_asset_name(source)]
        fingerprint = export_fingerprint(declared)
        if settings.mode == "incremental":
            last = warehouse.read_tables(*names, _FINGERPRINTS)
            if _unchanged(last, names, source.name, fingerprint):
                context.log.info(f"{declared.path.name}: unchanged since the last run")
                records, quarantine, issues = (last[name] for name in names)
                read = last[_FINGERPRINTS].filter(pl.col("source") == source.name)
                yield Output(
                    records,
                    output_name=names[0],
                    metadata={
                        "file": str(declared.path),
                        "unchanged_since_last_run": True,
                        "rows_read": records.height + quarantine.height,
                        "records": records.height,
                        "encoding": read.item(0, "encoding") or "",
                        "delimiter": read.item(0, "delimiter") or "",
                        "value_issues": issues.height,
                    },
                )
                yield Output(
                    quarantine, output_name=names[1], metadata={"quarantined": quarantine.height}
                )
                yield Output(issues, output_name=names[2], metadata={"issues": issues.height})
                return
        result = read_source(declared)
        context.log.info(
            f"{declared.path.name}: {result.rows_read} rows, {result.records.height} records, "
            f"{result.quarantine.height} quarantined"
        )
        _remember(warehouse, source.name, fingerprint, result)
        yield Output(
            result.records,
            output_name=names[0],
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
            output_name=names[1],
            metadata={"quarantined": result.quarantine.height},
        )
        yield Output(
            result.issues,
            output_name=names[2],
            metadata={"issues": result.issues.height},
        )

    return read_export


def build_source_assets(sources: list[SourceConfig]) -> list:
    """Return the reading assets of every configured source."""
    return [_source_asset(source) for source in sources]
