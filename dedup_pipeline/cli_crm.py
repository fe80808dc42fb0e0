"""``dedup pull``, ``dedup push``, ``dedup crm-emulator`` and ``dedup crm-demo``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.markup import escape
from rich.table import Table

from dedup_pipeline.config import ConfigError, PipelineConfig, load_config

__all__ = ["register"]

SourcesOption = Annotated[
    list[str] | None,
    typer.Option("--source", "-s", help="Only this CRM source (repeatable); all by default."),
]
SeedOption = Annotated[
    Path,
    typer.Option("--seed-config", help="Configuration whose file exports seed the emulators."),
]


def _settings(config: Path) -> PipelineConfig:
    from dedup_pipeline.cli import err_console

    try:
        return load_config(config)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def pull(
    config: Annotated[Path, typer.Option("--config", "-c", help="Pipeline configuration.")],
    full: Annotated[
        bool, typer.Option("--full", help="Read every contact, not only the changed ones.")
    ] = False,
    source: SourcesOption = None,
) -> None:
    """Pull contacts from the configuration's CRM sources into their export files."""
    from dedup_pipeline.cli import console, err_console
    from dedup_pipeline.crm.sync import pull_crm_sources
    from dedup_pipeline.crm.transport import CrmHttpError

    settings = _settings(config)
    try:
        reports = pull_crm_sources(settings, full=full, names=source or ())
    except (CrmHttpError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    table = Table(title="Pulled")
    for column in ("source", "mode", "read", "added", "changed", "removed", "total", "file"):
        table.add_column(
            column, justify="left" if column in {"source", "mode", "file"} else "right"
        )
    for r in reports:
        table.add_row(
            r.source, r.mode, *(f"{n:,}" for n in (r.read, r.added, r.changed, r.removed, r.total)),
            str(r.path),
        )  # fmt: skip
    console.print(table)


ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Pipeline configuration.")]
YesOption = Annotated[
    bool,
    typer.Option(
        "--yes", help="Confirm changes that cannot be fully taken back (merges in CRMs where "
        "a merge is final)."
    ),
]  # fmt: skip

push_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Apply the last run's merge instructions in the CRM sources (a dry run unless "
    "--apply); `dedup push undo` takes pushed merges back.",
)


def _final_merges(settings: PipelineConfig, names: list[str] | None) -> list[str]:
    """The CRM sources the push merges in whose merges are final."""
    from dedup_pipeline.crm.connect import merges_are_final
    from dedup_pipeline.crm.sync import crm_sources

    return [
        s.name
        for s in crm_sources(settings, names or ())
        if s.merge_target and s.crm is not None and merges_are_final(s.crm)
    ]


def _confirmed(refused: bool, warning: str, verb: str) -> None:
    """Stop before a change that cannot be fully taken back, unless confirmed (--yes)."""
    if refused:
        from dedup_pipeline.cli import err_console

        err_console.print(
            f"[red]refused:[/red] {escape(warning)} Check the dry run, then {verb} with "
            "--apply --yes."
        )
        raise typer.Exit(2)


@push_app.callback()
def push(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Pipeline configuration.")
    ] = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Change the CRMs. Without it, only show what would change."),
    ] = False,
    source: SourcesOption = None,
    yes: YesOption = False,
) -> None:
    """Apply the last run's merge instructions in the CRM sources (a dry run unless --apply)."""
    if ctx.invoked_subcommand is None:
        _push(config, apply=apply, source=source, yes=yes)


def _push(config: Path | None, *, apply: bool, source: list[str] | None, yes: bool) -> None:
    from dedup_pipeline.cli import console, err_console
    from dedup_pipeline.crm.sync import push_crm_sources
    from dedup_pipeline.crm.transport import CrmHttpError

    if config is None:
        err_console.print("[red]error:[/red] --config is required")
        raise typer.Exit(2)
    settings = _settings(config)
    try:
        final = _final_merges(settings, source)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    warning = (
        f"{', '.join(final)}: a merge there is final. `dedup push undo` can only create the "
        "merged cards again, under new ids and without their history."
    )
    _confirmed(final and apply and not yes, warning, "push")
    try:
        reports = push_crm_sources(settings, apply=apply, names=source or ())
    except (CrmHttpError, ValueError, FileNotFoundError) as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    title = "Pushed" if apply else "Dry run: nothing sent (add --apply to push)"
    table = Table(title=title)
    columns = ["source", "instructions", "done before", "nothing to change"]
    columns += ["applied", "conflicts", "failed"] if apply else ["would change", "plan"]
    for column in columns:
        table.add_column(column, justify="left" if column in {"source", "plan"} else "right")
    for r in reports:
        counts = [f"{r.instructions:,}", f"{r.settled:,}", f"{r.nothing_to_change:,}"]
        if apply:
            counts += [f"{r.applied:,}", f"{r.conflicts:,}", f"{r.failed:,}"]
        else:
            plan = settings.output.directory / f"push_plan_{r.source}.jsonl"
            counts += [f"{len(r.planned):,}", str(plan)]
        table.add_row(r.source, *counts)
    console.print(table)
    if final and not apply:
        console.print(f"[yellow]note:[/yellow] {escape(warning)} Pushing needs --apply --yes.")
    if apply and reports:
        runs = ", ".join(f"{r.source} {r.run}" for r in reports)
        console.print(f"push run: {runs} (dedup push undo --run <id> takes it back)")
    for r in reports:
        if r.conflict_links:
            console.print(f"{r.source}: {len(r.conflict_links)} merges wait for a person:")
            for link in r.conflict_links[:10]:
                console.print(f"  {link}")
    stopped = [r for r in reports if r.stopped]
    for r in stopped:
        err_console.print(
            f"[red]{r.source}: stopped:[/red] {escape(r.stopped or '')}. Run the push again "
            "to resume: what was applied is not sent twice."
        )
    if stopped:
        raise typer.Exit(1)


@push_app.command("undo")
def undo(
    config: ConfigOption,
    run: Annotated[
        str | None, typer.Option("--run", help="Take back the merges of this push run.")
    ] = None,
    cluster: Annotated[
        list[str] | None, typer.Option("--cluster", help="Take back this cluster (repeatable).")
    ] = None,
    instruction: Annotated[
        list[str] | None,
        typer.Option("--instruction", help="Take back this instruction (repeatable)."),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Take back every applied merge.")
    ] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="Change the CRMs. Without it, only show the plan.")
    ] = False,
    source: SourcesOption = None,
    yes: YesOption = False,
) -> None:
    """Take pushed merges back, as far as each CRM allows (a dry run unless --apply)."""
    from dedup_pipeline.cli import console, err_console
    from dedup_pipeline.crm.sync import undo_crm_sources
    from dedup_pipeline.crm.transport import CrmHttpError
    from dedup_pipeline.crm.undo import UndoSelection

    settings = _settings(config)
    try:
        selection = UndoSelection(
            push_run=run, instructions=instruction or (), clusters=cluster or (),
            everything=everything,
        )  # fmt: skip
        final = _final_merges(settings, source)
    except ValueError as exc:
        err_console.print(
            f"[red]error:[/red] {escape(str(exc))} (--run, --cluster, --instruction or --all)"
        )
        raise typer.Exit(2) from None
    partial = (
        f"{', '.join(final)}: merges there are final. Undo writes the survivors' values back "
        "and creates the merged cards again under new ids; their history stays with the survivor."
    )
    _confirmed(final and apply and not yes, partial, "undo")
    try:
        reports = undo_crm_sources(settings, selection=selection, apply=apply, names=source or ())
    except (CrmHttpError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    table = Table(title="Undone" if apply else "Dry run: nothing sent (add --apply to undo)")
    columns = ["source", "selected"]
    columns += ["restored", "partly restored", "failed"] if apply else ["would restore"]
    for column in columns:
        table.add_column(column, justify="left" if column == "source" else "right")
    for r in reports:
        counts = [f"{r.selected:,}"]
        counts += (
            [f"{r.restored:,}", f"{r.partly_restored:,}", f"{r.failed:,}"]
            if apply
            else [f"{len(r.planned):,}"]
        )
        table.add_row(r.source, *counts)
    console.print(table)
    if final and not apply:
        console.print(f"[yellow]note:[/yellow] {escape(partial)}")
    for r in reports:
        for instruction_id, notes in list(r.not_restored.items())[:20]:
            for note in notes:
                console.print(f"{r.source} {instruction_id}: not restored: {escape(note)}")
        if r.cards:
            console.print(f"{r.source}: {len(r.cards)} merged cards back (old id -> id now):")
            for old, new in list(r.cards.items())[:20]:
                console.print(f"  {old} -> {new}")
        if r.stopped:
            err_console.print(f"[red]{r.source}: stopped:[/red] {escape(r.stopped)}")
    if any(r.stopped or r.failed for r in reports):
        raise typer.Exit(1)


def _ports(settings: PipelineConfig) -> dict[str, int]:
    ports: dict[str, int] = {}
    for source in settings.sources:
        if source.crm is not None:
            ports[source.crm.kind.value] = urlsplit(source.crm.url).port or 80
    return ports


def _start(emulators: dict, ports: dict[str, int], *, host: str = "127.0.0.1") -> list:
    from dedup_pipeline.cli import err_console
    from dedup_pipeline.crm.emulator.server import EmulatorServer

    servers = []
    for kind, emulator in emulators.items():
        port = ports.get(kind, 0)
        try:
            servers.append(EmulatorServer(emulator, host=host, port=port).start())
        except OSError as exc:
            for server in servers:
                server.stop()
            err_console.print(
                f"[red]error:[/red] cannot serve the {kind} emulator on {host}:{port}: "
                f"{escape(str(exc))} (is `dedup crm-emulator` running already?)"
            )
            raise typer.Exit(1) from None
    return servers


def crm_emulator(
    seed_config: SeedOption = Path("configs/sample.yaml"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Configuration whose CRM URLs give the ports.")
    ] = Path("configs/crm_demo.yaml"),
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="Arm a fault before serving (repeatable): "
            "[CRM/]KIND[=STATUS][@PATH][*COUNT][+SKIP], e.g. 'status=429@/merge*3'.",
        ),
    ] = None,
) -> None:
    """Serve emulated Bitrix24, amoCRM and HubSpot accounts seeded from the sample."""
    from dedup_pipeline.cli import console, err_console
    from dedup_pipeline.crm.emulator.faults import parse_fault
    from dedup_pipeline.crm.emulator.sample import EMULATOR_TOKEN_ENV, sample_emulators

    try:
        faults = [parse_fault(spec) for spec in fault or []]
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    ports = _ports(_settings(config))
    emulators = sample_emulators(_settings(seed_config))
    kinds = {emulator.kind for emulator in emulators.values()}
    unknown = sorted({crm for crm, _ in faults if crm is not None} - kinds)
    if unknown:
        err_console.print(
            f"[red]error:[/red] --fault for {', '.join(unknown)}: the emulated CRMs are "
            f"{', '.join(sorted(kinds))}"
        )
        raise typer.Exit(2)
    for emulator in emulators.values():
        for crm, options in faults:
            if crm in (None, emulator.kind):
                emulator.faults.inject(**options)
    servers = _start(emulators, ports, host=host)
    for server in servers:
        kind = server.emulator.kind
        console.print(
            f"{kind}: {server.url} ({len(server.emulator.state.contacts):,} contacts, token "
            f"from ${EMULATOR_TOKEN_ENV[kind]} or 'emulator-token')"
        )
    console.print("Ctrl-C stops the emulators.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        for server in servers:
            server.stop()


def crm_demo(
    config: Annotated[Path, typer.Option("--config", "-c")] = Path("configs/crm_demo.yaml"),
    seed_config: SeedOption = Path("configs/sample.yaml"),
) -> None:
    """The whole story against the emulators: pull -> dedup -> push --apply."""
    from dedup_pipeline.cli import _execute, _summary, console
    from dedup_pipeline.crm.emulator.sample import (
        DEFAULT_TOKEN,
        EMULATOR_TOKEN_ENV,
        sample_emulators,
    )

    settings = _settings(config)
    for variable in EMULATOR_TOKEN_ENV.values():
        os.environ.setdefault(variable, DEFAULT_TOKEN)
    ports = _ports(settings)
    emulators = sample_emulators(_settings(seed_config))
    before = {kind: len(e.state.contacts) for kind, e in emulators.items()}
    servers = _start(emulators, ports)
    try:
        console.rule("1. dedup run: pull each CRM, match, plan the pushes")
        _summary(_execute(config))
        console.rule("2. dedup push --apply")
        _push(config, apply=True, source=None, yes=True)
    finally:
        for server in servers:
            server.stop()
    tags = {s.crm.kind.value: s.crm.loser_tag for s in settings.sources if s.crm is not None}
    table = Table(title="Contacts in each CRM")
    for column in ("CRM", "before", "after", "duplicates gone"):
        table.add_column(column, justify="left" if column == "CRM" else "right")
    for kind, emulator in emulators.items():
        # amoCRM cannot delete through its API: merged-away duplicates carry a tag.
        tag = tags.get(kind)
        live = [c for c in emulator.state.contacts.values() if tag not in c.tags]
        gone = before[kind] - len(live)
        table.add_row(kind, f"{before[kind]:,}", f"{len(live):,}", f"{gone:,}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the CRM commands to the ``dedup`` app."""
    app.command("pull")(pull)
    app.add_typer(push_app, name="push")
    app.command("crm-emulator")(crm_emulator)
    app.command("crm-demo")(crm_demo)
