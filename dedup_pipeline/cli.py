"""The ``dedup`` command line.

``dedup run`` executes the Dagster asset graph in process (imported lazily: the library
itself never imports Dagster); the other commands call the library directly.
"""

from __future__ import annotations

import json
import logging
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dedup_pipeline import cli_crm, cli_leads
from dedup_pipeline.config import ConfigError, PipelineConfig, load_config, read_model_file

if TYPE_CHECKING:
    from collections.abc import Callable

    from dedup_pipeline.evaluate import LabelAgreement
    from dedup_pipeline.review import DecisionStore

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
ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help="Reuse this trained model (splink_model.json of an earlier run) instead of "
        "training; overrides match.model.",
    ),
]


def _quiet_libraries() -> None:
    # Splink and Dagster log every step at INFO/WARNING; the CLI shows its own progress.
    for name in ("splink", "dagster"):
        logging.getLogger(name).setLevel(logging.ERROR)


class RunMode(StrEnum):
    """How much of the base a run matches."""

    FULL = "full"
    INCREMENTAL = "incremental"


ModeOption = Annotated[
    RunMode,
    typer.Option(
        "--mode",
        help="full: retrain and match everything (the semiannual sweep). incremental: place "
        "only new and changed records with the last run's model (the nightly run).",
        case_sensitive=False,
    ),
]


def _execute(config: Path, model: Path | None = None, mode: RunMode = RunMode.FULL):
    from assets.run import RunFailedError, StepEvent, run_full_sweep

    try:
        settings = load_config(config)
        if model is not None:
            read_model_file(model)
        # A CRM source's export is written by the run's pull.
        missing = [s for s in settings.sources if s.crm is None and not s.path.is_file()]
        if missing:
            raise ConfigError(
                f"{config}: "
                + "; ".join(f"source {s.name!r}: file not found: {s.path}" for s in missing)
            )
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

    title = "full sweep" if mode is RunMode.FULL else "incremental run"
    console.print(f"[bold]lead-dedup[/bold] {title}: {config}")
    try:
        with console.status("running…"):
            return run_full_sweep(config, on_step=on_step, model_path=model, mode=mode.value)
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
        ("clusters approved by reviewers", report.clusters_approved),
        ("records auto-merged", report.records_auto_merged),
        ("proposals to review", report.clusters_to_review),
        ("records in them", report.records_to_review),
        ("records flagged (blacklist, junk)", report.records_flagged),
        ("golden profiles", report.golden_profiles),
        ("  with a time zone", report.profiles_with_time_zone),
        ("merge instructions", report.merge_instructions),
    ):
        table.add_row(label, f"{value:,}")
    console.print(table)
    model = report.model or {}
    if model.get("source") == "default":
        console.print(f"model: the default model ({model.get('reason')}), prior from this data")
    elif model.get("source") == "trained" and model.get("m_from_default"):
        console.print(
            f"model: trained on this data; m of {len(model['m_from_default'])} level(s) EM did "
            "not see came from the default model"
        )
    balanced = "[green]balanced[/green]" if accounting.balanced else "[red]NOT balanced[/red]"
    if report.client_changes:
        changes = report.client_changes
        console.print(
            "clients against the last run: "
            + ", ".join(
                f"{changes.get(name, 0):,} {name}"
                for name in ("unchanged", "changed", "merged", "split", "created", "retired")
            )
        )
    if report.client_id_events:
        console.print(
            "client ids this run: "
            + ", ".join(f"{count:,} {event}" for event, count in report.client_id_events.items())
        )
    else:
        console.print("client ids this run: none created, split, merged or retired")
    console.print(
        f"every record accounted for: {accounting.records_in:,} in = "
        f"{accounting.records_clustered:,} clustered + {accounting.quarantined:,} quarantined "
        f"({balanced})"
    )
    health_report = report.outputs.get("health_report.html")
    if health_report:
        console.print(f"data health report: {escape(health_report)}")
    console.print("[bold]outputs[/bold]")
    for name, path in report.outputs.items():
        if name.endswith(".parquet") and name.split(".")[0] in ("contacts", "scored_pairs"):
            continue
        console.print(f"  {name:<28} {escape(str(path))}")


@app.command()
def run(
    config: ConfigOption = Path("configs/sample.yaml"),
    model: ModelOption = None,
    mode: ModeOption = RunMode.FULL,
) -> None:
    """Run the flow: read, normalize, match, decide, build golden profiles, export."""
    report = _execute(config, model, mode)
    _summary(report)


@app.command()
def evaluate(
    config: ConfigOption = Path("configs/sample.yaml"),
    truth_column: Annotated[
        str, typer.Option(help="Passthrough column holding the true client id.")
    ] = "truth_client_id",
    model: ModelOption = None,
    decisions: Annotated[
        bool,
        typer.Option(
            "--decisions",
            help="Score against reviewers' decisions instead of a truth column: the model's "
            "scored pairs at the auto-merge threshold versus the pairs reviewers labelled "
            "(not the final clusters, which honour the decisions and agree trivially).",
        ),
    ] = False,
) -> None:
    """Run the flow, then score it against a ground-truth column or reviewers' decisions."""
    if decisions:
        _evaluate_against_decisions(config, model)
        return
    from dedup_pipeline.evaluate import TruthColumnError, evaluate_warehouse

    _execute(config, model)
    settings = load_config(config)
    try:
        evaluation = evaluate_warehouse(settings, truth_column)
    except TruthColumnError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    overall, auto = evaluation.overall, evaluation.auto_merged
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
        f"review share: {evaluation.review_share:.2%} "
        f"({evaluation.clusters_in_review:,} of {evaluation.clusters:,} client clusters have "
        f"outcome review); review proposals in the queue: {evaluation.review_proposals:,}"
    )
    _write_evaluation(settings, {"truth_column": truth_column, **evaluation.as_dict()})


def _write_evaluation(settings: PipelineConfig, figures: dict[str, object]) -> None:
    path = settings.output.directory / "evaluation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    console.print(f"written: {path}")


def _evaluate_against_decisions(config: Path, model: Path | None) -> None:
    from dedup_pipeline.evaluate import agreement_with_labels
    from dedup_pipeline.review import DecisionStore
    from dedup_pipeline.review.constraints import labelled_pairs

    settings = _review_config(config)
    # Checked before the run: without decisions there is nothing to score it against.
    with DecisionStore(settings.review.url) as store:
        labels = labelled_pairs(store.decisions())
        where = store.url
    if labels.is_empty():
        err_console.print(
            f"[red]error:[/red] no reviewers' decisions in {escape(where)} to score against; "
            "record some (dedup review serve, dedup review import) or leave out --decisions"
        )
        raise typer.Exit(2)
    _execute(config, model)
    # The model's pairs, not the final clusters: runs honour decisions as constraints, so
    # clusters would agree with them by construction. A model trained with
    # match.learn_from_decisions has seen the approvals: its figures are optimistic.
    threshold = settings.decision.auto_merge_threshold
    agreement = agreement_with_labels(
        _exported(settings, "scored_pairs"), labels, threshold=threshold
    )
    _print_agreement(agreement, threshold)
    _write_evaluation(
        settings,
        {"against": "decisions", "auto_merge_threshold": threshold, **agreement.as_dict()},
    )


@app.command("export-dataset")
def export_dataset_command(
    dataset: Annotated[str, typer.Argument(help="Dataset to write: febrl3.")],
    out: Annotated[Path, typer.Option(help="Directory for the export.")] = Path("data/febrl3"),
) -> None:
    """Write a public labelled dataset as a CSV export with its ground truth column."""
    from dedup_pipeline.samples.datasets import (
        DatasetUnavailableError,
        PublicDataset,
        export_dataset,
    )

    known = [member.value for member in PublicDataset]
    if dataset not in known:
        err_console.print(
            f"[red]error:[/red] unknown dataset {escape(repr(dataset))}; "
            f"choose one of: {', '.join(known)}"
        )
        raise typer.Exit(2)
    try:
        path = export_dataset(dataset, out)
    except DatasetUnavailableError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    console.print(f"written: {escape(str(path))}")


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


@app.command("generate-benchmark")
def generate_benchmark_command(
    out: Annotated[Path, typer.Option(help="Directory for contacts.csv.")] = Path("data/benchmark"),
    clients: Annotated[int, typer.Option(help="Number of distinct clients.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    new_identifiers: Annotated[
        float, typer.Option(help="Share of later records with a new phone and e-mail.")
    ] = 0.3,
    surname_first: Annotated[float, typer.Option(help="Share of names surname first.")] = 0.35,
    typos: Annotated[float, typer.Option(help="Chance of a typo per name token.")] = 0.04,
    patronymic: Annotated[float, typer.Option(help="Share of records with a patronymic.")] = 0.4,
    name_zipf: Annotated[float, typer.Option(help="Name frequency skew (namesakes).")] = 1.0,
    surname_pool: Annotated[int, typer.Option(help="Distinct surnames.")] = 5000,
    single_name: Annotated[float, typer.Option(help="Share of first-name-only records.")] = 0.06,
    latin: Annotated[float, typer.Option(help="Share of romanised records.")] = 0.2,
    diminutive: Annotated[float, typer.Option(help="Share of diminutive first names.")] = 0.2,
) -> None:
    """Write one mixed CRM export with ground truth, each difficulty a setting.

    The accuracy matrix (benchmarks/bench_accuracy.py) runs this generator along each axis.
    """
    from dedup_pipeline.samples.benchmark import BenchmarkSettings, generate_benchmark

    settings = BenchmarkSettings(
        clients=clients,
        seed=seed,
        new_identifiers=new_identifiers,
        surname_first=surname_first,
        typos=typos,
        patronymic=patronymic,
        name_zipf=name_zipf,
        surname_pool=surname_pool,
        single_name=single_name,
        latin=latin,
        diminutive=diminutive,
    )
    console.print(f"written: {escape(str(generate_benchmark(out, settings)))}")


plan_app = typer.Typer(
    help="The Russian numbering plan: region and time zone of mobile numbers.",
    no_args_is_help=True,
)
app.add_typer(plan_app, name="numbering-plan")


@plan_app.command("load")
def numbering_plan_load(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="The regulator's range files (ABC-3xx.csv, ABC-4xx.csv, ABC-8xx.csv, "
            "DEF-9xx.csv from opendata.digital.gov.ru).",
            exists=True,
            dir_okay=False,
        ),
    ],
    config: ConfigOption = Path("configs/sample.yaml"),
) -> None:
    """Read the plan's range files and store them where enrich.numbering_plan says; the
    next run describes Russian mobile numbers with them."""
    import polars as pl

    from dedup_pipeline.enrich.numbering_plan import (
        NumberingPlanError,
        read_numbering_plan,
        write_numbering_plan,
    )

    settings = _review_config(config)
    target = settings.enrich.numbering_plan

    if target is None:
        err_console.print(
            f"[red]error:[/red] {escape(str(config))}: set enrich.numbering_plan (where to "
            "store the plan) first"
        )
        raise typer.Exit(2)
    try:
        plan = read_numbering_plan(files)
    except NumberingPlanError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    write_numbering_plan(plan, target)
    placed = plan.filter(pl.col("time_zone").is_not_null())
    unplaced = sorted(set(plan.filter(pl.col("time_zone").is_null())["territory"].to_list()))
    console.print(
        f"numbering plan: {plan.height:,} ranges from {len(files)} file(s), "
        f"{placed.height:,} with a region and time zone -> {escape(str(target))}"
    )
    if unplaced:
        console.print(
            f"territories without a time zone ({len(unplaced)}): "
            + escape("; ".join(unplaced[:10]))
            + (" ..." if len(unplaced) > 10 else "")
        )


review_app = typer.Typer(
    help="Reviewers: accounts, recorded decisions and the review web app.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")


def _review_config(config: Path):
    try:
        return load_config(config)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def _with_password(config: Path, prompt: str, change: Callable[[DecisionStore, str], None]) -> str:
    """Read a password from DEDUP_REVIEW_PASSWORD or the terminal and hand it with the
    decisions store to ``change``; a refused password is a clear error. Returns the
    store's URL."""
    import os

    from dedup_pipeline.review import DecisionStore

    settings = _review_config(config)
    password = os.environ.get("DEDUP_REVIEW_PASSWORD") or typer.prompt(
        prompt, hide_input=True, confirmation_prompt=True
    )
    with DecisionStore(settings.review.url) as store:
        try:
            change(store, password)
        except ValueError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None
    return settings.review.url


@review_app.command("add-user")
def review_add_user(
    username: Annotated[str, typer.Argument(help="The reviewer's login name.")],
    config: ConfigOption = Path("configs/sample.yaml"),
    display_name: Annotated[str | None, typer.Option(help="Name shown in the app.")] = None,
) -> None:
    """Add a reviewer. The password is read from DEDUP_REVIEW_PASSWORD or asked for."""
    url = _with_password(
        config,
        "Password",
        lambda store, password: store.add_user(username, password, display_name=display_name),
    )
    console.print(f"reviewer {escape(username)!r} added to {escape(url)}")


@review_app.command("set-password")
def review_set_password(
    username: Annotated[str, typer.Argument(help="The reviewer's login name.")],
    config: ConfigOption = Path("configs/sample.yaml"),
) -> None:
    """Reset a reviewer's password, read from DEDUP_REVIEW_PASSWORD or asked for."""
    _with_password(
        config, "New password", lambda store, password: store.set_password(username, password)
    )
    console.print(f"password of reviewer {escape(username)!r} changed")


@review_app.command("decisions")
def review_decisions(
    config: ConfigOption = Path("configs/sample.yaml"),
    history: Annotated[bool, typer.Option(help="Every decision, not only the latest.")] = False,
) -> None:
    """List reviewers' decisions: who decided what, and when."""
    from dedup_pipeline.review import DecisionStore

    settings = _review_config(config)
    with DecisionStore(settings.review.url) as store:
        decisions = store.decisions(latest_only=not history)
    table = Table(title=f"Review decisions ({decisions.height:,})")
    for column in ("decided at", "reviewer", "action", "records"):
        table.add_column(column)
    for row in decisions.sort("decided_at").iter_rows(named=True):
        table.add_row(
            f"{row['decided_at']:%Y-%m-%d %H:%M}",
            escape(row["reviewer"]),
            row["action"],
            escape(", ".join(row["record_ids"])),
        )
    console.print(table)


def _print_agreement(agreement: LabelAgreement, threshold: float) -> None:
    table = Table(
        title=f"Model's pairs vs reviewers' decisions (auto-merge threshold {threshold})",
        show_header=False,
    )
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("labelled pairs", f"{agreement.labelled_pairs:,}")
    table.add_row("of which matches", f"{agreement.labelled_matches:,}")
    table.add_row("precision", f"{agreement.precision:.4f}")
    table.add_row("recall", f"{agreement.recall:.4f}")
    table.add_row("F1", f"{agreement.f1:.4f}")
    console.print(table)


def _exported(settings, name: str):
    import polars as pl

    path = settings.output.directory / f"{name}.parquet"
    if not path.is_file():
        err_console.print(f"[red]error:[/red] {escape(str(path))} not found: run `dedup run` first")
        raise typer.Exit(2)
    return pl.read_parquet(path)


@review_app.command("export")
def review_export(
    out: Annotated[Path, typer.Option(help="The sheet to write (.xlsx or .csv).")],
    config: ConfigOption = Path("configs/sample.yaml"),
) -> None:
    """Write the last run's review queue as a sheet to fill in (one row per record)."""
    from dedup_pipeline.review.spreadsheet import queue_sheet, write_sheet

    settings = _review_config(config)
    sheet = queue_sheet(
        _exported(settings, "review_queue"),
        _exported(settings, "contacts"),
        _exported(settings, "clusters"),
    )
    write_sheet(sheet, out)
    console.print(f"written: {escape(str(out))} ({sheet.height:,} rows)")


@review_app.command("import")
def review_import(
    sheet: Annotated[Path, typer.Argument(help="A filled-in sheet from `review export`.")],
    reviewer: Annotated[str, typer.Option(help="Who made these decisions (a reviewer).")],
    config: ConfigOption = Path("configs/sample.yaml"),
) -> None:
    """Record the decisions filled into a sheet; report rows that cannot be taken."""
    from dedup_pipeline.review import DecisionStore
    from dedup_pipeline.review.spreadsheet import SheetError, read_decision_sheet

    settings = _review_config(config)
    try:
        result = read_decision_sheet(
            sheet, reviewer=reviewer, review_queue=_exported(settings, "review_queue")
        )
    except SheetError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    with DecisionStore(settings.review.url) as store:
        try:
            for decision in result.decisions:
                store.record(decision)
        except ValueError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None
    console.print(f"recorded {len(result.decisions)} decision(s) by {escape(reviewer)}")
    for problem in result.problems:
        err_console.print(f"[yellow]not taken:[/yellow] {escape(problem)}")
    if result.problems:
        raise typer.Exit(1)


@review_app.command("labels")
def review_labels(
    out: Annotated[Path, typer.Option(help="CSV of labelled record pairs to write.")],
    config: ConfigOption = Path("configs/sample.yaml"),
) -> None:
    """Export reviewers' decisions as labelled pairs (Splink's clerical_match_score)."""
    from dedup_pipeline.review import DecisionStore
    from dedup_pipeline.review.constraints import labelled_pairs

    settings = _review_config(config)
    with DecisionStore(settings.review.url) as store:
        pairs = labelled_pairs(store.decisions())
    out.parent.mkdir(parents=True, exist_ok=True)
    pairs.write_csv(out)
    console.print(f"written: {escape(str(out))} ({pairs.height:,} labelled pairs)")


@review_app.command("agreement")
def review_agreement(config: ConfigOption = Path("configs/sample.yaml")) -> None:
    """How often the last run's model agreed with reviewers, pair by pair."""
    from dedup_pipeline.evaluate import agreement_with_labels
    from dedup_pipeline.review import DecisionStore
    from dedup_pipeline.review.constraints import labelled_pairs

    settings = _review_config(config)
    with DecisionStore(settings.review.url) as store:
        labels = labelled_pairs(store.decisions())
    threshold = settings.decision.auto_merge_threshold
    agreement = agreement_with_labels(
        _exported(settings, "scored_pairs"), labels, threshold=threshold
    )
    _print_agreement(agreement, threshold)


@review_app.command("serve")
def review_serve(
    config: ConfigOption = Path("configs/sample.yaml"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Send the session cookie over HTTPS only (the app is behind TLS).",
        ),
    ] = False,
) -> None:
    """Start the review web app on the last run's outputs."""
    import uvicorn

    from dedup_pipeline.review.web.app import create_app

    settings = _review_config(config)
    console.print(f"review app on http://{host}:{port}/ (decisions: {escape(settings.review.url)})")
    app_ = create_app(settings, secure_cookies=secure_cookies)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command("instruction-schema")
def instruction_schema() -> None:
    """Print the JSON Schema of one merge instruction (one line of the JSONL file)."""
    from dedup_pipeline.survivorship.instructions import merge_instruction_json_schema

    typer.echo(merge_instruction_json_schema(), nl=False)


cli_crm.register(app)
cli_leads.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
