"""The flow after reading: normalize -> match -> decide -> golden profiles -> instructions."""

from pathlib import Path

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from assets.metadata import markdown_table
from assets.resources import DuckDBWarehouse, PipelineSettings, ReviewStore
from assets.sources import issues_asset_name, quarantine_asset_name, raw_asset_name
from dedup_pipeline.config import PipelineConfig
from dedup_pipeline.enrich import client_history, enrich_profiles
from dedup_pipeline.identity import CLIENT_EVENT_SCHEMA, reconcile_client_ids, with_client_ids
from dedup_pipeline.match import (
    MATCH_INPUT_SCHEMA,
    MODEL_FILE,
    PreparedContacts,
    load_model,
    match_contacts,
    match_contacts_incrementally,
    save_model,
)
from dedup_pipeline.match.training import TrainingReport
from dedup_pipeline.normalize import NormalizedContacts, normalize_contacts
from dedup_pipeline.review import decide_clusters
from dedup_pipeline.review.constraints import labelled_pairs
from dedup_pipeline.review.touched import (
    decide_records,
    records_to_decide,
    updated_review_queue,
)
from dedup_pipeline.review.versions import record_versions
from dedup_pipeline.schema import QUARANTINE_SCHEMA, SOURCE_RECORD_SCHEMA
from dedup_pipeline.sources import ISSUE_SCHEMA
from dedup_pipeline.survivorship import build_golden_profiles
from dedup_pipeline.survivorship.golden import update_golden_profiles
from dedup_pipeline.survivorship.instructions import update_merge_instructions

__all__ = ["build_pipeline_assets"]


def _model_metadata(written: dict, source: str, *, trained: bool) -> dict:
    """What a run says about the model that scored it, and where its files are."""
    return {
        "model": "trained" if trained else "reused",
        "model_source": source,
        "model_file": MetadataValue.path(str(written[MODEL_FILE])),
        "model_outputs": MetadataValue.json({name: str(path) for name, path in written.items()}),
    }


def _model_source(reused_from: Path | None, training: TrainingReport | None) -> str:
    """In words: where the model that scored the run came from."""
    if reused_from is not None:
        return str(reused_from)
    if training is not None and training.source == "default":
        return f"the default model ({training.reason})"
    return "trained on this run's data"


def _match_settings(config: PipelineConfig) -> pl.DataFrame:
    """The settings kept pairs and clusters depend on; a nightly run must use the same."""
    return pl.DataFrame(
        {
            "candidate_threshold": [config.match.candidate_threshold],
            "max_block_size": [config.match.max_block_size],
            "name_conflicts": [config.match.name_conflicts],
            "extra_fields": [",".join(sorted(config.match.extra_fields))],
            "auto_merge_threshold": [config.decision.auto_merge_threshold],
            "review_threshold": [config.decision.review_threshold],
        }
    )


def _check_same_match_settings(config: PipelineConfig, last: pl.DataFrame | None) -> None:
    now = _match_settings(config)
    if last is None or last.columns != now.columns:
        return  # a warehouse from before settings were kept
    changed = [name for name in now.columns if now[name].item() != last[name].item()]
    if changed:
        raise RuntimeError(
            "an incremental run keeps the last run's pairs and clusters, and these match "
            f"settings changed since: {', '.join(changed)}. Run a full sweep first "
            "(dedup run --mode full)"
        )


def _last_normalized(warehouse: DuckDBWarehouse) -> NormalizedContacts | None:
    """The last run's normalized contacts and values, read before this run replaces them."""
    names = ("contacts", "phone_values", "email_values")
    tables = warehouse.read_tables(*names)
    if len(tables) < len(names):
        return None
    return NormalizedContacts(
        contacts=tables["contacts"],
        phone_values=tables["phone_values"],
        email_values=tables["email_values"],
        renormalized=0,
    )


def _place_new_and_changed(
    config: PipelineConfig, warehouse: DuckDBWarehouse, contacts, versions: pl.DataFrame
):
    """The incremental branch of `splink_matching`: its outputs, from the last run's
    state."""
    # The last run's state, read before this run's outputs replace it.
    last = warehouse.read_tables(
        "matched_versions",
        "scored_pairs",
        "match_clusters",
        "match_input",
        "shared_identifiers",
        "match_settings",
    )
    _check_same_match_settings(config, last.get("match_settings"))
    previous_versions = last.get("matched_versions")
    previous_pairs = last.get("scored_pairs")
    previous_prepared = (
        PreparedContacts(
            match_input=last["match_input"], shared_identifiers=last["shared_identifiers"]
        )
        if "match_input" in last and "shared_identifiers" in last
        else None
    )
    if previous_prepared is not None:
        missing = set(MATCH_INPUT_SCHEMA) - set(previous_prepared.match_input.columns)
        if missing:
            raise RuntimeError(
                "the last run was made by an earlier lead-dedup whose match input lacks "
                f"{', '.join(sorted(missing))}: run a full sweep first (dedup run --mode full)"
            )
    model_path = config.match.model or config.output.directory / MODEL_FILE
    if previous_versions is None or previous_pairs is None or not model_path.is_file():
        raise RuntimeError(
            "an incremental run places new records among the last run's, and there is no "
            f"last run in {config.warehouse.path} (or no model at {model_path}): "
            "run a full sweep first (dedup run --mode full)"
        )
    model = load_model(model_path, config.match)
    result, prepared, placed = match_contacts_incrementally(
        contacts,
        versions=versions,
        previous_versions=previous_versions,
        previous_pairs=previous_pairs,
        model=model,
        match=config.match,
        decision=config.decision,
        warehouse=warehouse.settings,
        previous_prepared=previous_prepared,
        previous_clusters=last.get("match_clusters"),
    )
    written = save_model(model, config.output.directory, reused_from=model_path)
    yield Output(
        result.scored_pairs,
        output_name="scored_pairs",
        metadata={
            "pairs": result.scored_pairs.height,
            "mode": "incremental",
            "records_placed": placed.len(),
            "new_pairs": result.new_pairs,
            **_model_metadata(written, str(model_path), trained=False),
            "labelled_pairs_used": 0,
        },
    )
    yield Output(
        result.clusters.with_columns(
            reclustered=pl.col("record_id").is_in(result.reclustered.implode())
        ),
        output_name="match_clusters",
        metadata={"reclustered": result.reclustered.len()},
    )
    # Pairs the placed records brought, by the blocking rule that found them.
    placed_ids = placed.implode()
    counts = (
        result.scored_pairs.filter(
            pl.col("record_id_l").is_in(placed_ids) | pl.col("record_id_r").is_in(placed_ids)
        )
        .group_by(blocking_rule="match_key")
        .agg(new_pairs=pl.len().cast(pl.Int64))
        .sort("blocking_rule")
        .with_columns(cumulative_pairs=pl.col("new_pairs").cum_sum())
    )
    yield Output(counts, output_name="blocking_counts", metadata={"counts": markdown_table(counts)})
    yield from _prepared_outputs(prepared)
    yield Output(
        versions.with_columns(placed=pl.col("record_id").is_in(placed.implode())),
        output_name="matched_versions",
    )


def _prepared_outputs(prepared: PreparedContacts):
    shared = prepared.shared_identifiers
    yield Output(
        shared, output_name="shared_identifiers", metadata={"top": markdown_table(shared, 10)}
    )
    yield Output(
        prepared.match_input,
        output_name="match_input",
        metadata={"records": prepared.match_input.height},
    )


def build_pipeline_assets(config: PipelineConfig) -> list:
    """Return the stage assets; their inputs depend on the configured sources."""
    raw_ins = {raw_asset_name(s): AssetIn(raw_asset_name(s)) for s in config.sources}
    quarantine_ins = {
        quarantine_asset_name(s): AssetIn(quarantine_asset_name(s)) for s in config.sources
    }

    @asset(ins=raw_ins, group_name="contacts")
    def source_records(context: AssetExecutionContext, **raw: pl.DataFrame) -> Output:
        """Source records of all exports, in the canonical contact schema."""
        frame = pl.concat(
            [raw[name].select(list(SOURCE_RECORD_SCHEMA)) for name in sorted(raw)],
            how="vertical",
        )
        per_source = frame.group_by("source").len().sort("source")
        return Output(
            frame, metadata={"records": frame.height, "per_source": markdown_table(per_source)}
        )

    @asset(ins=quarantine_ins, group_name="contacts")
    def quarantine(**quarantined: pl.DataFrame) -> Output:
        """Input rows that could not become source records, with the reason."""
        frame = pl.concat(
            [quarantined[name].select(list(QUARANTINE_SCHEMA)) for name in sorted(quarantined)]
        )
        reasons = frame.group_by("source", "reason").len().sort("len", descending=True)
        return Output(
            frame, metadata={"quarantined": frame.height, "reasons": markdown_table(reasons)}
        )

    issue_ins = {issues_asset_name(s): AssetIn(issues_asset_name(s)) for s in config.sources}

    @asset(ins=issue_ins, group_name="contacts")
    def value_issues(**issues: pl.DataFrame) -> Output:
        """Values of kept records that could not be used (e.g. an unparseable timestamp)."""
        frame = pl.concat([issues[name].select(list(ISSUE_SCHEMA)) for name in sorted(issues)])
        problems = frame.group_by("field", "problem").len().sort("len", descending=True)
        return Output(
            frame, metadata={"issues": frame.height, "problems": markdown_table(problems)}
        )

    @multi_asset(
        group_name="contacts",
        outs={
            "contacts": AssetOut(description="Source records with normalised match fields."),
            "phone_values": AssetOut(description="Every distinct raw phone and its E.164 form."),
            "email_values": AssetOut(description="Every distinct raw e-mail and its validity."),
        },
    )
    def normalized_contacts(
        settings: PipelineSettings, warehouse: DuckDBWarehouse, source_records: pl.DataFrame
    ):
        regions = {s.name: s.default_region for s in settings.config.sources}
        previous = _last_normalized(warehouse) if settings.mode == "incremental" else None
        result = normalize_contacts(source_records, default_regions=regions, previous=previous)
        contacts = result.contacts
        yield Output(
            contacts,
            output_name="contacts",
            metadata={
                "records": contacts.height,
                "normalized": result.renormalized,
                "with_valid_phone": contacts.filter(pl.col("phones_e164").list.len() > 0).height,
                "with_valid_email": contacts.filter(
                    pl.col("emails_normalized").list.len() > 0
                ).height,
            },
        )
        phones = result.phone_values
        yield Output(
            phones,
            output_name="phone_values",
            metadata={
                "distinct": phones.height,
                "invalid": phones.filter(~pl.col("phone_valid")).height,
            },
        )
        emails = result.email_values
        yield Output(
            emails,
            output_name="email_values",
            metadata={
                "distinct": emails.height,
                "invalid": emails.filter(~pl.col("email_valid")).height,
            },
        )

    @multi_asset(
        group_name="matching",
        outs={
            "scored_pairs": AssetOut(description="Candidate pairs scored by the Splink model."),
            "match_clusters": AssetOut(
                description="Splink clusters at both thresholds; `reclustered` marks the "
                "records this run clustered (a nightly run keeps the others' clusters)."
            ),
            "blocking_counts": AssetOut(description="Pairs generated per blocking rule."),
            "shared_identifiers": AssetOut(
                description="Phones, e-mails and names too common to block on."
            ),
            "match_input": AssetOut(
                description="Every record as the model compared it; a nightly run prepares "
                "only new and changed records and keeps the others' rows."
            ),
            "matched_versions": AssetOut(
                description="The content version of every matched record: what the next "
                "incremental run compares against to find new and changed records; "
                "`placed` marks the records this run scored."
            ),
        },
    )
    def splink_matching(
        context: AssetExecutionContext,
        settings: PipelineSettings,
        warehouse: DuckDBWarehouse,
        review_store: ReviewStore,
        contacts: pl.DataFrame,
    ):
        config = settings.config
        # Hashed once: the incremental branch compares them, the decide stage reads them.
        versions = record_versions(contacts)
        if settings.mode == "incremental":
            yield from _place_new_and_changed(config, warehouse, contacts, versions)
            return
        reused_from = config.match.model
        reused = None if reused_from is None else load_model(reused_from, config.match)
        labels = None
        if config.match.learn_from_decisions and reused is None:
            # Read through the resource, not the review_decisions asset: a dependency on it
            # would make the apply_review_decisions job re-run the matching.
            with review_store.open() as store:
                labels = labelled_pairs(store.decisions())
        result, prepared = match_contacts(
            contacts,
            match=config.match,
            decision=config.decision,
            warehouse=warehouse.settings,
            model=reused,
            labelled_pairs=labels,
        )
        # The run's output holds the model that scored it: trained now, or a copy of the reused.
        written = save_model(
            result.model if reused is None else reused,
            config.output.directory,
            reused_from=reused_from,
        )
        yield Output(
            result.scored_pairs,
            output_name="scored_pairs",
            metadata={
                "pairs": result.scored_pairs.height,
                **_model_metadata(
                    written,
                    _model_source(reused_from, result.training),
                    trained=reused_from is None,
                ),
                "labelled_pairs_used": result.labelled_pairs_used,
                "model_training": MetadataValue.json(
                    {"source": "reused"} if result.training is None else result.training.as_dict()
                ),
            },
        )
        yield Output(
            result.clusters.with_columns(reclustered=pl.lit(True)), output_name="match_clusters"
        )
        yield Output(
            result.comparison_counts,
            output_name="blocking_counts",
            metadata={"counts": markdown_table(result.comparison_counts)},
        )
        yield from _prepared_outputs(prepared)
        yield Output(versions.with_columns(placed=pl.lit(True)), output_name="matched_versions")
        # Not an asset: what a nightly run checks before it reuses this run's pairs.
        warehouse.write_table("match_settings", _match_settings(config))

    @asset(group_name="clusters")
    def review_decisions(review_store: ReviewStore) -> Output:
        """Reviewers' latest decision per proposal, read from the decisions store."""
        with review_store.open() as store:
            decisions = store.decisions()
        per_action = decisions.group_by("action").len().sort("action")
        return Output(
            decisions,
            metadata={"decisions": decisions.height, "per_action": markdown_table(per_action)},
        )

    @multi_asset(
        group_name="clusters",
        outs={
            "clusters": AssetOut(description="Each record's client cluster and its outcome."),
            "review_queue": AssetOut(description="Cluster proposals a reviewer must decide."),
            "client_registry": AssetOut(
                description="Every client id ever issued: active, merged (with its redirect) "
                "or retired."
            ),
            "client_id_events": AssetOut(
                description="History of client ids: created, split, merged, retired, per run."
            ),
        },
    )
    def cluster_decisions(
        context: AssetExecutionContext,
        settings: PipelineSettings,
        warehouse: DuckDBWarehouse,
        match_clusters: pl.DataFrame,
        scored_pairs: pl.DataFrame,
        review_decisions: pl.DataFrame,
        contacts: pl.DataFrame,
        matched_versions: pl.DataFrame,
        flagged_records: pl.DataFrame,
    ):
        # The last run's state, read before this run's outputs replace it.
        last = warehouse.read_tables(
            "client_registry", "clusters", "client_id_events", "review_queue"
        )
        history = last.get("client_id_events", pl.DataFrame(schema=CLIENT_EVENT_SCHEMA))
        previous = last.get("clusters") if "client_registry" in last else None
        untouched = decided = None
        if settings.mode == "incremental" and previous is not None and "review_queue" in last:
            decided = records_to_decide(
                match_clusters,
                scored_pairs,
                placed=matched_versions.filter("placed").get_column("record_id"),
                reclustered=match_clusters.filter("reclustered").get_column("record_id"),
                previous_clusters=previous,
                decisions=review_decisions,
                flagged=flagged_records.get_column("record_id"),
            )
            # The others keep last night's clusters, client ids included.
            untouched = previous.join(
                match_clusters.select("record_id"), on="record_id", how="semi"
            ).filter(~pl.col("record_id").is_in(decided.implode()))
            previous = previous.join(untouched, on="record_id", how="anti")
        options = {
            "config": settings.config.decision,
            "decisions": review_decisions,
            "contacts": contacts,
            "record_versions": matched_versions,
            "flagged": flagged_records.get_column("record_id"),
        }
        decisions = (
            decide_clusters(match_clusters, scored_pairs, **options)
            if decided is None
            else decide_records(decided, match_clusters, scored_pairs, **options)
        )
        identity = reconcile_client_ids(
            decisions.clusters,
            run_id=context.run.run_id,
            previous_membership=None
            if previous is None
            else previous.select("record_id", client_id="cluster_id"),
            previous_registry=last.get("client_registry"),
        )
        clusters = with_client_ids(decisions.clusters, identity)
        review_queue = decisions.review_queue
        changes = dict(identity.changes)
        if untouched is not None:
            clusters = pl.concat([untouched.select(clusters.columns), clusters]).sort(
                "cluster_id", "record_id"
            )
            review_queue = updated_review_queue(last["review_queue"], review_queue, decided)
            changes["unchanged"] += untouched.get_column("cluster_id").n_unique()
        outcomes = clusters.unique("cluster_id").group_by("outcome").len().sort("outcome")
        yield Output(
            clusters,
            output_name="clusters",
            metadata={
                "clusters": clusters.get_column("cluster_id").n_unique(),
                **{f"clients_{change}": count for change, count in changes.items()},
                "decided_again": clusters.height
                if untouched is None
                else clusters.height - untouched.height,
                "outcomes": markdown_table(outcomes),
            },
        )
        yield Output(
            review_queue,
            output_name="review_queue",
            metadata={
                "proposals": review_queue.height,
                "per_flag": markdown_table(
                    review_queue.explode("flags").group_by("flags").len().sort("flags")
                ),
            },
        )
        yield Output(identity.registry, output_name="client_registry")
        yield Output(
            pl.concat([history.select(list(CLIENT_EVENT_SCHEMA)), identity.events]),
            output_name="client_id_events",
            metadata={"events_this_run": identity.events.height},
        )

    @asset(group_name="golden")
    def golden_profiles(
        settings: PipelineSettings,
        warehouse: DuckDBWarehouse,
        contacts: pl.DataFrame,
        clusters: pl.DataFrame,
        phone_enrichment: pl.DataFrame,
        email_enrichment: pl.DataFrame,
    ) -> Output:
        """One golden client profile per client cluster, enriched from its phones and
        e-mails."""
        rules = settings.config.survivorship
        previous = None
        if settings.mode == "incremental":
            # Last night's profiles, read before this run's replace them.
            previous = warehouse.read_tables("golden_profiles").get("golden_profiles")
        if previous is not None and "profile_version" in previous.columns:
            profiles, rebuilt = update_golden_profiles(previous, contacts, clusters, config=rules)
        else:
            profiles = build_golden_profiles(contacts, clusters, config=rules)
            rebuilt = profiles.height
        # A nightly run keeps the summary and history of every profile whose inputs held.
        profiles = enrich_profiles(
            profiles, phones=phone_enrichment, emails=email_enrichment, previous=previous
        )
        history = client_history(
            contacts,
            clusters,
            sources=settings.config.sources,
            previous=previous,
        )
        profiles = profiles.join(history, on="cluster_id", how="left")
        return Output(
            profiles,
            metadata={
                "profiles": profiles.height,
                "rebuilt": rebuilt,
                "with_time_zone": int(profiles["time_zone"].is_not_null().sum()),
                "with_suggested_company": int(profiles["suggested_company"].is_not_null().sum()),
            },
        )

    @asset(group_name="golden")
    def merge_instructions(
        settings: PipelineSettings,
        warehouse: DuckDBWarehouse,
        contacts: pl.DataFrame,
        clusters: pl.DataFrame,
        golden_profiles: pl.DataFrame,
        review_decisions: pl.DataFrame,
    ) -> Output:
        """What each CRM must do: merge duplicates into a survivor and set golden values."""
        config = settings.config
        options = {
            "config": config.survivorship,
            "merge_targets": [s.name for s in config.sources if s.merge_target],
            "preferred_survivors": review_decisions.get_column("survivor_record_id")
            .drop_nulls()
            .to_list(),
        }
        last = (
            warehouse.read_tables("merge_instructions", "merge_instruction_keys")
            if settings.mode == "incremental"
            else {}
        )
        # A full sweep builds every instruction; a nightly run only those whose key changed.
        instructions, keys, built = update_merge_instructions(
            last.get("merge_instructions"),
            last.get("merge_instruction_keys"),
            contacts,
            clusters,
            golden_profiles,
            **options,
        )
        # Not an asset: what the next nightly run compares to keep unchanged instructions.
        warehouse.write_table("merge_instruction_keys", keys)
        per_action = instructions.group_by("source", "action").len().sort("source", "action")
        return Output(
            instructions,
            metadata={
                "instructions": instructions.height,
                "clusters_built": built,
                "per_action": markdown_table(per_action),
            },
        )

    return [
        source_records,
        quarantine,
        value_issues,
        normalized_contacts,
        splink_matching,
        review_decisions,
        cluster_decisions,
        golden_profiles,
        merge_instructions,
    ]
