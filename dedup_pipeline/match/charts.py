"""Splink's model charts as self-contained HTML pages that open without internet access.

Splink 5 charts are plain Vega-Lite specifications (``SplinkChart.chart_dict``); Altair is
not needed. Each page written here inlines the vega, vega-lite and vega-embed bundles that
Splink ships (`dedup_pipeline.vega`) and the chart's specification, so it loads no script
from a CDN, and a page depends only on the model: writing it twice gives the same bytes.
"""

from __future__ import annotations

import copy
import html
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker

from dedup_pipeline.vega import inline_scripts, script_json

__all__ = ["CHART_TITLES", "write_model_charts"]

#: Charts written by `write_model_charts`, by name (also the file stem), with page titles.
CHART_TITLES: dict[str, str] = {
    "match_weights_chart": "Match weights of the model",
    "m_u_parameters_chart": "m and u parameters of the model",
}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ font-family: sans-serif; margin: 1.5rem; }}
  #chart.vega-embed {{ width: 100%; display: flex; }}
</style>
{scripts}
</head>
<body>
<h1>{title}</h1>
<div id="chart"></div>
<script>
vegaEmbed("#chart", {spec}, {options}).catch(function (err) {{
  const output = document.getElementById("chart");
  output.textContent = "Javascript error: " + (err.message || err);
  output.style.color = "red";
  console.error(err);
}});
</script>
</body>
</html>
"""

# No editor link: it would open the Vega editor online.
_EMBED_OPTIONS = {"actions": {"export": True, "source": True, "compiled": False, "editor": False}}


def write_model_charts(model: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write the match-weights and m/u-parameters charts of a trained model as HTML.

    The charts are drawn from the model alone: the Linker that builds them sits on an
    empty in-memory DuckDB table, so neither the original data nor any file outside
    `directory` is read or written.

    Parameters
    ----------
    model
        A trained Splink model as a JSON-ready dict, as returned by
        ``linker.misc.save_model_to_json()``. It is not modified.
    directory
        Where the pages go; created if missing. Existing pages of the same names are
        overwritten.

    Returns
    -------
    dict[str, Path]
        Path of each page by chart name (the keys of `CHART_TITLES`), e.g.
        ``{"match_weights_chart": directory / "match_weights_chart.html", ...}``.

    Raises
    ------
    FileNotFoundError
        When the installed Splink does not ship one of the JavaScript bundles.
    """
    specs = _chart_specs(model)
    scripts = inline_scripts()
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, title in CHART_TITLES.items():
        page = _PAGE.format(
            title=html.escape(title),
            scripts=scripts,
            spec=script_json(specs[name]),
            options=script_json(_EMBED_OPTIONS),
        )
        path = directory / f"{name}.html"
        path.write_text(page, encoding="utf-8")
        written[name] = path
    return written


def _chart_specs(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Vega-Lite specifications of the charts, keyed as `CHART_TITLES`."""
    settings = copy.deepcopy(model)
    unique_id = settings.get("unique_id_column_name", "unique_id")
    with duckdb.connect() as connection:
        db_api = DuckDBAPI(connection)
        # The charts read the model's parameters only, so the input table can be empty and
        # need not hold the compared columns (hence no settings validation against it).
        empty = pa.table({unique_id: pa.array([], type=pa.string())})
        dedupe_only = settings.get("link_type", "dedupe_only") == "dedupe_only"
        inputs = [
            db_api.register(empty, table_name=f"__model_charts_input_{index}")
            for index in range(1 if dedupe_only else 2)
        ]
        linker = Linker(
            inputs[0] if len(inputs) == 1 else inputs,
            settings,
            log_level=None,
            validate_settings=False,
        )
        charts = {
            "match_weights_chart": linker.visualisations.match_weights_chart(),
            "m_u_parameters_chart": linker.visualisations.m_u_parameters_chart(),
        }
        specs = {name: chart.chart_dict for name, chart in charts.items()}
    for spec in specs.values():
        # The defaults Splink's own HTML export applies.
        view = spec.setdefault("config", {}).setdefault("view", {})
        view.setdefault("continuousWidth", 300)
        view.setdefault("continuousHeight", 300)
    return specs
