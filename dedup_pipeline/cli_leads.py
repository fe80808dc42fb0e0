"""``dedup check-lead`` and ``dedup serve-leads``: the incoming-lead check."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from dedup_pipeline.config import ConfigError, PipelineConfig, load_config

if TYPE_CHECKING:
    from pydantic import ValidationError

    from dedup_pipeline.leads import LeadChecker

__all__ = ["register"]

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Pipeline configuration (YAML) of the run.")
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        help="Region of phones without a country code (default: the first source's), for "
        "leads whose source is not a configured one."
    ),
]


#: Addresses only this machine can reach: the only ones served without a token.
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _fail(message: str, code: int = 2) -> typer.Exit:
    from dedup_pipeline.cli import err_console

    err_console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _settings(config: Path) -> PipelineConfig:
    try:
        return load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _checker(settings: PipelineConfig, region: str | None) -> LeadChecker:
    from dedup_pipeline.cli import _quiet_libraries
    from dedup_pipeline.leads import LeadChecker

    _quiet_libraries()
    try:
        return LeadChecker.load(settings, region=region)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _problems(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "lead"
        lines.append(f"  {where}: {error['msg']}")
    return "not a usable lead:\n" + "\n".join(lines)


def check_lead(
    config: ConfigOption = Path("configs/sample.yaml"),
    phone: Annotated[
        list[str] | None, typer.Option("--phone", help="A phone, in any format (repeatable).")
    ] = None,
    email: Annotated[
        list[str] | None, typer.Option("--email", help="An e-mail (repeatable).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The full name, in either order.")
    ] = None,
    first_name: Annotated[str | None, typer.Option("--first-name")] = None,
    middle_name: Annotated[str | None, typer.Option("--middle-name")] = None,
    last_name: Annotated[str | None, typer.Option("--last-name")] = None,
    company: Annotated[str | None, typer.Option("--company")] = None,
    city: Annotated[str | None, typer.Option("--city")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Where the lead comes from.")
    ] = None,
    lead_json: Annotated[
        str | None,
        typer.Option(
            "--json",
            help="The lead as a JSON object (the HTTP endpoint's body); '-' reads it from "
            "standard input. Not combined with the options above.",
        ),
    ] = None,
    region: RegionOption = None,
    compact: Annotated[bool, typer.Option(help="Print the answer on one line.")] = False,
) -> None:
    """Which existing clients a lead duplicates, with scores and why (JSON on stdout)."""
    from pydantic import ValidationError

    from dedup_pipeline.leads import Lead, LeadRejected

    fields = {
        "phones": phone or [],
        "emails": email or [],
        "full_name": name,
        "first_name": first_name,
        "middle_name": middle_name,
        "last_name": last_name,
        "company": company,
        "city": city,
        "source": source,
    }
    given = {key: value for key, value in fields.items() if value}
    if lead_json is not None and given:
        raise _fail(f"--json takes the whole lead; leave out {', '.join(sorted(given))}")
    settings = _settings(config)
    try:
        if lead_json is not None:
            text = sys.stdin.read() if lead_json == "-" else lead_json
            lead = Lead.model_validate_json(text)
        else:
            lead = Lead.model_validate(given)
    except ValidationError as exc:
        raise _fail(_problems(exc)) from None
    checker = _checker(settings, region)
    try:
        answer = checker.check(lead)
    except LeadRejected as exc:
        raise _fail(str(exc)) from None
    finally:
        checker.close()
    payload = answer.model_dump(mode="json")
    typer.echo(json.dumps(payload, ensure_ascii=False, indent=None if compact else 2))


def serve_leads(
    config: ConfigOption = Path("configs/sample.yaml"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    token_env: Annotated[
        str,
        typer.Option(
            help="Environment variable with the webhooks' shared secret; requests need "
            "'Authorization: Bearer <secret>'. Without it the server does not start."
        ),
    ] = "DEDUP_LEAD_TOKEN",
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="Serve without a token, on a loopback address only (127.0.0.1, ::1).",
        ),
    ] = False,
    region: RegionOption = None,
    reload_interval: Annotated[
        float,
        typer.Option(
            help="Seconds between looks for a newer run to answer from (0: never).", min=0
        ),
    ] = 60.0,
) -> None:
    """Serve the lead check over HTTP: POST /leads/check (JSON in, JSON out), GET /health."""
    import os

    import uvicorn

    from dedup_pipeline.cli import console
    from dedup_pipeline.leads import create_app
    from dedup_pipeline.leads.app import LeadServerInsecureError

    anonymous = not os.environ.get(token_env)
    if anonymous and not no_auth:
        raise _fail(str(LeadServerInsecureError.for_variable(token_env)))
    if anonymous and host not in _LOOPBACK:
        raise _fail(
            f"--no-auth serves client profiles to anyone who can reach {host}: "
            f"use --host 127.0.0.1, or set ${token_env}"
        )
    settings = _settings(config)
    checker = _checker(settings, region)
    app = create_app(
        settings,
        checker=checker,
        region=region,
        token_env=token_env,
        reload_interval=reload_interval or None,
        allow_anonymous=no_auth,
    )
    auth = "no authentication (--no-auth)" if anonymous else f"bearer token from ${token_env}"
    console.print(
        f"lead check on http://{host}:{port}/leads/check: {checker.records:,} records, "
        f"{checker.clients:,} clients of run {checker.run_id} "
        f"(loaded in {checker.load_seconds:.1f}s); {escape(auth)}"
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        checker.close()


def register(app: typer.Typer) -> None:
    """Add the lead-check commands to the ``dedup`` app."""
    app.command("check-lead")(check_lead)
    app.command("serve-leads")(serve_leads)
