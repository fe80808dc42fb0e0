"""A plain Splink 5 model of a mixed contact export: the baseline lead-dedup must beat.

What a data engineer writes in an afternoon, and nothing more: E.164 phones, lower-cased
e-mails, transliterated name tokens, company without legal form, four blocking rules, term
frequencies on phone and e-mail, EM. The accuracy benchmark runs it on the same records as
lead-dedup and reports both.

    python benchmarks/plain_splink.py data/benchmark/contacts.csv --truth truth_client_id
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import phonenumbers
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dedup_pipeline.evaluate import pairwise_scores  # noqa: E402

__all__ = ["PlainSplinkResult", "plain_splink"]

# Its own romanisation, on purpose: the baseline shares no code with lead-dedup.
_LATIN = {

    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
}  # fmt: skip
_LEGAL = r"\b(ооо|оао|зао|пао|ао|ип|llc|ltd|inc|jsc)\b"


def _translit(text: pl.Expr) -> pl.Expr:
    return text.str.to_lowercase().str.replace_many(_LATIN)


def _e164(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, "RU")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def prepare(frame: pl.DataFrame) -> pl.DataFrame:
    """The baseline's clean-up of a ``record_id, full_name, phone, email, company, city``
    export."""
    phones = frame.get_column("phone").unique().drop_nulls()
    lookup = pl.DataFrame({"phone": phones, "phone_e164": [_e164(p) for p in phones.to_list()]})
    tokens = _translit(pl.col("full_name")).str.replace_all(r"[^a-z ]", " ").str.split(" ")
    return (
        frame.join(lookup, on="phone", how="left")
        .select(
            pl.col("record_id").alias("unique_id"),
            pl.col("phone_e164").alias("phone"),
            pl.col("email").str.to_lowercase().str.strip_chars().alias("email"),
            tokens.list.eval(pl.element().filter(pl.element().str.len_chars() > 1))
            .list.sort()
            .alias("name_tokens"),
            _translit(pl.col("company"))
            .str.replace_all(_LEGAL, "")
            .str.replace_all(r"[^a-z0-9]", "")
            .alias("company"),
            _translit(pl.col("city")).str.replace_all(r"[^a-z]", "").alias("city"),
        )
        .with_columns(
            name_key=pl.col("name_tokens").list.join(" "),
            first_token=pl.col("name_tokens").list.first(),
        )
        .with_columns(
            pl.when(pl.col(c) != "").then(pl.col(c)).alias(c)
            for c in ("company", "city", "name_key")
        )
    )


def settings() -> SettingsCreator:
    """The baseline model."""
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.CustomComparison(
                output_column_name="name_tokens",
                comparison_levels=[
                    cll.NullLevel("name_key"),
                    cll.ExactMatchLevel("name_key"),
                    cll.ArrayIntersectLevel("name_tokens", 2),
                    cll.ArrayIntersectLevel("name_tokens", 1),
                    cll.ElseLevel(),
                ],
            ),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.ExactMatch("email").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("company", [0.9]),
            cl.ExactMatch("city"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("phone"),
            block_on("email"),
            block_on("name_key"),
            block_on("first_token", "city"),
        ],
        retain_intermediate_calculation_columns=False,
    )


@dataclass(frozen=True)
class PlainSplinkResult:
    """Scored pairs of the baseline (``unique_id_l``, ``unique_id_r``, ``match_probability``)."""

    pairs: pl.DataFrame
    records: pl.DataFrame

    def clusters(self, threshold: float) -> pl.DataFrame:
        """``record_id``, ``cluster_id`` at a match-probability threshold."""
        from dedup_pipeline.graph import connected_components_of

        kept = self.pairs.filter(pl.col("match_probability") >= threshold)
        components = connected_components_of(kept["unique_id_l"], kept["unique_id_r"])
        return (
            self.records.select(record_id="unique_id")
            .join(
                components.select(record_id="node", cluster_id="component"),
                on="record_id",
                how="left",
            )
            .with_columns(pl.coalesce("cluster_id", "record_id").alias("cluster_id"))
        )


def plain_splink(export: pl.DataFrame, *, memory_limit: str = "4GB") -> PlainSplinkResult:
    """Train the baseline on ``export`` and score its candidate pairs."""
    records = prepare(export)
    connection = duckdb.connect()
    connection.execute(f"set memory_limit = '{memory_limit}'; set threads = 2")
    db_api = DuckDBAPI(connection)
    table = db_api.register(records.to_arrow(), table_name="plain_records")
    linker = Linker(table, settings())
    deterministic = ["l.phone = r.phone", "l.email = r.email"]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=5_000_000, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name_key"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone"))
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    pairs = pl.from_arrow(
        predictions.as_pyarrow_table().select(["unique_id_l", "unique_id_r", "match_probability"])
    )
    connection.close()
    return PlainSplinkResult(pairs=pairs, records=records)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("--truth", default="truth_client_id")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.9, 0.99, 0.999])
    args = parser.parse_args(argv)
    logging.getLogger("splink").setLevel(logging.ERROR)
    export = pl.read_csv(args.export, infer_schema=False)
    result = plain_splink(export)
    truth = export.select("record_id", entity_id=args.truth)
    for threshold in args.thresholds:
        scores = pairwise_scores(result.clusters(threshold), truth)
        print(
            f"threshold {threshold}: P {scores.precision:.4f} R {scores.recall:.4f} "
            f"F1 {scores.f1:.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
