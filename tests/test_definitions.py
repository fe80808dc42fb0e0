"""`dagster dev -w workspace.yaml` loads these definitions."""

import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

from assets.definitions import FULL_SWEEP_JOB, build_definitions

ROOT = Path(__file__).resolve().parent.parent


def test_definitions_load_for_the_sample_config():
    defs = build_definitions(ROOT / "configs" / "sample.yaml")
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "raw_bitrix24",
        "raw_hubspot",
        "raw_webform",
        "quarantine_bitrix24",
        "issues_bitrix24",
        "value_issues",
        "source_records",
        "contacts",
        "scored_pairs",
        "clusters",
        "golden_profiles",
        "merge_instructions",
        "review_queue",
        "run_report",
    } <= keys
    assert defs.resolve_job_def(FULL_SWEEP_JOB) is not None
    checks = defs.resolve_asset_graph().asset_check_keys
    assert {c.name for c in checks} >= {
        "every_record_in_exactly_one_cluster",
        "one_golden_profile_per_cluster",
        "no_oversized_merge",
    }
    assert AssetKey("golden_profiles") in {c.asset_key for c in checks}
    assert not any(key.startswith(("pull_", "push_")) for key in keys)  # no CRM sources


def test_crm_sources_are_pulled_before_they_are_read_and_pushed_after_the_instructions():
    graph = build_definitions(ROOT / "configs" / "crm_demo.yaml").resolve_asset_graph()
    for crm in ("bitrix24", "amocrm", "hubspot"):
        assert AssetKey(f"pull_{crm}") in graph.get(AssetKey(f"raw_{crm}")).parent_keys
        assert AssetKey("merge_instructions") in graph.get(AssetKey(f"push_{crm}")).parent_keys
    # The web-form feed is a file, and no merge target: neither pulled nor pushed.
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert "pull_webform" not in keys and "push_webform" not in keys


def test_workspace_file_loads_with_dagster_cli():
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_library_does_not_import_dagster():
    code = (
        "import sys, importlib, pkgutil, dedup_pipeline\n"
        "for m in pkgutil.walk_packages(dedup_pipeline.__path__, 'dedup_pipeline.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert 'dagster' not in sys.modules, 'dedup_pipeline imported dagster'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_nightly_and_semiannual_schedules_run_their_jobs():
    from dagster import DagsterInstance, build_schedule_context

    from assets.definitions import NIGHTLY_JOB

    defs = build_definitions(ROOT / "configs" / "sample.yaml")
    nightly = defs.resolve_schedule_def("nightly_incremental_schedule")
    sweep = defs.resolve_schedule_def("semiannual_full_sweep_schedule")
    assert nightly.job_name == NIGHTLY_JOB and sweep.job_name == FULL_SWEEP_JOB
    # minute hour day-of-month month day-of-week
    assert nightly.cron_schedule.split() == ["0", "2", "*", "*", "*"]
    assert sweep.cron_schedule.split() == ["0", "3", "1", "1,7", "*"]
    with DagsterInstance.ephemeral() as instance:
        tick = nightly.evaluate_tick(build_schedule_context(instance=instance))
    assert len(tick.run_requests) == 1
    # The nightly job places new records: its settings run in incremental mode.
    settings = defs.resolve_job_def(NIGHTLY_JOB).run_config["resources"]["settings"]["config"]
    assert settings["mode"] == "incremental"
    assert defs.resolve_job_def(FULL_SWEEP_JOB).run_config is None
