"""Train the default model shipped in ``dedup_pipeline/match/default_model.json``.

    python scripts/train_default_model.py

The model a run falls back on when its base is too small to train on, and where EM never
saw a level (see `dedup_pipeline.match.training`). It is trained with the truth: records
of the benchmark generator (`dedup_pipeline.samples.benchmark`), one export per setting
of the accuracy matrix with its own seed, read, normalised and prepared by the pipeline's
own stages. m comes from the true matches (Splink's ``estimate_m_from_label_column``), u
from random pairs and, for identifier levels, from the values' frequencies; the prior is
the true rate of matching pairs. A level no true match falls in gets m equal to its u
(it weighs nothing). The seeds, settings and counts are written beside the model to
``docs/default_model.md``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import duckdb
import polars as pl
from splink import DuckDBAPI, Linker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dedup_pipeline.config import MatchConfig, SourceConfig  # noqa: E402
from dedup_pipeline.match.model import build_settings, u_among_non_matches  # noqa: E402
from dedup_pipeline.match.prepare import prepare_match_input  # noqa: E402
from dedup_pipeline.match.training import (  # noqa: E402
    M_FLOOR,
    TrainingReport,
    untrained_levels,
    with_counted_u,
    with_floored_m,
)
from dedup_pipeline.normalize import normalize_contacts  # noqa: E402
from dedup_pipeline.samples.benchmark import (  # noqa: E402
    TRUTH_COLUMN,
    generate_benchmark,
    matrix_settings,
)
from dedup_pipeline.sources.read import read_source  # noqa: E402

MODEL = ROOT / "dedup_pipeline" / "match" / "default_model.json"
NOTE = ROOT / "docs" / "default_model.md"
#: First seed of the training data (one seed per export from here): the accuracy matrix
#: uses seeds 1 and 2, so the default model never scores its own training data.
FIRST_SEED = 101


def _records(directory: Path, clients: int) -> tuple[pl.DataFrame, list[dict]]:
    frames, cells = [], []
    for index, cell in enumerate(matrix_settings(clients, seeds=(1,))):
        # Each export its own seed: the same seed would give other people the same phones.
        settings = replace(cell, seed=FIRST_SEED + index)
        path = generate_benchmark(directory / f"cell{index}", settings)
        source = SourceConfig.model_validate(
            {
                "name": f"cell{index}",
                "path": str(path),
                "default_region": "RU",
                "timestamp_formats": ["%Y-%m-%d %H:%M:%S"],
                "columns": {
                    "source_record_id": "record_id",
                    "full_name": "full_name",
                    "phones": "phone",
                    "emails": "email",
                    "company": "company",
                    "city": "city",
                    "created_at": "created_at",
                },
            }
        )
        records = read_source(source).records
        frames.append(records)
        cells.append({**asdict(settings), "label": cell.label(), "records": records.height})
    return pl.concat(frames), cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2400, help="Clients per setting.")
    args = parser.parse_args(argv)
    logging.getLogger("splink").setLevel(logging.WARNING)
    config = MatchConfig()
    with tempfile.TemporaryDirectory() as tmp:
        records, cells = _records(Path(tmp), args.clients)
    contacts = normalize_contacts(records).contacts
    match_input, _ = prepare_match_input(contacts, max_block_size=config.max_block_size)
    truth = contacts.select(
        "record_id",
        pl.concat_str(
            "source",
            pl.col("attributes").str.json_path_match(f"$.{TRUTH_COLUMN}"),
            separator="/",
        ).alias("truth"),
    )
    labelled = match_input.join(truth, on="record_id")
    n = labelled.height
    true_pairs = int(
        labelled.group_by("truth")
        .len()
        .select((pl.col("len") * (pl.col("len") - 1) // 2).sum())
        .item()
    )
    prior = true_pairs / (n * (n - 1) / 2)

    connection = duckdb.connect()
    connection.execute("set threads = 2")
    table = DuckDBAPI(connection).register(labelled.to_arrow(), table_name="default_training")
    settings = build_settings(config).create_settings_dict("duckdb")
    settings["probability_two_random_records_match"] = prior
    linker = Linker(table, settings, log_level=None)
    linker.training.estimate_u_using_random_sampling(max_pairs=config.max_pairs_for_u, seed=1)
    report = TrainingReport()
    model = with_counted_u(
        linker.misc.save_model_to_json(), match_input, config.max_pairs_for_u, report
    )
    linker = Linker(table, model, log_level=None)
    linker.training.estimate_m_from_label_column("truth")
    model = copy.deepcopy(linker.misc.save_model_to_json())
    unseen = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level") and level.get("m_probability") is None:
                level["m_probability"] = level["u_probability"]
                unseen.append(f"{comparison['output_column_name']}: {level['label_for_charts']}")
    model = with_floored_m(model, None, report)
    # Kept at "weighs nothing" after the floor and the normalisation.
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            label = f"{comparison['output_column_name']}: {level.get('label_for_charts')}"
            if label in unseen:
                level["m_probability"] = level["u_probability"]
    missing = untrained_levels(model)
    if missing:
        raise SystemExit(f"untrained levels: {missing}")
    model["probability_two_random_records_match"] = prior
    # Stored as a run scores with it: u among non-matches of this base (a cold start does
    # not correct them again with its own prior).
    model = u_among_non_matches(model)
    MODEL.write_text(json.dumps(model, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    lines = [
        "# The default model",
        "",
        "`dedup_pipeline/match/default_model.json` is the Splink model a run uses when its",
        "base is too small to train on (`match.default_model: auto`, fewer than",
        "`COLD_START_RECORDS` records or no training rule with enough pairs), and the source of",
        "m for any level EM did not see on a run's data. It is written by",
        "`python scripts/train_default_model.py` and must be trained again whenever the",
        "comparisons change (a test checks that it fits them).",
        "",
        "## How it was trained",
        "",
        f"- data: the benchmark generator, {len(cells)} exports (one per setting of the accuracy",
        f"  matrix, seeds {FIRST_SEED} to {FIRST_SEED + len(cells) - 1}: the matrix itself uses",
        "  seeds 1 and 2),",
        f"  {n:,} records, {true_pairs:,} true matching pairs;",
        "- the records go through the pipeline's own reading, normalisation and preparation;",
        "- m: from the true matches (`estimate_m_from_label_column`), then kept at or above",
        f"  {M_FLOOR} per level;",
        "- u: random pairs, identifier levels counted over all pairs "
        "(`dedup_pipeline.match.training.identifier_u`);",
        f"- prior: the true share of matching pairs, {prior:.3g} (a run replaces it with its",
        "  own estimate).",
        "",
        "Levels no true match fell in (m set to u, so they weigh nothing):",
        "",
        *([f"- {level}" for level in unseen] or ["- none"]),
        "",
        "## Settings of the training exports",
        "",
        "| setting | seed | clients | records |",
        "|---|---|---|---|",
        *(
            f"| {cell['label']} | {cell['seed']} | {cell['clients']:,} | {cell['records']:,} |"
            for cell in cells
        ),
        "",
        "It is a starting point, not a model of anyone's CRM: a base large enough to train on",
        "is matched with its own model.",
        "",
    ]
    NOTE.write_text("\n".join(lines), encoding="utf-8")
    print(f"written: {MODEL} ({n:,} records, prior {prior:.3g}); {NOTE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
