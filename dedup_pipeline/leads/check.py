"""Check one incoming lead against the clients of the last run, in a fraction of a second.

`LeadChecker.load` reads what a run leaves behind once: the trained model
(``splink_model.json``), the match input of every record, the contacts' name keys, the
clusters and the golden profiles (the warehouse tables' Parquet files; the warehouse file
itself belongs to the nightly job). It keeps one DuckDB connection and one Splink linker
with the term-frequency tables of the whole base, and an index from each phone, e-mail,
name and blocking key to the records holding it. `LeadChecker.check` then places a lead
as a nightly run would place a new record:

1. normalise it with `normalize_contacts` (phones to E.164, names to keys ...), a name
   written the other way round turned as the base's records use its names (`NameUsage`);
2. prepare it for matching with `prepare_match_input`, judged against the base records
   that hold its values (is its phone shared by people with different names? is its
   surname rare enough to block on? is its mail domain a typo of a common provider?);
3. take the records that share a blocking key with it (`sharing_a_blocking_key`) and score
   the lead against them with the saved model (Splink's ``score_pairs``; term frequencies
   from every record, as a run scores);
4. report the clients whose records score at or above the review threshold, best first,
   with each comparison's level and weight.

Nothing scans the base per lead: keys are looked up in the index, and at most a few
hundred records are gathered.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import phonenumbers
import polars as pl
from splink import DuckDBAPI, Linker

from dedup_pipeline.config import ConfigError, ExtraFieldConfig, PipelineConfig
from dedup_pipeline.leads.answer import (
    ClientMatch,
    ClientProfile,
    ComparisonReason,
    LeadCheck,
    MatchedRecord,
    NormalizedLead,
    Thresholds,
)
from dedup_pipeline.leads.index import (
    DOMAIN,
    WEAK_KINDS,
    KeyIndex,
    common_providers,
    key_frame,
)
from dedup_pipeline.leads.lead import Lead
from dedup_pipeline.leads.names import NameUsage
from dedup_pipeline.match.conflicts import name_conflict_sql
from dedup_pipeline.match.frequencies import PersonFrequencies, term_frequency_columns
from dedup_pipeline.match.model import names_veto, sharing_a_blocking_key
from dedup_pipeline.match.prepare import (
    NAME_BLOCKS,
    company_evidence,
    match_input_columns,
    person_columns,
    prepare_match_input,
)
from dedup_pipeline.match.saved import MODEL_FILE, load_model
from dedup_pipeline.normalize import normalize_contacts, normalize_name, transliterate_name
from dedup_pipeline.normalize.companies import FREE_EMAIL_DOMAINS
from dedup_pipeline.normalize.extra import extra_field_columns
from dedup_pipeline.schema import require_columns
from dedup_pipeline.screening import Blacklist, flag_records
from dedup_pipeline.sinks import table_directory

__all__ = [
    "LEAD_RECORD_ID",
    "LeadCheckUnavailable",
    "LeadChecker",
    "LeadRejected",
    "RunFiles",
]

#: The record id a lead has while compared; no source's record can have it (source names
#: are lower-case letters, digits and underscores).
LEAD_RECORD_ID = "incoming-lead:1"

#: The source a lead is read as when it names none.
DEFAULT_LEAD_SOURCE = "lead"

_PROFILE_COLUMNS = [
    "cluster_id",
    "outcome",
    "record_count",
    "sources",
    "first_name",
    "middle_name",
    "last_name",
    "full_name",
    "phones",
    "emails",
    "company",
    "city",
]


class LeadCheckUnavailable(ConfigError):
    """There is no usable run to check leads against (no run yet, or a different setup)."""


class LeadRejected(ValueError):
    """A lead the check cannot take (e.g. a value for an extra field nobody compares)."""


@dataclass(frozen=True)
class RunFiles:
    """The files of the last run a lead check reads."""

    model: Path
    match_input: Path
    contacts: Path
    clusters: Path
    golden_profiles: Path
    match_settings: Path
    run_report: Path

    @classmethod
    def of(cls, config: PipelineConfig) -> RunFiles:
        """Where ``config``'s runs leave them (the output directory, the warehouse tables)."""
        tables = table_directory(config.warehouse.path)
        return cls(
            model=config.output.directory / MODEL_FILE,
            match_input=tables / "match_input.parquet",
            contacts=tables / "contacts.parquet",
            clusters=tables / "clusters.parquet",
            golden_profiles=tables / "golden_profiles.parquet",
            match_settings=tables / "match_settings.parquet",
            run_report=config.output.directory / "run_report.json",
        )

    def check_present(self) -> None:
        """Raise `LeadCheckUnavailable` naming the first required file that is missing."""
        required = (self.model, self.match_input, self.contacts, self.clusters)
        for path in (*required, self.golden_profiles):
            if not path.is_file():
                raise LeadCheckUnavailable(
                    f"{path} not found: lead checks use the last run's model, match input, "
                    "contacts, clusters and golden profiles, and no run has left them there. "
                    "Run `dedup run` first."
                )


def _region(config: PipelineConfig, region: str | None) -> str:
    chosen = (region or config.sources[0].default_region).upper()
    if chosen not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"{region!r} is not a phone region known to phonenumbers (e.g. RU, US)")
    return chosen


def _level_labels(model: Mapping[str, Any]) -> dict[str, dict[int, str]]:
    """Per comparison, each level's label by its comparison vector value (``gamma_*``).

    Splink numbers a comparison's levels from the top: the null level is -1, the others
    count down from the number of non-null levels minus one to 0 (the else level).
    """
    labels: dict[str, dict[int, str]] = {}
    for comparison in model["comparisons"]:
        levels = comparison["comparison_levels"]
        value = sum(1 for level in levels if not level.get("is_null_level")) - 1
        by_value: dict[int, str] = {}
        for level in levels:
            label = level.get("label_for_charts") or level.get("sql_condition", "")
            if level.get("is_null_level"):
                by_value[-1] = label
            else:
                by_value[value] = label
                value -= 1
        labels[comparison["output_column_name"]] = by_value
    return labels


def _found_by_rules(
    lead: Mapping[str, Any], extra_fields: Mapping[str, ExtraFieldConfig]
) -> dict[str, pl.Expr]:
    """Per rule of `prediction_rules`, in its order, whether it pairs a base record with
    ``lead`` (a prepared lead's match input row). Keep in step with `prediction_rules`."""

    def any_of(column: str) -> pl.Expr:
        values = [v for v in lead[column] or [] if v is not None]
        return pl.col(column).list.eval(pl.element().is_in(values)).list.any()

    def same(column: str, value: Any) -> pl.Expr:
        return pl.col(column) == pl.lit(value, dtype=pl.String)

    first, *others = NAME_BLOCKS
    rules = {
        "same phone": any_of("phones_block"),
        "same e-mail": any_of("emails_block"),
        first.rule: same(first.column, lead[first.column]),
        "first and last name swapped": same("first_name", lead["last_name"])
        & same("last_name", lead["first_name"]),
    }
    for block in others:
        rules[block.rule] = (
            any_of(block.column) if block.listed else same(block.column, lead[block.column])
        )
    for name, field in extra_fields.items():
        if field.blocking:
            rules[f"same {name}"] = same(f"{name}_block", lead[f"{name}_block"])
    return {name: rule.fill_null(False) for name, rule in rules.items()}


def _name_keys(records: pl.DataFrame) -> list[str]:
    """The name keys a lead's names may give: of its first and last names and of each
    word of its full name (`normalize_contacts` takes its first and last name keys among
    them)."""
    names = records.select(
        pl.concat_list(
            normalize_name(pl.col("first_name")),
            normalize_name(pl.col("last_name")),
            normalize_name(pl.col("full_name"))
            .str.split(" ")
            .fill_null(pl.lit([], dtype=pl.List(pl.String))),
        ).alias("name")
    )
    keys = names.explode("name").drop_nulls().select(transliterate_name(pl.col("name")))
    return keys.to_series().unique(maintain_order=True).to_list()


class LeadChecker:
    """Answers lead checks from one run's model and clients; load once, check many.

    Build it with `LeadChecker.load`. `check` is safe to call from several threads (calls
    are taken one at a time: the DuckDB connection and the linker are not shared).
    """

    def __init__(
        self,
        *,
        config: PipelineConfig,
        region: str,
        model: dict[str, Any],
        base: pl.DataFrame,
        usage: NameUsage,
        membership: pl.DataFrame,
        profiles: pl.DataFrame,
        run_id: str | None,
    ) -> None:
        self.config = config
        self.region = region
        self.run_id = run_id
        #: Seconds `load` took, warm-up included.
        self.load_seconds = math.nan
        self._regions = {source.name: source.default_region for source in config.sources}
        self._base = base
        self._usage = usage
        self._membership = membership
        self._profiles = profiles
        self._profile_ids = profiles.get_column("cluster_id")
        self._index = KeyIndex.build(key_frame(base, config.match.extra_fields))

        self._providers, self._provider_rows = common_providers(base)
        self._labels = _level_labels(model)
        self._comparisons = [c["output_column_name"] for c in model["comparisons"]]
        # Read once: a blacklist edit reaches the service with the next run it loads.
        self._blacklist = Blacklist.from_config(
            config.blacklist, sources=[source.name for source in config.sources]
        )
        self._lock = threading.Lock()
        self._closed = False
        self._connection = duckdb.connect()
        self._db_api = DuckDBAPI(self._connection)
        dialect = self._db_api.sql_dialect
        self._conflict = name_conflict_sql(
            dialect.jaro_winkler_function_name,
            dialect.sql_dialect_str,
            overridden_by=config.match.person_identifiers,
        )
        self._linker = self._linker_with_base_frequencies(model)
        self._names_veto = names_veto(config.match, model)

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def load(
        cls, config: PipelineConfig, *, region: str | None = None, warm_up: bool = True
    ) -> LeadChecker:
        """Read the last run of ``config`` and get ready to check leads.

        Parameters
        ----------
        config
            A loaded configuration (paths resolved); its output directory and warehouse
            tables hold the run.
        region
            Region of phones written without a country code, for leads whose source is not
            a configured one; default: the first source's ``default_region``.
        warm_up
            Check one lead built from a client before returning, so that the first real
            check does not pay for Splink's and DuckDB's first-use costs.

        Raises
        ------
        LeadCheckUnavailable
            When a file of the run is missing (no run yet), or the run was prepared with
            other match settings than ``config`` has.
        ConfigError
            When the saved model is unreadable or compares other fields than ``config``.
        """
        started = time.perf_counter()
        files = RunFiles.of(config)
        files.check_present()
        chosen_region = _region(config, region)
        _check_match_settings(files.match_settings, config)
        model = load_model(files.model, config.match)
        columns = match_input_columns(config.match.extra_fields)
        base = pl.read_parquet(files.match_input)
        require_columns(base, columns, table=f"match input ({files.match_input})")
        base = base.select(columns)
        clusters = pl.read_parquet(files.clusters, columns=["record_id", "cluster_id", "outcome"])
        membership = base.select("record_id").join(
            clusters, on="record_id", how="left", maintain_order="left"
        )
        profiles = pl.read_parquet(files.golden_profiles, columns=_PROFILE_COLUMNS).sort(
            "cluster_id"
        )
        checker = cls(
            config=config,
            region=chosen_region,
            model=model,
            base=base,
            usage=NameUsage.read(files.contacts),
            membership=membership.select("cluster_id", "outcome"),
            profiles=profiles,
            run_id=_run_id(files.run_report),
        )
        if warm_up:
            checker.warm_up()
        checker.load_seconds = time.perf_counter() - started
        return checker

    def _linker_with_base_frequencies(self, model: dict[str, Any]) -> Linker:
        """A linker whose term-frequency tables count every person of the base, as the
        run's (`dedup_pipeline.match.frequencies`); the base itself is not kept in DuckDB."""
        columns = term_frequency_columns(model)
        frame = self._base.select("record_id", *columns).to_arrow()
        self._connection.register("lead_check_base", frame)
        try:
            base = self._db_api.table_to_splink_dataframe("lead_check_base", "lead_check_base")
            linker = PersonFrequencies(self._db_api, self._base, model).apply(
                Linker(base, model, log_level=None)
            )
        finally:
            self._connection.unregister("lead_check_base")
        return linker

    def warm_up(self) -> None:
        """Check a lead built from a client with phones (first use costs of the libraries)."""
        with_phones = self._profiles.filter(pl.col("phones").list.len() > 0).head(1)
        if with_phones.is_empty():
            return
        profile = with_phones.row(0, named=True)
        self.check(
            Lead(
                phones=profile["phones"][:1],
                emails=profile["emails"][:1],
                full_name=profile["full_name"],
                city=profile["city"],
            )
        )

    def close(self) -> None:
        """Close the DuckDB connection, once a check in progress (if any) is done."""
        with self._lock:
            self._closed = True
            self._connection.close()

    def __enter__(self) -> LeadChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def records(self) -> int:
        """Records in the base."""
        return self._base.height

    @property
    def clients(self) -> int:
        """Clients (golden profiles) in the base."""
        return self._profiles.height

    # -- checking -------------------------------------------------------------------------

    def check(self, lead: Lead) -> LeadCheck:
        """The existing clients ``lead`` duplicates, best first, with why.

        Raises
        ------
        LeadRejected
            When the lead gives a value for an extra field the configuration does not
            compare.
        LeadCheckUnavailable
            When the checker was closed (e.g. replaced by one of a newer run).
        """
        unknown = sorted(set(lead.extra) - set(self.config.match.extra_fields))
        if unknown:
            raise LeadRejected(
                f"extra field(s) not compared by this configuration: {', '.join(unknown)}"
            )
        with self._lock:
            if self._closed:
                raise LeadCheckUnavailable("this lead checker is closed")
            started = time.perf_counter()
            source = lead.source or DEFAULT_LEAD_SOURCE
            contacts = self._normalize(lead.source_records(record_id=LEAD_RECORD_ID, source=source))
            prepared, _ = prepare_match_input(
                contacts,
                max_block_size=self.config.match.max_block_size,
                extra_fields=self.config.match.extra_fields,
                connection=self._connection,
                prepared=self._base[self._context_rows(contacts)],
            )
            lead_row = prepared.row(0, named=True)
            candidates = self._candidates(prepared, lead_row)
            scored = self._score(prepared, candidates) if candidates.height else None
            matches = [] if scored is None else self._matches(scored)
            flagged = flag_records(contacts, blacklist=self._blacklist, junk=self.config.junk)
            elapsed = (time.perf_counter() - started) * 1000
            return LeadCheck(
                lead_id=lead.lead_id,
                lead=self._normalized(contacts, lead_row, source),
                matches=matches,
                candidates_considered=candidates.height,
                flags=flagged.item(0, "reasons").to_list() if flagged.height else [],
                flag_detail=flagged.item(0, "detail") if flagged.height else None,
                thresholds=Thresholds(
                    review=self.config.decision.review_threshold,
                    auto_merge=self.config.decision.auto_merge_threshold,
                ),
                run_id=self.run_id,
                elapsed_ms=round(elapsed, 3),
            )

    def _normalize(self, records: pl.DataFrame) -> pl.DataFrame:
        """The lead's contact row, normalised as a nightly run normalises a new record.

        The lead is normalised among stand-ins for the base's records that use its name
        keys (`NameUsage`), so that a name written the other way round is turned as the
        base's usage says. The keys are taken from every name and word of the full name
        the lead has; should its normalised keys be others, it is normalised again with
        theirs.
        """
        keys = _name_keys(records)
        contacts = self._normalize_among(records, keys)
        found = contacts.select("first_name_key", "last_name_key").row(0)
        if None not in found and not set(found) <= set(keys):
            contacts = self._normalize_among(records, list(found))
        return contacts

    def _normalize_among(self, records: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
        # One key alone is never turned: no stand-ins needed.
        stand_ins = self._usage.stand_ins(keys) if len(set(keys)) > 1 else None
        if stand_ins is None:
            return normalize_contacts(
                records, default_regions=self._regions, fallback_region=self.region
            ).contacts
        return normalize_contacts(
            pl.concat([records, NameUsage.records_of(stand_ins)]),
            default_regions=self._regions,
            fallback_region=self.region,
            previous=stand_ins,
        ).contacts.filter(pl.col("record_id") == LEAD_RECORD_ID)

    def _context_rows(self, contacts: pl.DataFrame) -> np.ndarray:
        """Base rows that decide how the lead is prepared (see `dedup_pipeline.leads.index`).

        Each value is looked up with a cap one above the count that matters: a phone held
        by more than ``max_block_size`` records is shared whoever holds it, a surname held
        by more than a tenth of it is too common to block on.
        """
        block_size = self.config.match.max_block_size
        weak_limit = max(2, block_size // 10) + 1
        found = []
        emails = contacts.get_column("emails_normalized")
        alternatives: list[str] = []
        for address in emails.explode().drop_nulls().to_list():
            local, _, domain = address.rpartition("@")
            if domain in FREE_EMAIL_DOMAINS:
                continue
            # A rare domain one typo from a common provider is read as the provider
            # (domain_typo_fixes): which providers are common and how common the domain
            # is decide, and the holders of every address it may become are looked up.
            found.append(self._index.lookup(DOMAIN, [domain]))
            alternatives += [f"{local}@{provider}" for provider in self._providers]
        if alternatives:
            found.append(self._provider_rows)
        keys = key_frame(
            contacts.select(
                *person_columns(),
                pl.col("city_key").alias("city"),
                pl.col("phones_e164").alias("phones"),
                pl.col("emails_normalized").alias("emails"),
                company_evidence().alias("company_evidence"),
                *extra_field_columns(pl.col("extra"), self.config.match.extra_fields),
            ),
            self.config.match.extra_fields,
        )
        for kind in keys.columns:
            if kind == DOMAIN:
                continue
            value = keys.get_column(kind).item()
            limit = weak_limit if kind in WEAK_KINDS else block_size + 1
            listed = value.to_list() if isinstance(value, pl.Series) else [value]
            if kind == "email":
                listed += alternatives
            found.append(self._index.lookup(kind, listed, limit=limit))
        return np.unique(np.concatenate(found)) if found else np.array([], dtype=np.uint32)

    def _candidates(self, prepared: pl.DataFrame, lead: Mapping[str, Any]) -> pl.DataFrame:
        """Base records sharing a blocking key with the prepared lead, with their row
        number (``_row``) and the first rule that pairs them (``found_by``)."""
        lookups = [
            ("phone", lead["phones_block"] or []),
            ("email", lead["emails_block"] or []),
            *(
                (block.column, (lead[block.column] or []) if block.listed else [lead[block.column]])
                for block in NAME_BLOCKS
            ),
        ]
        if lead["first_name"] is not None and lead["last_name"] is not None:
            # "first and last name swapped" pairs records named the other way round.
            lookups.append(("name_key", [f"{lead['last_name']} {lead['first_name']}"]))
        for name, field in self.config.match.extra_fields.items():
            if field.blocking:
                lookups.append((f"extra:{name}", [lead[f"{name}_block"]]))
        rows = np.unique(
            np.concatenate(
                [self._index.lookup(kind, values) for kind, values in lookups]
                or [np.array([], dtype=np.uint32)]
            )
        )
        superset = self._base[rows].with_columns(_row=pl.Series(rows, dtype=pl.UInt32))
        candidates = sharing_a_blocking_key(superset, prepared, self.config.match)
        rules = _found_by_rules(lead, self.config.match.extra_fields)
        found_by = pl.coalesce([pl.when(rule).then(pl.lit(name)) for name, rule in rules.items()])
        return candidates.with_columns(found_by.alias("found_by"))

    def _score(self, prepared: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
        """Score the lead against each candidate with the model, flag name conflicts."""
        columns = prepared.columns
        self._connection.register("lead_check_lead", prepared.to_arrow())
        self._connection.register("lead_check_candidates", candidates.select(columns).to_arrow())
        try:
            left = self._db_api.table_to_splink_dataframe("lead_check_lead", "lead_check_lead")
            right = self._db_api.table_to_splink_dataframe(
                "lead_check_candidates", "lead_check_candidates"
            )
            # The candidates are exactly the records a blocking rule pairs with the lead,
            # so every pair of the two is scored, as predict_between would.
            predictions = self._linker.inference.score_pairs(left, right)
            try:
                scored = self._connection.sql(
                    f"select *, {self._conflict} as names_conflict from {predictions.physical_name}"
                ).pl()
            finally:
                predictions.drop_table_from_database_and_remove_from_cache()
        finally:
            self._connection.unregister("lead_check_lead")
            self._connection.unregister("lead_check_candidates")
        extra = candidates.select(
            pl.col("record_id").alias("record_id_r"), "_row", "found_by"
        ).with_columns(
            pl.Series(
                "cluster_id",
                self._membership.get_column("cluster_id").gather(candidates.get_column("_row")),
            ),
            pl.Series(
                "outcome",
                self._membership.get_column("outcome").gather(candidates.get_column("_row")),
            ),
        )
        return scored.join(extra, on="record_id_r", how="left")

    def _matches(self, scored: pl.DataFrame) -> list[ClientMatch]:
        """Clients with a record at or above the review threshold, best first."""
        decision = self.config.decision
        eligible = pl.col("match_probability") >= decision.review_threshold
        if self._names_veto:
            # The run never merges nor proposes such pairs: names of different people.
            eligible &= ~pl.col("names_conflict").fill_null(False)
        matched = (
            scored.filter(eligible)
            .with_columns(pl.col("cluster_id").fill_null(pl.col("record_id_r")))
            .sort(["match_probability", "record_id_r"], descending=[True, False])
        )
        clients = matched.unique("cluster_id", keep="first", maintain_order=True)
        answer = []
        for best in clients.iter_rows(named=True):
            members = matched.filter(pl.col("cluster_id") == best["cluster_id"])
            probability = float(best["match_probability"])
            answer.append(
                ClientMatch(
                    client_id=best["cluster_id"],
                    label=(
                        "duplicate"
                        if probability >= decision.auto_merge_threshold
                        else "possible duplicate"
                    ),
                    match_probability=probability,
                    match_weight=float(best["match_weight"]),
                    outcome=best["outcome"],
                    profile=self._profile(best["cluster_id"]),
                    matched_record_ids=members.get_column("record_id_r").to_list(),
                    matched_records=[
                        MatchedRecord(
                            record_id=row["record_id_r"],
                            match_probability=float(row["match_probability"]),
                            match_weight=float(row["match_weight"]),
                            found_by=row["found_by"],
                        )
                        for row in members.iter_rows(named=True)
                    ],
                    why=self._why(best),
                )
            )
        return answer

    def _why(self, pair: Mapping[str, Any]) -> list[ComparisonReason]:
        reasons = []
        for comparison in self._comparisons:
            gamma = pair.get(f"gamma_{comparison}")
            adjustment = pair.get(f"mw_tf_adj_{comparison}")
            reasons.append(
                ComparisonReason(
                    comparison=comparison,
                    level=self._labels[comparison].get(gamma, f"level {gamma}"),
                    match_weight=float(pair.get(f"mw_{comparison}") or 0.0),
                    term_frequency_adjustment=None if adjustment is None else float(adjustment),
                )
            )
        return reasons

    def _profile(self, cluster_id: str) -> ClientProfile | None:
        at = self._profile_ids.search_sorted(cluster_id, side="left")
        if not isinstance(at, int) or at >= self._profiles.height:
            return None
        row = self._profiles.row(at, named=True)
        if row["cluster_id"] != cluster_id:
            return None
        return ClientProfile(
            first_name=row["first_name"],
            middle_name=row["middle_name"],
            last_name=row["last_name"],
            full_name=row["full_name"],
            phones=row["phones"] or [],
            emails=row["emails"] or [],
            company=row["company"],
            city=row["city"],
            sources=row["sources"] or [],
            record_count=int(row["record_count"] or 0),
        )

    def _normalized(
        self, contacts: pl.DataFrame, lead: Mapping[str, Any], source: str
    ) -> NormalizedLead:
        contact = contacts.row(0, named=True)
        return NormalizedLead(
            record_id=LEAD_RECORD_ID,
            source=source,
            region=self._regions.get(source, self.region),
            first_name=lead["first_name"],
            last_name=lead["last_name"],
            full_name=lead["full_name"],
            company=lead["company"],
            city=lead["city"],
            phones=lead["phones"] or [],
            emails=lead["emails"] or [],
            invalid_phones=contact["phones_invalid"] or [],
            invalid_emails=contact["emails_invalid"] or [],
        )


def _check_match_settings(path: Path, config: PipelineConfig) -> None:
    """Refuse a run whose records were prepared with other settings than ``config``'s."""
    if not path.is_file():
        return  # a run from before settings were kept
    last = pl.read_parquet(path)
    now = {
        "max_block_size": config.match.max_block_size,
        "name_conflicts": config.match.name_conflicts,
        "extra_fields": ",".join(sorted(config.match.extra_fields)),
    }
    changed = [
        f"{name} ({last[name].item()!r} in the run, {value!r} now)"
        for name, value in now.items()
        if name in last.columns and last[name].item() != value
    ]
    if changed:
        raise LeadCheckUnavailable(
            f"{path}: the last run prepared its records with other match settings: "
            f"{'; '.join(changed)}. Run a full sweep first (dedup run --mode full)."
        )


def _run_id(path: Path) -> str | None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    run_id = report.get("run_id") if isinstance(report, dict) else None
    return str(run_id) if run_id is not None else None
