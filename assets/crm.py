"""CRM accounts in the asset graph: each CRM source is pulled before its export is read,
and the run's merge instructions are pushed to it (planned only, unless told to apply)."""

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetIn,
    ConfigurableResource,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from assets.resources import DuckDBWarehouse, PipelineSettings
from dedup_pipeline.config import SourceConfig
from dedup_pipeline.crm import CrmConnector, PushLedger, open_connector, pull_source
from dedup_pipeline.crm.push import push_instructions
from dedup_pipeline.crm.sync import push_plan_path, write_push_plan

__all__ = ["CrmAccounts", "build_crm_assets", "pull_asset_name", "push_asset_name"]


class CrmAccounts(ConfigurableResource):
    """The CRM accounts of the configuration's ``crm`` sources.

    Pushes only plan (the requests go to ``push_plan_<source>.jsonl``) unless ``apply``
    is set for the run, as ``dedup push`` needs ``--apply``.
    """

    apply: bool = Field(
        default=False, description="Send the merge instructions to the CRMs (else plan only)."
    )

    def open(self, source: SourceConfig) -> CrmConnector:
        """The connector of ``source``, its token read from the environment."""
        return open_connector(source)


def pull_asset_name(source: SourceConfig) -> str:
    """Asset name of a CRM source's pull."""
    return f"pull_{source.name}"


def push_asset_name(source: SourceConfig) -> str:
    """Asset name of a CRM source's push."""
    return f"push_{source.name}"


def _pull_asset(source: SourceConfig):
    kind = source.crm.kind.value if source.crm is not None else "CRM"

    @asset(
        name=pull_asset_name(source),
        group_name="crm",
        description=f"Contacts of the {kind} account, pulled to {source.path.name}: all "
        "in a full sweep, the changed ones in a nightly run.",
    )
    def pull(
        context: AssetExecutionContext,
        settings: PipelineSettings,
        warehouse: DuckDBWarehouse,
        crm: CrmAccounts,
    ) -> MaterializeResult:
        declared = settings.config.source(source.name)
        with warehouse.connect() as connection:
            merged_away = PushLedger(connection).merged_away(source.name)
        connector = crm.open(declared)
        try:
            report = pull_source(
                declared, connector, full=settings.mode == "full", merged_away=merged_away
            )
        finally:
            connector.close()
        context.log.info(
            f"{source.name}: {report.mode} pull read {report.read} contacts, "
            f"{report.total} in {report.path.name}"
        )
        return MaterializeResult(
            metadata={
                "mode": report.mode,
                "read": report.read,
                "added": report.added,
                "changed": report.changed,
                "removed": report.removed,
                "contacts": report.total,
                "file": str(report.path),
            }
        )

    return pull


def _push_asset(source: SourceConfig):
    @asset(
        name=push_asset_name(source),
        group_name="crm",
        ins={"merge_instructions": AssetIn("merge_instructions")},
        description=f"The merge instructions of {source.name}, planned (or applied, with "
        "the crm resource's apply) in its CRM; outcomes in the push_ledger table.",
    )
    def push(
        context: AssetExecutionContext,
        settings: PipelineSettings,
        warehouse: DuckDBWarehouse,
        crm: CrmAccounts,
        merge_instructions: pl.DataFrame,
    ) -> MaterializeResult:
        config = settings.config
        declared = config.source(source.name)
        connector = crm.open(declared)
        try:
            with warehouse.connect() as connection:
                report = push_instructions(
                    merge_instructions,
                    source=source.name,
                    connector=connector,
                    ledger=PushLedger(connection),
                    apply=crm.apply,
                )
        finally:
            connector.close()
        metadata: dict[str, object] = {
            "applied_to_crm": crm.apply,
            "instructions": report.instructions,
            "done_before": report.settled,
        }
        if crm.apply:
            metadata.update(
                applied=report.applied, conflicts=report.conflicts, failed=report.failed
            )
            if report.conflict_links:
                links = "\n".join(f"- {link}" for link in report.conflict_links[:50])
                metadata["merge_by_hand"] = MetadataValue.md(links)
        else:
            plan = push_plan_path(config, source.name)
            write_push_plan(plan, report)
            metadata.update(planned=len(report.planned), plan=str(plan))
        if report.stopped:
            raise Failure(
                description=f"push to {source.name} stopped: {report.stopped}. Run again to "
                "resume; applied instructions are not sent twice.",
                metadata=metadata,
            )
        return MaterializeResult(metadata=metadata)

    return push


def build_crm_assets(sources: list[SourceConfig]) -> list:
    """A pull asset per CRM source, and a push asset per CRM source that is a merge target."""
    crms = [source for source in sources if source.crm is not None]
    return [
        *(_pull_asset(source) for source in crms),
        *(_push_asset(source) for source in crms if source.merge_target),
    ]
