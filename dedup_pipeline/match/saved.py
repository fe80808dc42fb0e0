"""The trained model of a run: read a saved one for reuse, save it with its charts.

Every run's output holds the model that scored it (``splink_model.json``, trained on the
run's data or copied from the reused file) and Splink's match-weights and m/u charts of
that model as self-contained HTML pages next to it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from dedup_pipeline.config import MatchConfig, read_model_file
from dedup_pipeline.match.charts import write_model_charts
from dedup_pipeline.match.model import build_settings, check_model_compatible

__all__ = ["MODEL_FILE", "load_model", "save_model"]

#: File name of the model in a run's output directory.
MODEL_FILE = "splink_model.json"


def load_model(path: Path, config: MatchConfig) -> dict[str, Any]:
    """Read a saved model and check that it fits the configuration.

    Parameters
    ----------
    path
        A ``splink_model.json`` written by an earlier run.
    config
        The matching options of the current run.

    Raises
    ------
    ConfigError
        When the file is missing or not a Splink model.
    IncompatibleModelError
        When the model compares other fields than `config` (the message says to retrain).
    """
    model = read_model_file(path)
    check_model_compatible(model, config, source=str(path))
    # Which record columns a scored pair carries is this version's business, not the
    # model's: a model saved by an earlier one scores with the columns this one reads.
    settings = build_settings(config).create_settings_dict("duckdb")
    model["additional_columns_to_retain"] = settings["additional_columns_to_retain"]
    return model


def save_model(
    model: dict[str, Any], directory: Path, *, reused_from: Path | None = None
) -> dict[str, Path]:
    """Write the model and its match-weights and m/u charts into a run's output.

    Parameters
    ----------
    model
        The model that scored the run.
    directory
        The run's output directory; created if missing.
    reused_from
        The file the model was read from when it was reused: it is copied as it is.

    Returns
    -------
    dict[str, Path]
        Each written file by its name: ``splink_model.json``,
        ``match_weights_chart.html`` and ``m_u_parameters_chart.html``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / MODEL_FILE
    if reused_from is None:
        target.write_text(json.dumps(model, indent=2), encoding="utf-8")
    elif not (target.exists() and target.samefile(reused_from)):
        shutil.copyfile(reused_from, target)
    charts = write_model_charts(model, directory)
    return {MODEL_FILE: target, **{path.name: path for path in charts.values()}}
