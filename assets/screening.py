"""Records kept out of merges: blacklisted values and junk."""

import polars as pl
from dagster import Output, asset

from assets.metadata import markdown_table
from assets.resources import PipelineSettings
from dedup_pipeline.screening import Blacklist, flag_records

__all__ = ["flagged_records"]


@asset(group_name="contacts")
def flagged_records(settings: PipelineSettings, contacts: pl.DataFrame) -> Output:
    """Blacklisted and junk records, with the reasons; the decide stage keeps each one
    apart (outcome ``flagged``)."""
    config = settings.config
    # The list file is read at every run, so an edit takes effect on the next night.
    blacklist = Blacklist.from_config(config.blacklist, sources=[s.name for s in config.sources])
    flagged = flag_records(contacts, blacklist=blacklist, junk=config.junk)
    per_reason = (
        flagged.explode("reasons")
        .group_by("source", reason="reasons")
        .len()
        .sort("len", "source", descending=[True, False])
    )
    return Output(
        flagged,
        metadata={
            "flagged": flagged.height,
            "blacklist_version": blacklist.version,
            "per_reason": markdown_table(per_reason),
        },
    )
