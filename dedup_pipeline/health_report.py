"""The data-health report: one self-contained HTML page per run, with tables and charts.

The page holds everything it shows: inline CSS, the vega, vega-lite and vega-embed bundles
that Splink ships (`dedup_pipeline.vega`) and one Vega-Lite specification per chart. It
fetches nothing (its Content-Security-Policy forbids it), so it opens offline from a file
or an e-mail attachment. Every figure is also in an HTML table. The page depends only on
its arguments: the same `DataHealth` and options give the same bytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from dedup_pipeline.health import HEALTH_FIELDS, DataHealth
from dedup_pipeline.vega import inline_scripts, script_json

__all__ = ["render_health_report", "write_health_report"]

#: How the contact fields are named on the page.
FIELD_LABELS: dict[str, str] = {
    "first_name": "first name",
    "last_name": "last name",
    "full_name": "full name",
    "middle_name": "middle name",
    "company": "company",
    "city": "city",
    "phones": "phone",
    "emails": "e-mail",
}

#: Outcomes in the order they are listed, with their names on the page; any other
#: outcome follows, by code.
OUTCOME_LABELS: dict[str, str] = {
    "auto_merge": "auto-merged",
    "approved": "approved by a reviewer",
    "review": "unmerged, in a review proposal",
    "keep_apart": "kept apart",
    "flagged": "flagged",
    "unique": "unique",
}

#: Flag reasons by code; any other reason is shown as its code.
FLAG_REASON_LABELS: dict[str, str] = {
    "blacklisted_phone": "blacklisted phone",
    "blacklisted_email": "blacklisted e-mail",
    "blacklisted_domain": "blacklisted domain",
    "blacklisted_source": "blacklisted source",
    "junk": "junk",
}

_ALL = "all"
_ALL_LABEL = "all sources"
_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif'
_NONE = "\N{EN DASH}"
#: Sizes up to this many records per client get a bar each; larger ones share a bin.
_SINGLE_SIZES = 10
_SIZE_BINS = (20, 50, 100, 200, 500, 1000, 10_000)
#: A log scale for client counts when the largest bar is this many times the smallest.
_LOG_RATIO = 100
_COLORS = {"primary": "#4c78a8", "second": "#f58518"}

_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:"
)

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1f2328; font-family: FONT;
  font-size: 14px; line-height: 1.45; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 40px; }
header h1 { font-size: 26px; margin: 0 0 4px; }
.meta { color: #57606a; margin: 0; }
.meta span + span::before { content: " \\00b7  "; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px;
  margin: 20px 0 8px; }
.card { background: #fff; border: 1px solid #d8dee4; border-radius: 8px;
  padding: 12px 16px; }
.card .label { color: #57606a; font-size: 13px; }
.card .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .note { color: #6e7781; font-size: 12px; }
section { background: #fff; border: 1px solid #d8dee4; border-radius: 8px;
  padding: 18px 22px 20px; margin: 16px 0; }
h2 { font-size: 19px; margin: 0 0 4px; }
h3 { font-size: 15px; margin: 0 0 6px; }
p.lead { color: #57606a; margin: 0 0 14px; }
.grid2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 28px; }
.chart { min-height: 40px; overflow-x: auto; margin: 0 0 10px; }
.chart-error { color: #b42318; white-space: pre-wrap; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 0; }
th, td { padding: 5px 12px 5px 0; border-bottom: 1px solid #eaeef2; text-align: left;
  vertical-align: top; }
th { color: #57606a; font-weight: 600; border-bottom: 1px solid #d0d7de; }
.num { text-align: right; font-variant-numeric: tabular-nums; padding-left: 12px; }
tr.total td { font-weight: 600; border-top: 1px solid #afb8c1; }
td.reason { max-width: 420px; overflow-wrap: anywhere; }
.none { color: #57606a; font-style: italic; margin: 4px 0 0; }
.more { color: #6e7781; font-size: 12px; margin: 6px 0 0; }
details { margin: 6px 0 0; }
summary { color: #57606a; cursor: pointer; }
footer { color: #6e7781; font-size: 12px; margin: 20px 0 0; }
@media (max-width: 900px) {
  .grid2 { grid-template-columns: minmax(0, 1fr); }
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
@media print {
  body { background: #fff; }
  section, .card { break-inside: avoid; }
  .vega-actions { display: none; }
}
""".replace("FONT", _FONT)

_EMBED_OPTIONS = {
    "renderer": "svg",
    # Saving a chart as SVG or PNG works offline; the editor link would open a web site.
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}

_EMBED_SCRIPT = """<script>
(function () {
  var charts = CHARTS;
  var options = OPTIONS;
  charts.forEach(function (chart) {
    var id = chart[0];
    vegaEmbed("#" + id, chart[1], options).catch(function (err) {
      var output = document.getElementById(id);
      output.textContent = "This chart could not be drawn: " + (err.message || err);
      output.className += " chart-error";
      console.error(err);
    });
  });
})();
</script>"""


@dataclass(frozen=True)
class _Chart:
    """One chart: its container's id, what it shows (for screen readers), its spec."""

    id: str
    label: str
    spec: dict[str, Any]


def write_health_report(
    health: DataHealth,
    path: Path,
    *,
    title: str,
    generated_at: datetime,
    run_mode: str | None = None,
    run_id: str | None = None,
    top: int = 10,
) -> Path:
    """Write a run's data health as one self-contained HTML page.

    The page shows the headline figures (rows read, records, quarantined and flagged
    records, clients, duplicate share, invalid phone and e-mail shares), a table per
    source, and charts: field completeness per source, invalid values and duplicate share
    per source, records per client, outcomes, and the most frequent quarantine and flag
    reasons. It loads nothing from the network and renders offline.

    Parameters
    ----------
    health
        The run's measures, as `dedup_pipeline.health.data_health` returns them.
    path
        The HTML file to write (its directory is created if missing); overwritten if it
        exists.
    title
        The page's title and heading.
    generated_at
        When the run happened, shown under the heading (the page shows the time as
        given, with its zone name when it has one).
    run_mode
        The run's mode (``full`` or ``incremental``), shown under the heading if given.
    run_id
        The run's id, shown under the heading if given.
    top
        How many quarantine and flag reasons the charts and tables list.

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    ValueError
        When `top` is less than 1.
    FileNotFoundError
        When the installed Splink does not ship one of the JavaScript bundles.
    """
    page = render_health_report(
        health, title=title, generated_at=generated_at, run_mode=run_mode, run_id=run_id, top=top
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(page.encode("utf-8"))
    return path


def render_health_report(
    health: DataHealth,
    *,
    title: str,
    generated_at: datetime,
    run_mode: str | None = None,
    run_id: str | None = None,
    top: int = 10,
) -> str:
    """The page `write_health_report` writes, as a string (same parameters)."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    charts: list[_Chart] = []
    sources = health.per_source.filter(pl.col("source") != _ALL)
    overall_rows = health.per_source.filter(pl.col("source") == _ALL)
    overall = overall_rows.row(0, named=True) if overall_rows.height else {}
    fields = [f for f in HEALTH_FIELDS if f"{f}_filled" in health.per_source.columns]

    body = [
        _header(title, generated_at, run_mode, run_id),
        _cards(overall, health),
        _sources_section(health.per_source),
        _completeness_section(health.per_source, fields, charts),
        _validity_section(health.per_source, charts),
        _clients_section(health, charts),
        _reasons_section(
            health.quarantine_reasons,
            count="rows",
            heading="Quarantined rows",
            lead="Input rows that could not be read as records, by reason.",
            none="No row was quarantined.",
            chart_id="chart-quarantine-reasons",
            labels={},
            top=top,
            sources=sources.get_column("source").to_list(),
            charts=charts,
        ),
        _reasons_section(
            health.flag_reasons,
            count="records",
            heading="Flagged records",
            lead=(
                "Records kept out of merges because they are blacklisted or junk, by "
                "reason (a record flagged for two reasons counts under each)."
            ),
            none="No record was flagged.",
            chart_id="chart-flag-reasons",
            labels=FLAG_REASON_LABELS,
            top=top,
            sources=sources.get_column("source").to_list(),
            charts=charts,
        ),
        "<footer>Written by lead-dedup. This page is self-contained: it loads nothing "
        "from the network. Shares of phones and e-mails count the values written; "
        "other shares count records.</footer>",
    ]
    embed = _EMBED_SCRIPT.replace(
        "CHARTS", script_json([[chart.id, chart.spec] for chart in charts])
    ).replace("OPTIONS", script_json(_EMBED_OPTIONS))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            inline_scripts(),
            "</head>",
            "<body>",
            "<main>",
            "<noscript><p>The charts need JavaScript; the tables hold the same "
            "figures.</p></noscript>",
            *body,
            "</main>",
            embed,
            "</body>",
            "</html>",
            "",
        ]
    )


# ---------------------------------------------------------------- formatting


def _e(value: object) -> str:
    """`value` as HTML text."""
    return html.escape(str(value), quote=True)


def _count(value: int | float | None) -> str:
    return _NONE if value is None else f"{int(value):,}"


def _share(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _NONE
    return f"{value * 100:.{digits}f}%"


def _source_label(source: str) -> str:
    return _ALL_LABEL if source == _ALL else source


def _outcome_order(outcomes: Iterable[str]) -> list[str]:
    known = [outcome for outcome in OUTCOME_LABELS if outcome in outcomes]
    return known + sorted(set(outcomes) - set(OUTCOME_LABELS))


def _table(
    headers: Sequence[tuple[str, bool]],
    rows: Iterable[Sequence[str]],
    *,
    total: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; ``headers`` are ``(text, numeric)``, cells are already escaped."""
    numeric = [is_number for _, is_number in headers]
    column_classes = list(classes) if classes else ["num" if n else "" for n in numeric]

    def cells(row: Sequence[str], tag: str) -> str:
        return "".join(
            f'<{tag} class="{css}">{cell}</{tag}>' if css else f"<{tag}>{cell}</{tag}>"
            for cell, css in zip(row, column_classes, strict=True)
        )

    head = cells([_e(text) for text, _ in headers], "th")
    lines = ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    lines += [f"<tr>{cells(row, 'td')}</tr>" for row in rows]
    if total is not None:
        lines.append(f'<tr class="total">{cells(total, "td")}</tr>')
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _chart_div(chart: _Chart) -> str:
    return (
        f'<div class="chart" id="{_e(chart.id)}" role="img" aria-label="{_e(chart.label)}"></div>'
    )


def _none(text: str) -> str:
    return f'<p class="none">{_e(text)}</p>'


# ---------------------------------------------------------------- Vega-Lite


def _config() -> dict[str, Any]:
    axis = {
        "labelFontSize": 12,
        "titleFontSize": 12,
        "titleFontWeight": "normal",
        "labelColor": "#1f2328",
        "titleColor": "#57606a",
        "gridColor": "#eaeef2",
        "domainColor": "#afb8c1",
        "tickColor": "#afb8c1",
    }
    return {
        "font": _FONT,
        "view": {"stroke": None},
        "axis": axis,
        "legend": {"labelFontSize": 12, "titleFontSize": 12, "titleFontWeight": "normal"},
        "bar": {"color": _COLORS["primary"]},
        "text": {"fontSize": 11, "color": "#1f2328"},
    }


def _count_axis(largest: int) -> dict[str, Any]:
    """Axis of a count: whole numbers only (no tick at 0.5 when the largest count is 1)."""
    return {"format": ",d", "tickCount": max(1, min(5, largest))}


def _spec(values: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": values},
        **spec,
        "config": _config(),
    }


def _bar_with_labels(
    values: list[dict[str, Any]],
    *,
    category: str,
    category_title: str,
    measure: str,
    measure_title: str,
    share: bool,
    horizontal: bool = False,
    order: list[str] | None = None,
    log: bool = False,
) -> dict[str, Any]:
    """Bars with their value written at the end of each one."""
    value_format = ".1%" if share else ","
    category_axis = {"field": category, "type": "nominal", "title": category_title}
    category_axis["sort"] = order if order is not None else None
    largest = max((int(v[measure]) for v in values), default=1) if not share else 1
    measure_axis: dict[str, Any] = {
        "field": measure,
        "type": "quantitative",
        "title": measure_title,
        "axis": {"format": ".0%"} if share else _count_axis(largest),
    }
    if share:
        measure_axis["scale"] = {"domain": [0, 1]}
    if log:
        # Symlog, not log: a bar starts at 0, which a log scale cannot place.
        measure_axis["scale"] = {"type": "symlog"}
        powers = [10**k for k in range(len(str(largest))) if 10**k <= largest]
        measure_axis["axis"] = {"format": ",d", "values": powers}
    # The bar of all sources together, if any, in grey: it is the reference, not a source.
    bar_color = {
        "condition": {"test": "datum.overall === true", "value": "#8c959f"},
        "value": _COLORS["primary"],
    }
    tooltip = [
        {"field": category, "type": "nominal", "title": category_title},
        {"field": measure, "type": "quantitative", "title": measure_title, "format": value_format},
    ]
    if horizontal:
        encoding = {"y": {**category_axis, "axis": {"labelLimit": 160}}, "x": measure_axis}
        text = {"align": "left", "baseline": "middle", "dx": 3}
        size = {"width": 300, "height": {"step": 26}}
    else:
        # Slanted labels when the bars get narrow.
        angle = 0 if len(values) <= 8 else -40
        encoding = {"x": {**category_axis, "axis": {"labelAngle": angle}}, "y": measure_axis}
        text = {"align": "center", "baseline": "bottom", "dy": -3}
        if angle:
            text["fontSize"] = 9
        size = {"width": min(400, 56 * len(values)), "height": 220}
    return _spec(
        values,
        **size,
        encoding={**encoding, "tooltip": tooltip},
        layer=[
            {"mark": {"type": "bar", "cornerRadiusEnd": 2}, "encoding": {"color": bar_color}},
            {
                "mark": {"type": "text", **text},
                "encoding": {"text": {"field": measure, "format": value_format}},
            },
        ],
    )


def _paired_bar_layers(
    series: str, names: tuple[str, str], value: str, value_format: str
) -> list[dict[str, Any]]:
    """Two bars per category (``series`` is one of ``names``), each labelled at its end."""
    return [
        {
            "mark": {"type": "bar", "cornerRadiusEnd": 2},
            "encoding": {
                "color": {
                    "field": series,
                    "type": "nominal",
                    "title": None,
                    "sort": list(names),
                    "scale": {
                        "domain": list(names),
                        "range": [_COLORS["primary"], _COLORS["second"]],
                    },
                    "legend": {"orient": "top"},
                }
            },
        },
        {
            "mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 3},
            "encoding": {"text": {"field": value, "format": value_format}},
        },
    ]


# ---------------------------------------------------------------- sections


def _header(title: str, generated_at: datetime, run_mode: str | None, run_id: str | None) -> str:
    stamp = generated_at.strftime("%Y-%m-%d %H:%M:%S")
    zone = generated_at.tzname()
    meta = [f"Generated {stamp}{' ' + zone if zone else ''}"]
    if run_mode is not None:
        meta.append(f"mode: {run_mode}")
    if run_id is not None:
        meta.append(f"run {run_id}")
    spans = "".join(f"<span>{_e(item)}</span>" for item in meta)
    return f'<header>\n<h1>{_e(title)}</h1>\n<p class="meta">{spans}</p>\n</header>'


def _cards(overall: dict[str, Any], health: DataHealth) -> str:
    clients = int(health.cluster_sizes.get_column("clients").sum())
    rows = overall.get("rows")
    records = overall.get("records")
    quarantined = overall.get("quarantined")
    flagged = overall.get("flagged")

    def of(part: int | None, whole: int | None, what: str) -> str:
        return f"{_share(part / whole)} of {what}" if part is not None and whole else ""

    cards = [
        ("Rows read", _count(rows), "from every source"),
        ("Records", _count(records), of(records, rows, "rows read")),
        ("Quarantined rows", _count(quarantined), of(quarantined, rows, "rows read")),
        ("Flagged records", _count(flagged), "blacklisted or junk"),
        (
            "Clients",
            _count(clients),
            f"{records / clients:.2f} records per client" if clients and records else "",
        ),
        ("Duplicate share", _share(overall.get("duplicate_share")), "records sharing a client"),
        (
            "Invalid phones",
            _share(overall.get("invalid_phone_share")),
            "of the phone numbers written",
        ),
        (
            "Invalid e-mails",
            _share(overall.get("invalid_email_share")),
            "of the e-mail addresses written",
        ),
    ]
    items = "\n".join(
        f'<div class="card"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="note">{_e(note)}</div></div>'
        for label, value, note in cards
    )
    return f'<div class="cards">\n{items}\n</div>'


def _sources_section(per_source: pl.DataFrame) -> str:
    headers = [
        ("source", False),
        ("rows read", True),
        ("records", True),
        ("quarantined", True),
        ("flagged", True),
        ("duplicate share", True),
        ("invalid phones", True),
        ("invalid e-mails", True),
    ]

    def row(values: dict[str, Any]) -> list[str]:
        return [
            _e(_source_label(values["source"])),
            *(_e(_count(values.get(c))) for c in ("rows", "records", "quarantined", "flagged")),
            *(
                _e(_share(values.get(c)))
                for c in ("duplicate_share", "invalid_phone_share", "invalid_email_share")
            ),
        ]

    rows = [row(values) for values in per_source.iter_rows(named=True) if values["source"] != _ALL]
    overall = [row(v) for v in per_source.iter_rows(named=True) if v["source"] == _ALL]
    table = _table(headers, rows, total=overall[0] if overall else None)
    return (
        '<section id="sources">\n<h2>Sources</h2>\n'
        '<p class="lead">Rows read from each export, the records they became, and how '
        "clean and how duplicated those records are.</p>\n"
        f"{table}\n</section>"
    )


def _completeness_section(per_source: pl.DataFrame, fields: list[str], charts: list[_Chart]) -> str:
    if not fields or per_source.is_empty():
        return ""
    values = [
        {
            "source": _source_label(row["source"]),
            "field": FIELD_LABELS.get(field, field),
            "filled": row[f"{field}_filled"],
        }
        for row in per_source.iter_rows(named=True)
        for field in fields
    ]
    source_order = [_source_label(s) for s in per_source.get_column("source")]
    field_order = [FIELD_LABELS.get(field, field) for field in fields]
    position = {
        "x": {
            "field": "field",
            "type": "nominal",
            "title": None,
            "sort": field_order,
            "axis": {"orient": "top", "labelAngle": 0, "domain": False, "ticks": False},
        },
        "y": {
            "field": "source",
            "type": "nominal",
            "title": None,
            "sort": source_order,
            "axis": {"domain": False, "ticks": False, "labelFontWeight": "normal"},
        },
    }
    spec = _spec(
        values,
        width={"step": 96},
        height={"step": 34},
        encoding={
            **position,
            "tooltip": [
                {"field": "source", "type": "nominal"},
                {"field": "field", "type": "nominal"},
                {"field": "filled", "type": "quantitative", "format": ".1%", "title": "filled"},
            ],
        },
        layer=[
            {
                "mark": {"type": "rect", "stroke": "#fff", "strokeWidth": 2},
                "encoding": {
                    "color": {
                        "field": "filled",
                        "type": "quantitative",
                        "title": "filled",
                        "scale": {"domain": [0, 1], "scheme": "blues"},
                        "legend": {"format": ".0%", "gradientLength": 120},
                    }
                },
            },
            {
                "mark": {"type": "text", "fontSize": 12},
                "encoding": {
                    "text": {"field": "filled", "type": "quantitative", "format": ".0%"},
                    "color": {
                        "condition": {"test": "datum.filled > 0.55", "value": "#ffffff"},
                        "value": "#1f2328",
                    },
                },
            },
        ],
    )
    chart = _Chart(
        "chart-completeness", "Share of records with a value, per source and field", spec
    )
    charts.append(chart)
    headers = [("source", False), *((FIELD_LABELS.get(f, f), True) for f in fields)]
    rows = [
        [_e(_source_label(row["source"])), *(_e(_share(row[f"{f}_filled"])) for f in fields)]
        for row in per_source.iter_rows(named=True)
    ]
    return (
        '<section id="completeness">\n<h2>Field completeness</h2>\n'
        '<p class="lead">Share of records with a value in each field (phones and e-mails: '
        "at least one written, valid or not).</p>\n"
        f"{_chart_div(chart)}\n"
        f"<details><summary>As a table</summary>\n{_table(headers, rows)}\n</details>\n"
        "</section>"
    )


def _validity_section(per_source: pl.DataFrame, charts: list[_Chart]) -> str:
    if per_source.is_empty():
        return ""
    source_order = [_source_label(s) for s in per_source.get_column("source")]
    invalid = [
        {"source": _source_label(row["source"]), "value": kind, "share": row[column]}
        for row in per_source.iter_rows(named=True)
        for kind, column in (("phone", "invalid_phone_share"), ("e-mail", "invalid_email_share"))
        if row.get(column) is not None
    ]
    parts = [
        '<section id="validity">\n<h2>Invalid values and duplicates</h2>',
        '<div class="grid2">',
    ]
    parts.append("<div>\n<h3>Invalid phones and e-mails</h3>")
    if invalid:
        spec = _spec(
            invalid,
            width=300,
            height={"step": 15},
            encoding={
                "y": {
                    "field": "source",
                    "type": "nominal",
                    "title": None,
                    "sort": source_order,
                    "axis": {"labelLimit": 160},
                },
                "yOffset": {"field": "value", "type": "nominal", "sort": ["phone", "e-mail"]},
                "x": {
                    "field": "share",
                    "type": "quantitative",
                    "title": "invalid share of the values written",
                    "axis": {"format": ".1~%", "tickCount": 5},
                    # A scale up to 5% at least, so that shares of 0 still show an axis.
                    "scale": {"domain": [0, max(0.05, *(v["share"] for v in invalid))]},
                },
                "tooltip": [
                    {"field": "source", "type": "nominal"},
                    {"field": "value", "type": "nominal"},
                    {"field": "share", "type": "quantitative", "format": ".1%", "title": "invalid"},
                ],
            },
            layer=_paired_bar_layers("value", ("phone", "e-mail"), "share", ".1%"),
        )
        chart = _Chart("chart-invalid", "Invalid share of phones and e-mails, per source", spec)
        charts.append(chart)
        parts.append(_chart_div(chart))
    else:
        parts.append(_none("No phone or e-mail was written."))
    parts.append("</div>")
    duplicates = [
        {
            "source": _source_label(row["source"]),
            "share": row["duplicate_share"],
            "overall": row["source"] == _ALL,
        }
        for row in per_source.iter_rows(named=True)
        if row.get("duplicate_share") is not None
    ]
    parts.append("<div>\n<h3>Duplicate share</h3>")
    if duplicates:
        spec = _bar_with_labels(
            duplicates,
            category="source",
            category_title="source",
            measure="share",
            measure_title="records whose client has another record",
            share=True,
            horizontal=True,
            order=source_order,
        )
        spec["encoding"]["y"]["title"] = None
        chart = _Chart(
            "chart-duplicates", "Share of records that have a duplicate, per source", spec
        )
        charts.append(chart)
        parts.append(_chart_div(chart))
    else:
        parts.append(_none("No record was read."))
    parts += ["</div>", "</div>", "</section>"]
    return "\n".join(parts)


def _size_bin(size: int) -> tuple[int, str]:
    """The bar of a client with `size` records: its sort key and its label."""
    if size <= _SINGLE_SIZES:
        return size, str(size)
    low = _SINGLE_SIZES + 1
    for high in _SIZE_BINS:
        if size <= high:
            return low, f"{low:,}\N{EN DASH}{high:,}"
        low = high + 1
    return low, f"{low:,}+"


def _clients_section(health: DataHealth, charts: list[_Chart]) -> str:
    parts = [
        '<section id="clients">\n<h2>Clients</h2>',
        '<p class="lead">How many records each client has, and what the run decided for '
        "each client cluster.</p>",
        '<div class="grid2">',
        "<div>\n<h3>Records per client</h3>",
    ]
    bins: dict[int, dict[str, Any]] = {}
    for size, clients in health.cluster_sizes.select("records_per_client", "clients").iter_rows():
        key, label = _size_bin(int(size))
        entry = bins.setdefault(key, {"size": label, "clients": 0, "records": 0})
        entry["clients"] += int(clients)
        entry["records"] += int(clients) * int(size)
    sized = [bins[key] for key in sorted(bins)]
    if sized:
        counts = [entry["clients"] for entry in sized]
        log = max(counts) >= _LOG_RATIO * min(counts)
        spec = _bar_with_labels(
            [{"size": e["size"], "clients": e["clients"]} for e in sized],
            category="size",
            category_title="records per client",
            measure="clients",
            measure_title="clients (log scale)" if log else "clients",
            share=False,
            order=[entry["size"] for entry in sized],
            log=log,
        )
        chart = _Chart("chart-cluster-sizes", "Number of clients by records per client", spec)
        charts.append(chart)
        parts.append(_chart_div(chart))
        parts.append(
            _table(
                [("records per client", True), ("clients", True), ("records", True)],
                [
                    [_e(e["size"]), _e(_count(e["clients"])), _e(_count(e["records"]))]
                    for e in sized
                ],
            )
        )
    else:
        parts.append(_none("No client."))
    parts.append("</div>\n<div>\n<h3>Outcomes</h3>")
    if health.review is not None:
        parts.append(
            f'<p class="to-review">To review: {_e(_count(health.review.proposals))} '
            f"proposal{'s' if health.review.proposals != 1 else ''} holding "
            f"{_e(_count(health.review.records))} records (the review queue).</p>"
        )

    outcomes = {row["outcome"]: row for row in health.outcomes.iter_rows(named=True)}
    if outcomes:
        order = _outcome_order(outcomes)
        labels = [OUTCOME_LABELS.get(outcome, outcome) for outcome in order]
        values = [
            {"outcome": label, "count of": measure, "count": int(outcomes[outcome][measure])}
            for outcome, label in zip(order, labels, strict=True)
            for measure in ("clients", "records")
        ]
        spec = _spec(
            values,
            width=380,
            height={"step": 18},
            encoding={
                "y": {
                    "field": "outcome",
                    "type": "nominal",
                    "title": None,
                    "sort": labels,
                    "axis": {"labelLimit": 200},
                },
                "yOffset": {"field": "count of", "type": "nominal", "sort": ["clients", "records"]},
                "x": {
                    "field": "count",
                    "type": "quantitative",
                    "title": None,
                    "axis": _count_axis(max(v["count"] for v in values)),
                },
                "tooltip": [
                    {"field": "outcome", "type": "nominal"},
                    {"field": "count of", "type": "nominal"},
                    {"field": "count", "type": "quantitative", "format": ","},
                ],
            },
            layer=_paired_bar_layers("count of", ("clients", "records"), "count", ","),
        )
        chart = _Chart("chart-outcomes", "Clients and records per outcome", spec)
        charts.append(chart)
        parts.append(_chart_div(chart))
        total_records = sum(int(row["records"]) for row in outcomes.values())
        rows = [
            [
                _e(label),
                _e(_count(outcomes[outcome]["clients"])),
                _e(_count(outcomes[outcome]["records"])),
                _e(_share(int(outcomes[outcome]["records"]) / total_records))
                if total_records
                else _NONE,
            ]
            for outcome, label in zip(order, labels, strict=True)
        ]
        parts.append(
            _table(
                [("outcome", False), ("clients", True), ("records", True), ("of records", True)],
                rows,
            )
        )
    else:
        parts.append(_none("No client."))
    parts += ["</div>", "</div>", "</section>"]
    return "\n".join(parts)


def _reasons_section(
    reasons: pl.DataFrame,
    *,
    count: str,
    heading: str,
    lead: str,
    none: str,
    chart_id: str,
    labels: dict[str, str],
    top: int,
    sources: list[str],
    charts: list[_Chart],
) -> str:
    parts = [
        f'<section id="{_e(chart_id.removeprefix("chart-"))}">',
        f"<h2>{_e(heading)}</h2>",
        f'<p class="lead">{_e(lead)}</p>',
    ]
    if reasons.is_empty() or int(reasons.get_column(count).sum()) == 0:
        parts += [_none(none), "</section>"]
        return "\n".join(parts)
    frame = reasons.select(
        pl.col("source").cast(pl.String),
        pl.col("reason").cast(pl.String).replace(labels),
        pl.col(count).cast(pl.Int64),
    )
    totals = (
        frame.group_by("reason")
        .agg(pl.col(count).sum())
        .sort([count, "reason"], descending=[True, False])
    )
    top_reasons = totals.head(top).get_column("reason").to_list()
    shown = (
        frame.filter(pl.col("reason").is_in(top_reasons))
        .group_by("source", "reason")
        .agg(pl.col(count).sum())
        .sort(["source", "reason"])
    )
    source_domain = sorted(set(sources) | set(shown.get_column("source")))
    spec = _spec(
        shown.to_dicts(),
        width=440,
        height={"step": 24},
        encoding={
            "y": {
                "field": "reason",
                "type": "nominal",
                "title": None,
                "sort": top_reasons,
                "axis": {"labelLimit": 340},
            },
            "x": {
                "field": count,
                "type": "quantitative",
                "title": count,
                "aggregate": "sum",
                "axis": _count_axis(int(totals.get_column(count).max())),
            },
        },
        layer=[
            {
                "mark": {"type": "bar"},
                "encoding": {
                    "color": {
                        "field": "source",
                        "type": "nominal",
                        "scale": {"domain": source_domain, "scheme": "tableau10"},
                        "legend": {"orient": "top", "title": None},
                    },
                    "tooltip": [
                        {"field": "reason", "type": "nominal"},
                        {"field": "source", "type": "nominal"},
                        {"field": count, "type": "quantitative", "format": ","},
                    ],
                },
            },
            {
                "mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 4},
                "encoding": {
                    "text": {"field": count, "aggregate": "sum", "format": ","},
                },
            },
        ],
    )
    chart = _Chart(chart_id, f"{heading}: the {top} most frequent reasons", spec)
    charts.append(chart)
    listed = frame.head(top)
    rows = [[_e(source), _e(reason), _e(_count(n))] for source, reason, n in listed.iter_rows()]
    table = _table(
        [("source", False), ("reason", False), (count, True)],
        rows,
        classes=["", "reason", "num"],
    )
    parts += [_chart_div(chart), table]
    if frame.height > listed.height:
        rest = frame.slice(listed.height)
        parts.append(
            f'<p class="more">and {_e(_count(rest.height))} more (source, reason) pairs with '
            f"{_e(_count(int(rest.get_column(count).sum())))} {_e(count)}.</p>"
        )
    parts.append("</section>")
    return "\n".join(parts)
