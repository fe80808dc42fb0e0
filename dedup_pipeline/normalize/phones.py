"""Phone numbers to E.164 with Google's libphonenumber rules (the `phonenumbers` port)."""

from __future__ import annotations

import phonenumbers
import polars as pl

from dedup_pipeline.normalize._parallel import map_values

__all__ = ["PHONE_VALUES_SCHEMA", "normalize_phone_values", "phone_parse_key"]

#: One row per distinct (raw phone, default region) pair.
PHONE_VALUES_SCHEMA: dict[str, pl.DataType] = {
    "phone_raw": pl.String(),
    "region": pl.String(),
    "phone_e164": pl.String(),
    "phone_valid": pl.Boolean(),
    "phone_type": pl.String(),
    "phone_problem": pl.String(),
}

_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(phonenumbers.PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}


def phone_parse_key(raw: pl.Expr) -> pl.Expr:
    """Reduce a raw phone to the characters that decide how it parses.

    "8 (912) 345-67-89" and "8-912-345-6789" share the key "89123456789", so each number is
    parsed once however many ways it was typed. Letters survive because "ext." and vanity
    numbers change the meaning.
    """
    return raw.str.replace_all(r"[\s()\-./\u00a0]", "").str.to_lowercase()


def _parse(key: str, region: str) -> tuple[str | None, bool, str | None, str | None]:
    try:
        number = phonenumbers.parse(key, region)
    except phonenumbers.NumberParseException as exc:
        return None, False, None, f"unparseable: {exc._msg}"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):
        return e164, False, None, "not a valid number for its region"
    number_type = _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown")
    return e164, True, number_type, None


def _parse_pair(pair: tuple[str, str]) -> tuple[str | None, bool, str | None, str | None]:
    return _parse(*pair)


def normalize_phone_values(values: pl.DataFrame) -> pl.DataFrame:
    """Parse distinct raw phones into E.164.

    Parameters
    ----------
    values
        Columns ``phone_raw`` and ``region`` (the source's default region, used for numbers
        written without a country code). Duplicates are allowed; each distinct parse key is
        parsed once.

    Returns
    -------
    polars.DataFrame
        One row per distinct input pair, with `PHONE_VALUES_SCHEMA`. Invalid numbers keep
        their raw value, get ``phone_valid = false`` and the reason in ``phone_problem``.
    """
    distinct = values.select("phone_raw", "region").unique()
    keyed = distinct.with_columns(phone_key=phone_parse_key(pl.col("phone_raw")))
    keys = keyed.select("phone_key", "region").unique()
    # Python runs once per distinct parse key, never per record.
    parsed = map_values(_parse_pair, list(keys.iter_rows()))
    results = keys.with_columns(
        pl.Series("phone_e164", [p[0] for p in parsed], dtype=pl.String),
        pl.Series("phone_valid", [p[1] for p in parsed], dtype=pl.Boolean),
        pl.Series("phone_type", [p[2] for p in parsed], dtype=pl.String),
        pl.Series("phone_problem", [p[3] for p in parsed], dtype=pl.String),
    )
    return keyed.join(results, on=["phone_key", "region"], how="left", nulls_equal=True).select(
        list(PHONE_VALUES_SCHEMA)
    )
