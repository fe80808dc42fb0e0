"""The incoming lead: what a CRM webhook, a web form or the command line sends.

Values are taken as a person typed them ("8 (912) 345-67-89", "Ivan.Petrov@Yandex.ru",
"ПЕТРОВ Иван"); the check normalises them with the pipeline's own code. Blank values count
as missing, as in the exports.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import polars as pl
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from dedup_pipeline.schema import SOURCE_RECORD_SCHEMA

__all__ = ["MAX_VALUES", "Lead"]

#: At most this many phones, and this many e-mails, in one lead.
MAX_VALUES = 10

_Text = Annotated[str, StringConstraints(max_length=300)]
_Value = Annotated[str, StringConstraints(min_length=1, max_length=254)]
# Exports write several phones or e-mails into one cell as "a, b" or "a; b"; so may a lead.
_SEPARATORS = re.compile(r"[,;]")
_NAME_FIELDS = ("first_name", "middle_name", "last_name", "full_name")


class Lead(BaseModel):
    """One lead to check against the clients of the last run.

    At least a phone, an e-mail or a name (first, last or full) is needed. ``phone`` and
    ``email`` are accepted for ``phones`` and ``emails``, ``name`` for ``full_name``; each of
    the lists also takes a single string, and a string may hold several values separated
    by ``,`` or ``;``.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    lead_id: _Text | None = Field(
        default=None, description="The caller's id of the lead; echoed in the answer."
    )
    phones: list[_Value] = Field(
        default_factory=list,
        max_length=MAX_VALUES,
        validation_alias=AliasChoices("phones", "phone"),
        description="Phone numbers in any format; without a country code they are read in "
        "the source's (or the check's default) region.",
    )
    emails: list[_Value] = Field(
        default_factory=list,
        max_length=MAX_VALUES,
        validation_alias=AliasChoices("emails", "email"),
        description="E-mail addresses.",
    )
    first_name: _Text | None = None
    middle_name: _Text | None = None
    last_name: _Text | None = None
    full_name: _Text | None = Field(
        default=None,
        validation_alias=AliasChoices("full_name", "name"),
        description="The whole name in one string, in either order ('Петров Иван Сергеевич').",
    )
    company: _Text | None = None
    city: _Text | None = None
    source: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="Where the lead comes from; a configured source's name reads its phones "
        "in that source's region.",
    )
    extra: dict[Annotated[str, StringConstraints(max_length=64)], _Text] = Field(
        default_factory=dict,
        max_length=50,
        description="Values of the configuration's extra match fields, by field name.",
    )

    @field_validator("phones", "emails", mode="before")
    @classmethod
    def _one_or_several(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            return value  # pydantic reports the type error
        values: list[Any] = []
        for item in value:
            parts = _SEPARATORS.split(item) if isinstance(item, str) else [item]
            for part in parts:
                part = part.strip() if isinstance(part, str) else part
                if part != "" and part not in values:
                    values.append(part)
        return values

    @field_validator("lead_id", *_NAME_FIELDS, "company", "city", "source", mode="after")
    @classmethod
    def _blank_is_missing(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _something_to_match(self) -> Lead:
        if not (self.phones or self.emails or any(getattr(self, f) for f in _NAME_FIELDS)):
            raise ValueError(
                "a lead needs at least a phone, an e-mail or a name "
                "(phones, emails, first_name, last_name or full_name)"
            )
        return self

    def source_records(self, *, record_id: str, source: str) -> pl.DataFrame:
        """The lead as a one-row table of source records (`SOURCE_RECORD_SCHEMA`).

        Parameters
        ----------
        record_id
            The id the lead takes while it is compared (never one of the base's).
        source
            The source it is read as: decides the region of phones without a country code.
        """
        record: dict[str, Any] = dict.fromkeys(SOURCE_RECORD_SCHEMA)
        record.update(
            record_id=record_id,
            source=source,
            source_record_id=self.lead_id or record_id,
            first_name=self.first_name,
            middle_name=self.middle_name,
            last_name=self.last_name,
            full_name=self.full_name,
            phones=list(self.phones),
            emails=list(self.emails),
            company=self.company,
            city=self.city,
            attributes="{}",
            extra=json.dumps(dict(self.extra), ensure_ascii=False),
        )
        return pl.DataFrame([record], schema=SOURCE_RECORD_SCHEMA)
