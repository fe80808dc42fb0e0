"""E-mail addresses, checked for syntax with `email-validator` (no DNS look-ups)."""

from __future__ import annotations

import email_validator
import polars as pl

from dedup_pipeline.normalize._parallel import map_values

__all__ = ["EMAIL_VALUES_SCHEMA", "normalize_email_values"]

#: One row per distinct raw e-mail.
EMAIL_VALUES_SCHEMA: dict[str, pl.DataType] = {
    "email_raw": pl.String(),
    "email_normalized": pl.String(),
    "email_valid": pl.Boolean(),
    "email_domain": pl.String(),
    "email_problem": pl.String(),
}


def _validate(candidate: str) -> tuple[str | None, bool, str | None, str | None]:
    try:
        result = email_validator.validate_email(
            candidate, check_deliverability=False, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as exc:
        return None, False, None, str(exc)
    # Mail systems treat local parts case-insensitively in practice, and CRMs store
    # addresses in whatever case was typed, so the match key is fully lower-cased.
    normalized = result.normalized.lower()
    return normalized, True, result.ascii_domain.lower(), None


def normalize_email_values(values: pl.Series | pl.DataFrame) -> pl.DataFrame:
    """Validate and normalise distinct raw e-mail addresses.

    Parameters
    ----------
    values
        Raw addresses (a Series, or a DataFrame with column ``email_raw``).

    Returns
    -------
    polars.DataFrame
        One row per distinct raw address, with `EMAIL_VALUES_SCHEMA`. Invalid addresses
        keep their raw value, get ``email_valid = false`` and the reason.
    """
    raw = values["email_raw"] if isinstance(values, pl.DataFrame) else values.rename("email_raw")
    distinct = pl.DataFrame({"email_raw": raw}).unique()
    keyed = distinct.with_columns(
        email_key=pl.col("email_raw").str.strip_chars().str.strip_chars("<>").str.to_lowercase()
    )
    keys = keyed.get_column("email_key").unique()
    validated = map_values(_validate, keys.to_list())
    results = pl.DataFrame(
        {
            "email_key": keys,
            "email_normalized": [v[0] for v in validated],
            "email_valid": [v[1] for v in validated],
            "email_domain": [v[2] for v in validated],
            "email_problem": [v[3] for v in validated],
        },
        schema={
            "email_key": pl.String,
            **{k: v for k, v in EMAIL_VALUES_SCHEMA.items() if k != "email_raw"},
        },
    )
    return keyed.join(results, on="email_key", how="left", nulls_equal=True).select(
        list(EMAIL_VALUES_SCHEMA)
    )
