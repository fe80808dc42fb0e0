"""The comparisons of the contact model, one function per field.

Each comparison is a ladder of levels from strongest agreement to disagreement; Splink
learns how much each level says about a match (its m and u probabilities).
"""

from __future__ import annotations

from collections.abc import Mapping

import splink.comparison_level_library as cll
import splink.comparison_library as cl

from dedup_pipeline.config import ExtraComparison, ExtraFieldConfig, MatchConfig

__all__ = [
    "FEW_LABEL",
    "PERSONAL_LABEL",
    "SHARED_LABEL",
    "city_comparison",
    "company_comparison",
    "contact_comparisons",
    "extra_comparison",
    "identifier_comparison",
    "name_comparison",
    "patronymic_comparison",
]


def name_comparison() -> cl.CustomComparison:
    """First and last name together: exact, swapped, alike, nicknames, one name missing.

    Agreement on both names weighs by how common the whole name is in the base
    ("Александр Иванов" is weak evidence, "Всеволод Ладломанов" strong), whether exact,
    swapped, alike or a nickname: "Всеволод Ладломанов" and "Сева Ладломанов" are two
    spellings of a rare name, and the commoner spelling of the two is the one weighed.

    """
    rare_like_exact = {"tf_adjustment_column": "name_pair"}

    return cl.CustomComparison(
        output_column_name="first_name_last_name",
        comparison_levels=[
            cll.And(cll.NullLevel("first_name"), cll.NullLevel("last_name")),
            # "first_name last_name": both names exact, weighed by the whole name.
            cll.ExactMatchLevel("name_pair").configure(
                tf_adjustment_column="name_pair",
                label_for_charts="Exact match on first_name and last_name",
            ),
            cll.ColumnsReversedLevel("first_name", "last_name", symmetrical=True).configure(
                **rare_like_exact
            ),
            cll.And(
                cll.JaroWinklerLevel("first_name", 0.92), cll.JaroWinklerLevel("last_name", 0.92)
            ).configure(**rare_like_exact),
            cll.And(
                cll.ArrayIntersectLevel("first_name_variants", 1),
                cll.JaroWinklerLevel("last_name", 0.88),
            ).configure(
                label_for_charts="First name a nickname of the other, last name alike",
                **rare_like_exact,
            ),
            cll.And(
                cll.JaroWinklerLevel("first_name", 0.88), cll.JaroWinklerLevel("last_name", 0.88)
            ).configure(**rare_like_exact),
            # A lead form often has a first name only: "Оля" with the phone of "Ольга Петрова".
            cll.And(
                cll.NullLevel("last_name"),
                cll.Or(
                    cll.JaroWinklerLevel("first_name", 0.92),
                    cll.ArrayIntersectLevel("first_name_variants", 1),
                ),
            ).configure(label_for_charts="First names agree, a last name is missing"),
            # "Петров И. С." and "Иван Петров": the initial stands for the first name.
            cll.And(
                cll.NullLevel("first_name"),
                cll.ArrayIntersectLevel("first_initials", 1),
                cll.JaroWinklerLevel("last_name", 0.88),
            ).configure(label_for_charts="Last names alike, first initials agree"),
            cll.And(cll.NullLevel("first_name"), cll.JaroWinklerLevel("last_name", 0.88)).configure(
                label_for_charts="Last names alike, a first name is missing"
            ),
            cll.ExactMatchLevel("last_name").configure(tf_adjustment_column="last_name"),
            cll.ExactMatchLevel("first_name").configure(tf_adjustment_column="first_name"),
            cll.ElseLevel(),
        ],
    )


def patronymic_comparison() -> cl.CustomComparison:
    """Patronymics: alike, or only their initials agree ("Иванов И. С.").

    A patronymic tells a father from the son named after him; two present and different
    ones are also a conflict of names (`dedup_pipeline.match.conflicts`).
    """
    return cl.CustomComparison(
        output_column_name="middle_name",
        comparison_levels=[
            cll.NullLevel("middle_initial"),
            cll.JaroWinklerLevel("middle_name", 0.92).configure(
                label_for_charts="Patronymics alike"
            ),
            cll.ExactMatchLevel("middle_initial").configure(
                label_for_charts="Patronymic initials agree"
            ),
            cll.ElseLevel(),
        ],
    )


#: Labels of the identifier levels whose u is counted (`dedup_pipeline.match.training`).
PERSONAL_LABEL = "A personal {noun} in common"
FEW_LABEL = "Only a little-shared {noun} in common"
SHARED_LABEL = "Only a shared {noun} in common"


def identifier_comparison(column: str, noun: str) -> cl.CustomComparison:
    """A list of phones or e-mails: a personal value in common, a shared one, or none.

    ``<column>_personal`` holds the values not detected as shared (see
    `prepare_match_input`); a shared value in common is a much weaker level, split by how
    many records hold it: ``<column>_few`` holds the shared values of a few records (a
    family's home phone), the rest are common (a switchboard). Lumped together, a big
    base's switchboards would make a family phone count for as little as theirs, and the
    level would weaken as the base grows. For e-mails, first personal addresses within two
    typos of each other are a further level.
    """
    levels: list[cll.ComparisonLevelCreator] = [
        cll.NullLevel(column),
        cll.ArrayIntersectLevel(f"{column}_personal", 1).configure(
            label_for_charts=PERSONAL_LABEL.format(noun=noun)
        ),
        cll.ArrayIntersectLevel(f"{column}_few", 1).configure(
            label_for_charts=FEW_LABEL.format(noun=noun)
        ),
        cll.ArrayIntersectLevel(column, 1).configure(
            label_for_charts=SHARED_LABEL.format(noun=noun)
        ),
    ]
    if column == "emails":
        # "lolat86@bishop-gilels.com" for "lolat86@bishop-giles.com": typed twice, typos
        # differ. What namesakes' mailboxes differ by is no typo (`email_key_fields`):
        # digits ("stepanova73@", "stepanova79@"), separators ("k.kozlov@", "kkozlov@",
        # "e.rusova@" and "y.rusova@" typed "erusova@") or the provider ("@bk.ru",
        # "@ya.ru"). Counted as a typo, that likeness of two namesakes' addresses would
        # weigh again what their names already say.
        levels.append(
            cll.And(
                cll.DamerauLevenshteinLevel("email_key", 2),
                cll.ExactMatchLevel("email_key_digits"),
                cll.ExactMatchLevel("email_key_separators"),
                cll.CustomLevel("coalesce(email_key_provider_l = email_key_provider_r, true)"),
            ).configure(label_for_charts="First personal e-mails within two typos")
        )
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(output_column_name=column, comparison_levels=levels)


def city_comparison() -> cl.CustomComparison:
    """Cities: the same place (weighted by how common it is), or a close spelling.

    Known cities compare by GeoNames id ("geo:524901"); similar ids are not similar
    places, so the spelling level applies to names GeoNames did not know only.
    """
    unknown = "city_l not like 'geo:%' and city_r not like 'geo:%'"
    return cl.CustomComparison(
        output_column_name="city",
        comparison_levels=[
            cll.NullLevel("city"),
            cll.ExactMatchLevel("city").configure(tf_adjustment_column="city"),
            cll.And(cll.CustomLevel(unknown), cll.JaroWinklerLevel("city", 0.88)).configure(
                label_for_charts="City names spelled alike"
            ),
            cll.ElseLevel(),
        ],
    )


def company_comparison() -> cl.CustomComparison:
    """Company names (legal forms stripped), then company or corporate e-mail domain."""
    return cl.CustomComparison(
        output_column_name="company",
        comparison_levels=[
            cll.NullLevel("company_evidence"),
            cll.ExactMatchLevel("company").configure(tf_adjustment_column="company"),
            cll.JaroWinklerLevel("company", 0.9),
            cll.ArrayIntersectLevel("company_rare", 1).configure(
                label_for_charts="Company name or corporate e-mail domain in common"
            ),
            cll.ElseLevel(),
        ],
    )


def extra_comparison(name: str, field: ExtraFieldConfig) -> cl.Comparison:
    """The configured comparison of an extra field."""
    levels = field.levels
    comparison: cl.Comparison
    if field.comparison is ExtraComparison.EXACT:
        comparison = cl.ExactMatch(name)
    elif field.comparison is ExtraComparison.JARO_WINKLER:
        comparison = cl.JaroWinklerAtThresholds(name, list(levels))
    else:
        # Dates are compared as YYYYMMDD text: a one-digit typo or swapped digits are
        # near misses (Damerau-Levenshtein counts a transposition as one edit).
        comparison = cl.DamerauLevenshteinAtThresholds(name, [int(t) for t in levels])
    if field.term_frequency:
        comparison = comparison.configure(term_frequency_adjustments=True)
    return comparison


def contact_comparisons(config: MatchConfig) -> list[cl.Comparison]:
    """Every comparison of the model, extra fields last."""
    return [
        name_comparison(),
        patronymic_comparison(),
        identifier_comparison("phones", "phone"),
        identifier_comparison("emails", "e-mail"),
        company_comparison(),
        city_comparison(),
        *_extras(config.extra_fields),
    ]


def _extras(fields: Mapping[str, ExtraFieldConfig]) -> list[cl.Comparison]:
    return [extra_comparison(name, field) for name, field in fields.items()]
