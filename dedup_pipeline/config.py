"""Typed configuration, loaded from YAML.

`load_config` turns a YAML file into a `PipelineConfig`. Relative paths in the file are
resolved against the directory of the YAML file, so a run does not depend on the working
directory. Invalid files raise `ConfigError` naming the file and the offending field.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "BlacklistConfig",
    "ColumnMapping",
    "ConfigError",
    "CrmConnection",
    "CrmKind",
    "DecisionConfig",
    "ExtraComparison",
    "ExtraFieldConfig",
    "FieldRule",
    "JunkConfig",
    "MatchConfig",
    "OutputConfig",
    "PipelineConfig",
    "ReviewConfig",
    "SourceConfig",
    "SourceFormat",
    "SurvivorshipConfig",
    "SurvivorshipRule",
    "WarehouseConfig",
    "load_config",
    "normalize_listed_domain",
    "normalize_listed_email",
    "normalize_listed_phone",
    "read_model_file",
]

_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceFormat(StrEnum):
    """File formats a source export may have."""

    CSV = "csv"
    XLSX = "xlsx"
    PARQUET = "parquet"
    JSON = "json"
    JSONL = "jsonl"


_SUFFIX_FORMATS = {
    ".csv": SourceFormat.CSV,
    ".tsv": SourceFormat.CSV,
    ".txt": SourceFormat.CSV,
    ".xlsx": SourceFormat.XLSX,
    ".parquet": SourceFormat.PARQUET,
    ".pq": SourceFormat.PARQUET,
    ".json": SourceFormat.JSON,
    ".jsonl": SourceFormat.JSONL,
    ".ndjson": SourceFormat.JSONL,
}


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


#: Names the match stage uses itself; an extra field may not take one.
RESERVED_MATCH_COLUMNS: frozenset[str] = frozenset(
    {
        "record_id", "source", "first_name", "last_name", "first_name_variants", "full_name",
        "first_name_listed", "middle_name", "first_initials", "middle_initial", "name_gender",
        "name_pair", "company_rare",
        "company", "city", "phones", "emails", "phones_block", "emails_block", "phone_key",
        "email_key", "name_key", "match_weight", "match_probability", "match_key",
    }
)  # fmt: skip


def _check_extra_field_name(name: str) -> None:
    if not _NAME_PATTERN.match(name):
        raise ValueError(
            f"{name!r} is not a valid extra field name (lower-case letters, digits and _)"
        )
    if name in RESERVED_MATCH_COLUMNS or name.endswith("_block"):
        raise ValueError(f"{name!r} is a built-in match field; give the extra field another name")


class ColumnMapping(_Model):
    """Which export columns feed each canonical contact field.

    ``phones`` and ``emails`` take one column or a list of columns ("Рабочий телефон",
    "Мобильный телефон", ...); a cell may itself hold several values separated by ``,`` or
    ``;``. Columns not mapped here are kept as passthrough attributes.
    """

    source_record_id: str
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    phones: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    company: str | None = None
    city: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    extra: dict[str, str] = Field(
        default_factory=dict,
        description="Extra match fields (see match.extra_fields): field name -> export column.",
    )

    _normalise_lists = field_validator("phones", "emails", mode="before")(_as_list)

    @model_validator(mode="after")
    def _has_identifying_field(self) -> ColumnMapping:
        if not (self.first_name or self.last_name or self.full_name or self.phones or self.emails):
            raise ValueError("map at least one of first_name, last_name, full_name, phones, emails")
        return self

    def mapped_columns(self) -> list[str]:
        """Return every export column the mapping reads, in a stable order."""
        columns: list[str] = [self.source_record_id]
        for field_name in (
            "first_name",
            "middle_name",
            "last_name",
            "full_name",
            "company",
            "city",
            "created_at",
            "updated_at",
        ):
            value = getattr(self, field_name)
            if value is not None:
                columns.append(value)
        columns.extend(self.phones)
        columns.extend(self.emails)
        columns.extend(self.extra.values())
        return list(dict.fromkeys(columns))

    @field_validator("extra")
    @classmethod
    def _check_extra_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            _check_extra_field_name(name)
        return value


class CrmKind(StrEnum):
    """The CRMs lead-dedup pulls from and pushes merges to."""

    BITRIX24 = "bitrix24"
    AMOCRM = "amocrm"
    HUBSPOT = "hubspot"


class RateLimitConfig(_Model):
    """At most ``calls`` requests in any ``period`` seconds."""

    calls: int = Field(gt=0)
    period: float = Field(gt=0)


class CrmConnection(_Model):
    """How to reach a CRM account (a source's ``crm`` block).

    The token is never written in the file: ``token_env`` names the environment variable
    holding it (for Bitrix24, the secret of the inbound webhook).
    """

    kind: CrmKind
    url: str = Field(
        description="API root: Bitrix24 'https://<portal>/rest/<user id>' (the webhook "
        "without its secret), amoCRM 'https://<subdomain>.amocrm.ru', HubSpot "
        "'https://api.hubapi.com'."
    )
    token_env: str = Field(description="Environment variable holding the token or secret.")
    rate_limit: RateLimitConfig | None = Field(
        default=None,
        description="Requests allowed per period; the CRM's published limit when omitted "
        "(Bitrix24 2/s, amoCRM 7/s, HubSpot 100 per 10 s).",
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds before a request is retried.")
    attempts: int = Field(default=5, ge=1, description="Tries per request, the first included.")
    pull_overlap_minutes: int = Field(
        default=5,
        ge=0,
        description="An incremental pull asks for changes since the last one minus this "
        "margin, for clocks and indexes that lag.",
    )
    on_conflict: Literal["manual", "align"] = Field(
        default="manual",
        description="Bitrix24: when a merge answers CONFLICT, leave it for a person "
        "('manual', with the merge link) or set the golden names on the duplicates and "
        "merge again ('align').",
    )
    losers: Literal["tag", "delete"] = Field(
        default="tag",
        description="amoCRM (no merge endpoint): tag the merged-away contacts, or delete "
        "them through the web app's endpoint (undocumented, may change).",
    )
    loser_tag: str = Field(default="merged-duplicate", description="amoCRM: the tag for losers.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("token_env")
    @classmethod
    def _check_token_env(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(
                f"{value!r} is not an environment variable name: put the variable's name "
                "here and the token in the environment"
            )
        return value


#: How a pulled CRM export (`dedup pull`) maps: the connectors write these keys.
CRM_EXPORT_COLUMNS: dict[str, Any] = {
    "source_record_id": "id",
    "first_name": "first_name",
    "middle_name": "middle_name",
    "last_name": "last_name",
    "phones": ["phones"],
    "emails": ["emails"],
    "company": "company",
    "city": "city",
    "created_at": "created_at",
    "updated_at": "updated_at",
}


class SourceConfig(_Model):
    """One contact export: where it is, how to read it, how its columns map.

    A source with a ``crm`` block is a CRM account: ``dedup pull`` writes its contacts
    to ``path`` (JSON Lines) and ``dedup push`` applies its merge instructions there; its
    ``columns`` default to the pulled layout.
    """

    name: str = Field(description="Short identifier, e.g. 'bitrix24'; lower-case, digits, _.")
    path: Path
    format: SourceFormat | None = Field(
        default=None, description="Inferred from the file suffix when omitted."
    )
    columns: ColumnMapping
    crm: CrmConnection | None = Field(
        default=None, description="Pull from and push merges to this CRM account."
    )
    default_region: str = Field(
        default="RU", description="Region for phone numbers written without a country code."
    )
    encoding: str | None = Field(default=None, description="CSV encoding; detected when omitted.")
    delimiter: str | None = Field(
        default=None, description="CSV delimiter; detected among ',', ';' and tab when omitted."
    )
    sheet: str | None = Field(default=None, description="XLSX sheet; the first when omitted.")
    timestamp_formats: list[str] = Field(
        default_factory=list,
        description="strftime formats tried for created/updated columns before the defaults.",
    )
    merge_target: bool = Field(
        default=True,
        description="Write merge instructions for this source (false for feeds like web forms).",
    )
    channel: str | None = Field(
        default=None,
        description="How clients reach you through this source ('web form', 'call'); the "
        "source's name when omitted. Goes into the client history of golden profiles.",
    )
    channel_column: str | None = Field(
        default=None,
        description="An unmapped export column naming each record's channel (Bitrix24's "
        "'Источник'); records where it is empty take 'channel'.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a valid source name (lower-case letters, digits and _)"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _crm_columns(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("columns") is None:
            if data.get("crm") is None:
                raise ValueError("'columns' is required (unless the source has a 'crm' block)")
            data = {**data, "columns": CRM_EXPORT_COLUMNS}
        return data

    @model_validator(mode="after")
    def _crm_writes_jsonl(self) -> SourceConfig:
        if self.crm is not None and self.resolved_format is not SourceFormat.JSONL:
            raise ValueError(
                f"a CRM source is pulled to JSON Lines: give 'path' a .jsonl suffix ({self.path})"
            )
        return self

    @field_validator("default_region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a phone region known to phonenumbers (e.g. RU, US)")
        return region

    @field_validator("delimiter")
    @classmethod
    def _check_delimiter(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError("delimiter must be a single character")
        return value

    @property
    def resolved_format(self) -> SourceFormat:
        """The declared format, or the one the file suffix implies."""
        if self.format is not None:
            return self.format
        try:
            return _SUFFIX_FORMATS[self.path.suffix.lower()]
        except KeyError:
            raise ConfigError(
                f"source {self.name!r}: cannot infer the format of {self.path}; set 'format'"
            ) from None


class ExtraComparison(StrEnum):
    """How an extra match field is compared."""

    EXACT = "exact"
    JARO_WINKLER = "jaro_winkler"
    LEVENSHTEIN = "levenshtein"
    DATE = "date"


_DEFAULT_THRESHOLDS: dict[ExtraComparison, tuple[float, ...]] = {
    ExtraComparison.EXACT: (),
    ExtraComparison.JARO_WINKLER: (0.92, 0.8),
    ExtraComparison.LEVENSHTEIN: (1, 2),
    ExtraComparison.DATE: (1,),
}


class ExtraFieldConfig(_Model):
    """An extra field the model compares (a date of birth, a postcode, a tax id ...).

    Sources map an export column to the field under ``columns.extra``; values are trimmed
    and case-folded, and a ``date`` field is read as a date in any common format.
    """

    comparison: ExtraComparison = ExtraComparison.EXACT
    thresholds: list[float] | None = Field(
        default=None,
        description=(
            "Similarity levels below exact: Jaro-Winkler similarities (e.g. [0.92, 0.8]) or "
            "edit distances for levenshtein and date (e.g. [1, 2])."
        ),
    )
    term_frequency: bool = Field(
        default=False, description="Weigh exact agreement on a rare value above a common one."
    )
    blocking: bool = Field(
        default=False,
        description="Also generate candidate pairs from records sharing this field's value.",
    )
    identifies_person: bool = Field(
        default=False,
        description=(
            "The value belongs to one person (a national id, a passport number): records "
            "agreeing on it are not kept apart by differing names."
        ),
    )

    @model_validator(mode="after")
    def _check_thresholds(self) -> ExtraFieldConfig:
        if self.thresholds is None:
            return self
        if self.comparison is ExtraComparison.EXACT and self.thresholds:
            raise ValueError("an exact comparison takes no thresholds")
        if self.comparison is ExtraComparison.JARO_WINKLER:
            if any(not 0 < t < 1 for t in self.thresholds):
                raise ValueError("jaro_winkler thresholds are similarities between 0 and 1")
        elif any(t < 1 or t != int(t) for t in self.thresholds):
            raise ValueError(f"{self.comparison.value} thresholds are edit distances (1, 2, ...)")
        return self

    @property
    def levels(self) -> tuple[float, ...]:
        """The thresholds in use (the configured ones or the comparison's defaults)."""
        if self.thresholds is None:
            return _DEFAULT_THRESHOLDS[self.comparison]
        return tuple(self.thresholds)


class MatchConfig(_Model):
    """Probabilistic matching with Splink."""

    @property
    def person_identifiers(self) -> list[str]:
        """Extra fields whose exact agreement overrides a conflict of names."""
        return [name for name, field in self.extra_fields.items() if field.identifies_person]

    candidate_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Scored pairs below this probability are dropped."
    )
    probability_two_random_records_match: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Prior match probability; estimated from exact matches when omitted.",
    )
    max_pairs_for_u: int = Field(default=2_000_000, gt=0)
    max_comparisons_per_rule: int = Field(
        default=50_000_000,
        gt=0,
        description="Refuse to predict when a blocking rule would generate more pairs than this.",
    )
    max_block_size: int = Field(
        default=200,
        gt=1,
        description=(
            "Blocking values shared by more records than this (a switchboard phone, info@) "
            "are not used to generate pairs; the records are still compared on other rules."
        ),
    )
    seed: int = 42
    name_conflicts: Literal["auto", "keep_apart", "ignore"] = Field(
        default="auto",
        description=(
            "keep_apart: records whose names belong to different people are never merged "
            "automatically, nor proposed for review, however much else they share (a "
            "switchboard, an info@ mailbox). ignore: names weigh only through the model, "
            "for data whose names are unreliable. auto: keep_apart when the model says the "
            "names of one client disagree in at most 5% of its matches (CRM data), ignore "
            "when they disagree more often (names corrupted on purpose, as in FEBRL)."
        ),
    )

    extra_fields: dict[str, ExtraFieldConfig] = Field(
        default_factory=dict,
        description="Extra fields to compare, by name; sources map them under columns.extra.",
    )
    model: Path | None = Field(
        default=None,
        description=(
            "A trained model (splink_model.json of an earlier run) to reuse instead of "
            "training; it must compare the fields this configuration compares."
        ),
    )
    default_model: Literal["auto", "never", "always"] = Field(
        default="auto",
        description=(
            "The model shipped with lead-dedup (trained on the benchmark generator, see "
            "docs/default_model.md). auto: a base too small to train on is matched with "
            "it, and a level EM never saw takes its m from it. never: always train, and "
            "refuse a model with an untrained level. always: match with it, without "
            "training (the prior is still estimated from the data). Configurations with "
            "extra fields always train."
        ),
    )
    learn_from_decisions: bool = Field(
        default=False,
        description=(
            "When training, also estimate m probabilities from the record pairs reviewers "
            "said are the same client (Splink's estimate_m_from_pairwise_labels). Reviewed "
            "pairs are the hard cases, not a sample of all matches, so this estimate joins "
            "the EM estimates in each level's median instead of replacing them."
        ),
    )
    min_learning_pairs: int = Field(
        default=50,
        ge=1,
        description=(
            "With learn_from_decisions: fewer matching labelled pairs than this among the "
            "run's records are not used (a warning is logged)."
        ),
    )

    @field_validator("extra_fields")
    @classmethod
    def _check_extra_names(cls, value: dict[str, ExtraFieldConfig]) -> dict[str, ExtraFieldConfig]:
        for name in value:
            _check_extra_field_name(name)
        return value


class DecisionConfig(_Model):
    """Thresholds that give each candidate cluster its outcome."""

    # Chosen once for every dataset of the accuracy matrix (benchmarks/bench_accuracy.py):
    # the lowest auto-merge threshold whose merges stay 99.5% right in every cell, and the
    # review band that keeps a reviewer's share under 5% of clients.
    auto_merge_threshold: float = Field(default=0.98, ge=0, le=1)
    review_threshold: float = Field(default=0.95, ge=0, le=1)

    max_cluster_size: int = Field(
        default=20, gt=1, description="Larger clusters are never merged automatically."
    )
    split_disjoint_identifiers: bool = Field(
        default=True,
        description=(
            "A cluster of three or more records that form groups with no phone or e-mail "
            "in common is merged only within each group; joining the groups is proposed "
            "for review."
        ),
    )
    min_cluster_density: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description=(
            "A cluster of four or more records in which fewer than this share of record "
            "pairs score at the auto-merge threshold is loosely connected: it is not merged "
            "as a whole and goes to review (0 turns the check off)."
        ),
    )
    merge_tight_cores: bool = Field(
        default=True,
        description=(
            "A cluster that is loosely connected or larger than max_cluster_size is merged "
            "within its tight cores (the parts still connected when its weakest pairs are "
            "dropped, each small and dense enough); joining the cores is proposed for "
            "review. False keeps all of its records apart until a reviewer decides."
        ),
    )

    @model_validator(mode="after")
    def _ordered(self) -> DecisionConfig:
        if self.review_threshold > self.auto_merge_threshold:
            raise ValueError("review_threshold must not exceed auto_merge_threshold")
        return self


class SurvivorshipRule(StrEnum):
    """How the golden value of a field is chosen among a cluster's records."""

    SOURCE_PRIORITY = "source_priority"
    MOST_RECENT = "most_recent"
    OLDEST = "oldest"
    MOST_COMPLETE = "most_complete"
    MOST_FREQUENT = "most_frequent"
    LONGEST = "longest"
    UNION = "union"
    VALID_FIRST = "valid_first"
    TRUST = "trust"
    CUSTOM = "custom"


#: Rules that compare one field's values (a survivor is a whole record; list fields are
#: valid values already, and trust or a custom rule reads a scalar value's record).
_VALUE_RULES = frozenset(
    {SurvivorshipRule.VALID_FIRST, SurvivorshipRule.TRUST, SurvivorshipRule.CUSTOM}
)


GOLDEN_SCALAR_FIELDS: tuple[str, ...] = (
    "first_name",
    "middle_name",
    "last_name",
    "full_name",
    "company",
    "city",
)
GOLDEN_LIST_FIELDS: tuple[str, ...] = ("phones", "emails")
GoldenField = Literal[
    "first_name", "middle_name", "last_name", "full_name", "company", "city", "phones", "emails"
]


class FieldRule(_Model):
    """The rule for one golden field."""

    rule: SurvivorshipRule
    source_priority: list[str] | None = Field(
        default=None,
        description="This field's own order of sources, most trusted first (ties and the "
        "source_priority rule); otherwise survivorship.source_priority.",
    )
    function: str | None = Field(
        default=None,
        description="custom: 'module:function' taking the field's candidates (a polars "
        "DataFrame: cluster_id, record_id, source, value, recency, trust, known, ...) and "
        "returning cluster_id and record_id of the value each cluster keeps.",
    )

    @model_validator(mode="after")
    def _function_for_custom(self) -> FieldRule:
        if self.rule is SurvivorshipRule.CUSTOM:
            module, _, attribute = (self.function or "").rpartition(":")
            if not module or not attribute:
                raise ValueError(
                    "a custom rule needs function: 'package.module:function' or 'rules.py:function'"
                )
        elif self.function is not None:
            raise ValueError("function applies to the custom rule only")
        return self


def resolve_rule_function(reference: str) -> Any:
    """The callable a custom survivorship rule names: 'package.module:function', or
    'path/to/rules.py:function' (a relative path is read from the configuration's
    directory once the configuration is loaded)."""
    module_name, _, attribute = reference.rpartition(":")
    try:
        if module_name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(module_name).stem, module_name)
            if spec is None or spec.loader is None:
                raise ImportError(f"no Python file at {module_name}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        function = getattr(module, attribute)
    except (ImportError, AttributeError, OSError) as error:
        raise ValueError(
            f"custom rule function {reference!r} cannot be imported: {error}"
        ) from None
    if not callable(function):
        raise ValueError(f"custom rule function {reference!r} is not callable")
    return function


def _rule_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        return {"rule": value}
    return value


class SurvivorshipConfig(_Model):
    """Per-field rules that build the golden profile.

    Ties under any rule are broken by source priority, then by the most recent update,
    then by record id, so the result is deterministic.
    """

    source_priority: list[str] = Field(
        default_factory=list, description="Sources from most to least trusted."
    )
    survivor: SurvivorshipRule = Field(
        default=SurvivorshipRule.SOURCE_PRIORITY,
        description="Which record of a cluster survives a merge in its CRM.",
    )
    default_rule: SurvivorshipRule = SurvivorshipRule.MOST_COMPLETE
    fields: dict[GoldenField, Annotated[FieldRule, Field()]] = Field(default_factory=dict)
    trust: dict[str, float | dict[str, float]] = Field(
        default_factory=dict,
        description="The trust rule's trust in each source, 0..1: one figure, or one per "
        "field with 'default' for the others. Unlisted sources: 0.5.",
    )
    trust_half_life_days: float = Field(
        default=365.0,
        gt=0,
        description="The trust rule: a value's trust halves with every this many days "
        "between its update and the newest update in the input.",
    )

    @field_validator("fields", mode="before")
    @classmethod
    def _expand_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: _rule_shorthand(rule) for key, rule in value.items()}
        return value

    @field_validator("survivor")
    @classmethod
    def _survivor_rule_picks_a_record(cls, value: SurvivorshipRule) -> SurvivorshipRule:
        # These compare the values of one field; a survivor is a whole record.
        if value in (
            SurvivorshipRule.UNION,
            SurvivorshipRule.LONGEST,
            SurvivorshipRule.MOST_FREQUENT,
            *_VALUE_RULES,
        ):
            raise ValueError(f"{value.value!r} cannot choose a survivor record")
        return value

    @model_validator(mode="after")
    def _rules_fit_fields(self) -> SurvivorshipConfig:
        if self.default_rule in _VALUE_RULES:
            raise ValueError(
                f"default_rule: {self.default_rule.value!r} is set per field (fields.<name>)"
            )
        for field_name, field_rule in self.fields.items():
            if field_rule.rule is SurvivorshipRule.UNION and field_name not in GOLDEN_LIST_FIELDS:
                raise ValueError(f"fields.{field_name}: 'union' applies to phones and emails only")
            if field_rule.rule in _VALUE_RULES and field_name in GOLDEN_LIST_FIELDS:
                raise ValueError(
                    f"fields.{field_name}: {field_rule.rule.value!r} applies to single-value "
                    "fields (names, company, city)"
                )
        for source, trust in self.trust.items():
            figures = trust.values() if isinstance(trust, dict) else [trust]
            if any(not 0 <= figure <= 1 for figure in figures):
                raise ValueError(f"trust.{source}: trust is a figure from 0 to 1")
        return self

    def field_rule(self, field_name: str) -> FieldRule:
        """The configured rule of a golden field, with its options."""
        if field_name in self.fields:
            return self.fields[field_name]  # type: ignore[index]
        return FieldRule(rule=self.rule_for(field_name))

    def trust_in(self, source: str, field_name: str) -> float:
        """The trust rule's trust in ``source`` for ``field_name`` (0.5 when unlisted)."""
        trust = self.trust.get(source, 0.5)
        if isinstance(trust, dict):
            return trust.get(field_name, trust.get("default", 0.5))
        return trust

    def rule_for(self, field_name: str) -> SurvivorshipRule:
        """Return the configured rule of a golden field (union for lists by default)."""
        if field_name in self.fields:
            return self.fields[field_name].rule  # type: ignore[index]
        if field_name in GOLDEN_LIST_FIELDS:
            return SurvivorshipRule.UNION
        return self.default_rule


class WarehouseConfig(_Model):
    """The embedded DuckDB warehouse and the resources DuckDB may use."""

    path: Path = Path("output/warehouse.duckdb")
    memory_limit: str = Field(default="8GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB)$")
    threads: int | None = Field(default=None, gt=0)
    temp_directory: Path = Path("output/duckdb_tmp")


class ReviewConfig(_Model):
    """Where reviewers' decisions live: apart from the warehouse, so neither blocks the other.

    ``database_url`` takes any SQLAlchemy URL (``postgresql://...``); otherwise decisions go
    to the SQLite file ``database``, by default ``review/decisions.sqlite`` in the output
    directory (set it elsewhere to keep decisions when outputs are cleaned).
    """

    database: Path | None = None
    database_url: str | None = Field(
        default=None, description="A SQLAlchemy URL; overrides 'database' when set."
    )

    @model_validator(mode="after")
    def _one_of(self) -> ReviewConfig:
        if self.database is not None and self.database_url is not None:
            raise ValueError("set review.database or review.database_url, not both")
        return self

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the decisions store."""
        if self.database_url is not None:
            return self.database_url
        if self.database is None:
            raise ValueError("review.database is resolved by PipelineConfig.resolve_paths")
        return f"sqlite:///{self.database.as_posix()}"


def normalize_listed_phone(raw: str, region: str) -> str:
    """A blacklisted phone in E.164 (``ValueError`` when it is not a possible number)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{raw!r} is not a phone number: {exc._msg}") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{raw!r} is not a possible phone number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_listed_email(raw: str) -> str:
    """A blacklisted address, lower-cased (``ValueError`` when it is not one)."""
    address = raw.strip().lower()
    local, at, domain = address.partition("@")
    if not (local and at and "." in domain) or " " in address:
        raise ValueError(f"{raw!r} is not an e-mail address")
    return address


def normalize_listed_domain(raw: str) -> str:
    """A blacklisted mail domain, lower-cased, without '@' (``ValueError`` when not one)."""
    domain = raw.strip().lower().lstrip("@").rstrip(".")
    if "." not in domain or not re.fullmatch(r"[\w.-]+", domain):
        raise ValueError(f"{raw!r} is not a mail domain (e.g. 'mailinator.com')")
    return domain


def _each(values: list[str], read: Any) -> list[str]:
    """Each value read, sorted and unique; every unreadable one named by its position."""
    read_values, problems = set(), []
    for index, raw in enumerate(values):
        try:
            read_values.add(read(raw))
        except ValueError as exc:
            problems.append(f"[{index}] {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return sorted(read_values)


class BlacklistConfig(_Model):
    """Values whose records are flagged and kept out of merges.

    Phones are compared in E.164 (written here in any format; ``default_region`` reads
    those without a country code), e-mails case-insensitively, domains with their
    subdomains. ``file`` adds entries from a CSV with columns ``kind`` (phone, email,
    domain or source) and ``value``, read at each run.
    """

    default_region: str = Field(
        default="RU", description="Region for listed phones written without a country code."
    )
    phones: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    sources: list[str] = Field(
        default_factory=list, description="Every record of these sources is flagged."
    )
    file: Path | None = Field(default=None, description="CSV of kind,value entries.")

    # Normalised once here, so that an unusable entry fails at load time, by position.
    @field_validator("phones")
    @classmethod
    def _phones(cls, values: list[str], info: ValidationInfo) -> list[str]:
        region = info.data.get("default_region", "RU")
        return _each(values, lambda raw: normalize_listed_phone(raw, region))

    @field_validator("emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        return _each(values, normalize_listed_email)

    @field_validator("domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        return _each(values, normalize_listed_domain)


class JunkConfig(_Model):
    """When a record is junk: no way to reach the client and no real name.

    A record is junk when it has no valid phone, no valid e-mail outside disposable mail
    services, and a name that is missing or nonsense (no letters, one letter repeated, a
    keyboard run, a word of the built-in list or ``nonsense_words``, or a long word
    without a vowel).
    """

    enabled: bool = True
    nonsense_words: list[str] = Field(
        default_factory=list,
        description="More words that mark a name as nonsense, besides the built-in ones "
        "(test, тест, asdf, qwerty, йцукен, фыва, ...).",
    )


class EnrichConfig(_Model):
    """Reference data the enrichment reads beyond the bundled libraries."""

    numbering_plan: Path | None = Field(
        default=None,
        description="The Russian numbering plan as `dedup numbering-plan load` writes it "
        "(Parquet): region and time zone of mobile numbers. Unset or not loaded yet: "
        "libphonenumber alone.",
    )


class OutputConfig(_Model):
    """Where exported tables and the run report go."""

    directory: Path = Path("output")


class PipelineConfig(_Model):
    """A whole lead-dedup run."""

    sources: list[SourceConfig] = Field(min_length=1)
    match: MatchConfig = Field(default_factory=MatchConfig)
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    survivorship: SurvivorshipConfig = Field(default_factory=SurvivorshipConfig)
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    enrich: EnrichConfig = Field(default_factory=EnrichConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    blacklist: BlacklistConfig = Field(default_factory=BlacklistConfig)
    junk: JunkConfig = Field(default_factory=JunkConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        names = [source.name for source in self.sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        mapped_extras = {name for source in self.sources for name in source.columns.extra}
        unmapped = sorted(set(self.match.extra_fields) - mapped_extras)
        if unmapped:
            raise ValueError(
                "match.extra_fields not mapped by any source (columns.extra): "
                + ", ".join(unmapped)
            )
        unused = sorted(mapped_extras - set(self.match.extra_fields))
        if unused:
            raise ValueError(
                "columns.extra maps field(s) that match.extra_fields does not compare: "
                + ", ".join(unused)
            )
        survivorship = self.survivorship
        named = {
            "survivorship.source_priority": survivorship.source_priority,
            "survivorship.trust": list(survivorship.trust),
            **{
                f"survivorship.fields.{field}.source_priority": rule.source_priority or []
                for field, rule in survivorship.fields.items()
            },
        }
        for where, sources in named.items():
            unknown = [name for name in sources if name not in names]
            if unknown:
                raise ValueError(f"{where} names undeclared source(s): " + ", ".join(unknown))

        unknown = [name for name in self.blacklist.sources if name not in names]
        if unknown:
            raise ValueError("blacklist.sources names undeclared source(s): " + ", ".join(unknown))
        return self

    def source(self, name: str) -> SourceConfig:
        """Return the source called ``name``."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    def resolve_paths(self, base_dir: Path) -> PipelineConfig:
        """Return a copy whose relative paths are anchored at ``base_dir``."""

        def anchor(path: Path) -> Path:
            return path if path.is_absolute() else (base_dir / path).resolve()

        sources = [
            source.model_copy(update={"path": anchor(source.path)}) for source in self.sources
        ]
        warehouse = self.warehouse.model_copy(
            update={
                "path": anchor(self.warehouse.path),
                "temp_directory": anchor(self.warehouse.temp_directory),
            }
        )
        output = self.output.model_copy(update={"directory": anchor(self.output.directory)})
        database = self.review.database
        if database is None and self.review.database_url is None:
            database = output.directory / "review" / "decisions.sqlite"
        review = self.review.model_copy(
            update={"database": anchor(database) if database is not None else None}
        )
        match = self.match
        if match.model is not None:
            match = match.model_copy(update={"model": anchor(match.model)})
        blacklist = self.blacklist
        if blacklist.file is not None:
            blacklist = blacklist.model_copy(update={"file": anchor(blacklist.file)})
        survivorship = self.survivorship
        fields = dict(survivorship.fields)
        for name, rule in survivorship.fields.items():
            file, _, attribute = (rule.function or "").rpartition(":")
            if file.endswith(".py"):
                fields[name] = rule.model_copy(
                    update={"function": f"{anchor(Path(file))}:{attribute}"}
                )
        survivorship = survivorship.model_copy(update={"fields": fields})
        enrich = self.enrich
        if enrich.numbering_plan is not None:
            enrich = enrich.model_copy(update={"numbering_plan": anchor(enrich.numbering_plan)})
        return self.model_copy(
            update={
                "sources": sources,
                "warehouse": warehouse,
                "output": output,
                "match": match,
                "review": review,
                "blacklist": blacklist,
                "enrich": enrich,
                "survivorship": survivorship,
            }
        )


def read_model_file(path: Path) -> dict[str, Any]:
    """Read a trained Splink model (the ``splink_model.json`` a run writes).

    Only the file's shape is checked here; whether the model fits a configuration's
    comparisons is checked by the match stage.

    Raises
    ------
    ConfigError
        When the file is missing or unreadable, or does not hold a Splink model; the
        message names the file.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: model file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the model: {exc}") from None
    try:
        model = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a Splink model (not valid JSON: {exc})") from None
    comparisons = model.get("comparisons") if isinstance(model, dict) else None
    if (
        not isinstance(model, dict)
        or "link_type" not in model
        or not isinstance(comparisons, list)
        or not comparisons
        or not all(
            isinstance(c, dict) and "output_column_name" in c and "comparison_levels" in c
            for c in comparisons
        )
    ):
        raise ConfigError(
            f"{path}: not a Splink model (expected the splink_model.json written by a run, "
            "with link_type and comparisons)"
        )
    return model


def _format_location(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<top level>"


def load_config(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline configuration file.

    Parameters
    ----------
    path
        A YAML file. Relative paths inside it are resolved against its directory.

    Raises
    ------
    ConfigError
        When the file is missing, is not valid YAML, or does not describe a valid run; the
        message names the file and each offending field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [f"  {_format_location(error['loc'])}: {error['msg']}" for error in exc.errors()]
        raise ConfigError(f"{path}: invalid configuration\n" + "\n".join(problems)) from None
    config = config.resolve_paths(path.resolve().parent)
    for field_name, field_rule in config.survivorship.fields.items():
        if field_rule.function is not None:
            try:
                resolve_rule_function(field_rule.function)
            except ValueError as exc:
                raise ConfigError(f"{path}: survivorship.fields.{field_name}: {exc}") from None
    if config.match.model is not None:
        try:
            read_model_file(config.match.model)
        except ConfigError as exc:
            raise ConfigError(f"{path}: match.model: {exc}") from None
    return config
