"""`dedup crm-emulator --fault`: trouble armed from the command line, served over HTTP."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dedup_pipeline.crm.emulator.faults import parse_fault

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("spec", "crm", "options"),
    [
        ("status=429@/merge*3", None,
         {"kind": "status", "path": "/merge", "status": 429, "count": 3}),
        ("hubspot/lost_response@/merge+2", "hubspot",
         {"kind": "lost_response", "path": "/merge", "skip": 2}),
        ("timeout", None, {"kind": "timeout", "path": None}),
    ],
)  # fmt: skip
def test_a_fault_is_written_as_kind_status_path_count_and_skip(spec, crm, options):
    assert parse_fault(spec) == (crm, options)


@pytest.mark.parametrize("spec", ["explode", "timeout=500", "status=99", "status*x"])
def test_a_fault_that_cannot_be_read_says_how_to_write_it(spec):
    with pytest.raises(ValueError, match=r"KIND\[=STATUS\]|only a 'status' fault"):
        parse_fault(spec)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_emulator_serves_the_faults_its_command_line_armed(tmp_path):
    text = (ROOT / "configs" / "crm_demo.yaml").read_text(encoding="utf-8")
    ports = {old: _free_port() for old in ("8765", "8766", "8767")}
    for old, new in ports.items():
        text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    config = tmp_path / "crm_demo.yaml"
    config.write_text(text, encoding="utf-8")
    command = [
        sys.executable, "-m", "dedup_pipeline.cli", "crm-emulator", "--config", str(config),
        "--fault", "hubspot/status=503@/crm/v3/objects/contacts*2",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            found = re.match(r"hubspot: (http://\S+)", line)
            url = found and found.group(1)
        assert url, "the emulator did not start"
        headers = {"Authorization": "Bearer emulator-token"}
        statuses = [
            httpx.get(f"{url}/crm/v3/objects/contacts", headers=headers).status_code
            for _ in range(3)
        ]
        assert statuses == [503, 503, 200]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
