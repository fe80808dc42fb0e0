"""The answer to a lead check, as JSON: which clients the lead duplicates, and why."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ClientMatch",
    "ClientProfile",
    "ComparisonReason",
    "LeadCheck",
    "MatchedRecord",
    "NormalizedLead",
    "Thresholds",
]


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class NormalizedLead(_Answer):
    """The lead as the model compared it (the pipeline's normalised match keys)."""

    record_id: str = Field(description="The id the lead had while compared.")
    source: str
    region: str = Field(description="Region of phones written without a country code.")
    first_name: str | None = Field(description="Name keys, transliterated and case-folded.")
    last_name: str | None
    full_name: str | None
    company: str | None
    city: str | None = Field(description="GeoNames id ('geo:524901') or the normalised name.")
    phones: list[str] = Field(description="Valid phones in E.164.")
    emails: list[str] = Field(description="Valid e-mails, with misspelt mail domains corrected.")
    invalid_phones: list[str] = Field(description="Phones as sent that are not valid numbers.")
    invalid_emails: list[str] = Field(description="E-mails as sent that are not valid.")


class ComparisonReason(_Answer):
    """How one comparison of the model judged the pair: its level and weight in bits."""

    comparison: str = Field(description="The model's comparison ('phones', 'city', ...).")
    level: str = Field(description="The level the pair fell in ('A personal phone in common').")
    match_weight: float = Field(description="The level's weight (Splink's mw_<comparison>).")
    term_frequency_adjustment: float | None = Field(
        default=None,
        description="Extra weight for agreeing on a rare value, or less for a common one "
        "(mw_tf_adj_<comparison>); only for comparisons adjusted by term frequency.",
    )


class MatchedRecord(_Answer):
    """One record of a client that the lead matched."""

    record_id: str
    match_probability: float
    match_weight: float
    found_by: str | None = Field(
        description="The first blocking rule that pairs the lead with the record."
    )


class ClientProfile(_Answer):
    """Key fields of the client's golden profile."""

    first_name: str | None
    middle_name: str | None
    last_name: str | None
    full_name: str | None
    phones: list[str]
    emails: list[str]
    company: str | None
    city: str | None
    sources: list[str]
    record_count: int


class ClientMatch(_Answer):
    """An existing client the lead duplicates, scored by its best-matching record."""

    client_id: str = Field(description="The client's cluster id (stable across runs).")
    label: Literal["duplicate", "possible duplicate"] = Field(
        description="duplicate: at or above the auto-merge threshold; possible duplicate: "
        "at or above the review threshold."
    )
    match_probability: float
    match_weight: float
    outcome: str | None = Field(description="The client's outcome in the last run.")
    profile: ClientProfile | None
    matched_record_ids: list[str] = Field(
        description="The client's records the lead matched, best first."
    )
    matched_records: list[MatchedRecord]
    why: list[ComparisonReason] = Field(
        description="Each comparison's level and weight for the best-matching record."
    )


class Thresholds(_Answer):
    """Match probabilities a match is reported at (the configuration's decision block)."""

    review: float
    auto_merge: float


class LeadCheck(_Answer):
    """The answer: the normalised lead and the clients it duplicates, best first."""

    lead_id: str | None
    lead: NormalizedLead
    matches: list[ClientMatch] = Field(description="Empty when the lead is a new client.")
    candidates_considered: int = Field(
        description="Records sharing a blocking key with the lead, all scored."
    )
    flags: list[str] = Field(
        default_factory=list,
        description="Why the lead itself would be kept out of merges: blacklisted_phone, "
        "blacklisted_email, blacklisted_domain, blacklisted_source or junk; empty when clean.",
    )
    flag_detail: str | None = Field(default=None, description="The flags in words.")
    thresholds: Thresholds
    run_id: str | None = Field(description="The run whose model and clients answered.")
    elapsed_ms: float = Field(description="Time to answer, normalisation to ranking.")
