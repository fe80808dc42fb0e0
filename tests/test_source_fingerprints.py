"""A nightly run does not read again an export it read last time, and only that one."""

from assets.resources import DuckDBWarehouse
from assets.sources import _FINGERPRINTS, _remember, _unchanged
from dedup_pipeline.config import load_config
from dedup_pipeline.sources import read_source
from dedup_pipeline.sources.fingerprint import export_fingerprint
from tests.conftest import sample_config_in

NAMES = ["raw_webform", "quarantine_webform", "issues_webform"]


def _stored(warehouse, source):
    result = read_source(source)
    fingerprint = export_fingerprint(source)
    _remember(warehouse, source.name, fingerprint, result)
    for name, table in zip(NAMES, (result.records, result.quarantine, result.issues), strict=True):
        warehouse.write_table(name, table)
    return result


def test_an_unchanged_export_is_recognised_and_a_changed_one_is_not(tmp_path):
    config = load_config(sample_config_in(tmp_path, own_leads=True))
    source = config.source("webform")
    warehouse = DuckDBWarehouse(
        path=str(tmp_path / "w.duckdb"), temp_directory=str(tmp_path / "tmp")
    )
    result = _stored(warehouse, source)
    last = warehouse.read_tables(*NAMES, _FINGERPRINTS)
    assert _unchanged(last, NAMES, "webform", export_fingerprint(source))

    # A new lead in the file: read it again.
    with source.path.open("a", encoding="utf-8") as file:
        file.write('{"lead_id": "L-NEW", "name": "Иван Петров", "phone": "+79120000000"}\n')
    assert not _unchanged(last, NAMES, "webform", export_fingerprint(source))

    # Other reading options (here the phone region) read the same bytes differently.
    other = source.model_copy(update={"default_region": "KZ"})
    assert export_fingerprint(other) != export_fingerprint(source)

    # Stored tables that are not the ones the fingerprint went with (a run that stopped
    # between writing them): read again.
    fresh = _stored(warehouse, source)
    warehouse.write_table(NAMES[0], result.records)
    assert fresh.records.height == result.records.height + 1
    last = warehouse.read_tables(*NAMES, _FINGERPRINTS)
    assert not _unchanged(last, NAMES, "webform", export_fingerprint(source))
