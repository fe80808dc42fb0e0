"""Phone and e-mail lists for a survivor card: the golden values first, nothing lost.

A CRM card holds phones as people typed them ("8 (912) 345-67-89"); the golden profile
holds them in E.164. When a connector writes a survivor's list, a value the golden list
already holds in another spelling is not written twice, and a value the golden list lacks
(an invalid number, an address the rules left out) is kept as it was.
"""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers

__all__ = ["email_key", "merged_emails", "merged_phones", "phone_key"]


def phone_key(value: str, *, region: str) -> str:
    """The number in E.164 when it parses, else its digits (how two spellings compare)."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return "".join(ch for ch in value if ch.isdigit()) or value.strip()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_key(value: str) -> str:
    """The address trimmed and lower-cased (how two spellings compare)."""
    return value.strip().lower()


def _merged(golden: Iterable[str], others: Iterable[Iterable[str]], key: object) -> list[str]:
    kept: dict[str, str] = {}
    for value in [*golden, *(value for values in others for value in values)]:
        if value and value.strip():
            kept.setdefault(key(value), value.strip())  # type: ignore[operator]
    return list(kept.values())


def merged_phones(golden: Iterable[str], *others: Iterable[str], region: str) -> list[str]:
    """``golden`` then every other phone not already there in another spelling.

    Parameters
    ----------
    golden
        The golden profile's phones (E.164), most trusted first.
    others
        The cards' phones as stored.
    region
        The source's default region, for numbers written without a country code.
    """
    return _merged(golden, others, lambda value: phone_key(value, region=region))


def merged_emails(golden: Iterable[str], *others: Iterable[str]) -> list[str]:
    """``golden`` then every other address not already there in another case."""
    return _merged(golden, others, email_key)
