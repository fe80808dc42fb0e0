"""The ``dedup`` command line.

``dedup run`` executes the Dagster asset graph in process (imported lazily: the library
itself never imports Dagster); the other commands call the library directly.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dedup_pipeline.config import ConfigError, load_config

app = typer.Typer(
    help="Find duplicate clients across CRM exports and build golden client profiles.",
    no_args_is_help=True,
    add_completion=False,
)
# soft_wrap: paths and error messages stay on one line, copyable as they are.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Pipeline configuration (YAML).", exists=False)
]


def _quiet_libraries() -> None:
    # Splink and Dagster log every step at INFO/WARNING; the CLI shows its own progress.
    for name in ("splink", "dagster"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _execute(config: Path):
    from assets.run import RunFailedError, StepEvent, run_full_sweep

    try:
        load_config(config)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    _quiet_libraries()
    started: dict[str, float] = {}

    def on_step(event: StepEvent) -> None:
        if event.status == "started":
            started[event.step] = time.perf_counter()
            return
        seconds = time.perf_counter() - started.get(event.step, time.perf_counter())
        mark = "[green]✓[/green]" if event.status == "succeeded" else "[red]✗[/red]"
        console.print(f"  {mark} {event.step} [dim]{seconds:.1f}s[/dim]")

    console.print(f"[bold]lead-dedup[/bold] full sweep: {config}")
    try:
        with console.status("running…"):
            return run_full_sweep(config, on_step=on_step)
    except RunFailedError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None


def _summary(report) -> None:
    table = Table(title="Run summary", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    accounting = report.accounting
    for label, value in (
        ("records in", accounting.records_in),
        ("quarantined", accounting.quarantined),
        ("values flagged unusable", report.value_issues),
        ("records clustered", accounting.records_clustered),
        ("clusters (clients)", report.clusters),
        ("auto-merged clusters", report.clusters_auto_merged),
        ("records auto-merged", report.records_auto_merged),
        ("clusters to review", report.clusters_to_review),
        ("golden profiles", report.golden_profiles),
        ("merge instructions", report.merge_instructions),
    ):
        table.add_row(label, f"{value:,}")
    console.print(table)
    balanced = "[green]balanced[/green]" if accounting.balanced else "[red]NOT balanced[/red]"
    console.print(
        f"every record accounted for: {accounting.records_in:,} in = "
        f"{accounting.records_clustered:,} clustered + {accounting.quarantined:,} quarantined "
        f"({balanced})"
    )
    console.print("[bold]outputs[/bold]")
    for name, path in report.outputs.items():
        if name.endswith(".parquet") and name.split(".")[0] in ("contacts", "scored_pairs"):
            continue
        console.print(f"  {name:<28} {escape(str(path))}")


@app.command()
def run(config: ConfigOption = Path("configs/sample.yaml")) -> None:
    """Run the full sweep: read, normalize, match, decide, build golden profiles, export."""
    report = _execute(config)
    _summary(report)


@app.command()
def evaluate(
    config: ConfigOption = Path("configs/sample.yaml"),
    truth_column: Annotated[
        str, typer.Option(help="Passthrough column holding the true client id.")
    ] = "truth_client_id",
) -> None:
    """Run the flow, then score its clusters against a ground-truth column (pairwise)."""
    from dedup_pipeline.duckdb_connection import connect
    from dedup_pipeline.evaluate import TruthColumnError, pairwise_scores, truth_from_attributes
    from dedup_pipeline.review import Outcome
    from dedup_pipeline.sinks import read_table

    report = _execute(config)
    settings = load_config(config)
    connection = connect(settings.warehouse, database=settings.warehouse.path)
    try:
        clusters = read_table(connection, "clusters")
        records = read_table(connection, "source_records")
    finally:
        connection.close()
    try:
        truth = truth_from_attributes(records, truth_column)
    except TruthColumnError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    overall = pairwise_scores(clusters, truth)
    merged = clusters.filter(clusters["outcome"] == Outcome.AUTO_MERGE)
    auto = pairwise_scores(
        merged, truth.filter(truth["record_id"].is_in(merged["record_id"].implode()))
    )
    table = Table(title=f"Pairwise accuracy vs {truth_column!r}")
    for column in ("scope", "precision", "recall", "F1", "predicted pairs", "true pairs"):
        table.add_column(column, justify="right" if column != "scope" else "left")
    table.add_row(
        "final clusters",
        f"{overall.precision:.4f}",
        f"{overall.recall:.4f}",
        f"{overall.f1:.4f}",
        f"{overall.predicted_pairs:,}",
        f"{overall.true_pairs:,}",
    )
    table.add_row(
        "auto-merged pairs", f"{auto.precision:.4f}", "", "", f"{auto.predicted_pairs:,}", ""
    )
    console.print(table)
    console.print(
        f"clusters to review: {report.clusters_to_review:,} of {report.clusters:,} clusters"
    )
    path = settings.output.directory / "evaluation.json"
    path.write_text(
        json.dumps(
            {
                "truth_column": truth_column,
                "overall": overall.as_dict(),
                "auto_merged": auto.as_dict(),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    console.print(f"written: {path}")


@app.command("generate-sample")
def generate_sample_command(
    out: Annotated[Path, typer.Option(help="Directory for the exports.")] = Path("data/sample"),
    clients: Annotated[int, typer.Option(help="Number of distinct clients.")] = 1500,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Write realistic exports of the same clients from three systems, with ground truth."""
    from dedup_pipeline.samples import generate_sample

    files = generate_sample(out, n_clients=clients, seed=seed)
    console.print(files)


@app.command("instruction-schema")
def instruction_schema() -> None:
    """Print the JSON Schema of one merge instruction (one line of the JSONL file)."""
    from dedup_pipeline.survivorship.instructions import merge_instruction_json_schema

    typer.echo(merge_instruction_json_schema(), nl=False)


if __name__ == "__main__":  # pragma: no cover
    app()
