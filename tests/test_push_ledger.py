"""The push ledger: applied instructions are never sent again, changed ones are."""

import duckdb
import polars as pl

from dedup_pipeline.crm.ledger import PushLedger, PushStatus
from dedup_pipeline.survivorship.instructions import MERGE_INSTRUCTION_SCHEMA

PENDING = {"source": "bitrix24", "status": PushStatus.PENDING}


def _instructions(city: str = "Пермь") -> pl.DataFrame:
    rows = [
        {
            "instruction_id": f"CL000000000{n}/bitrix24",
            "cluster_id": f"CL000000000{n}",
            "source": "bitrix24",
            "action": "merge",
            "survivor_record_id": f"{n}0",
            "merged_record_ids": [f"{n}1"],
            "set_fields": {"city": city},
            "confidence": 0.995,
            "outcome": "auto_merge",
            "cluster_record_ids": [f"bitrix24:{n}0", f"bitrix24:{n}1"],
        }
        for n in (1, 2, 3)
    ]
    return pl.DataFrame(rows, schema=MERGE_INSTRUCTION_SCHEMA)


def _ids(frame: pl.DataFrame) -> list[str]:
    return sorted(frame["instruction_id"])


def test_a_resumed_push_skips_what_was_applied_and_keeps_the_snapshot(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    instructions = _instructions()
    with duckdb.connect(str(database)) as connection:
        ledger = PushLedger(connection)
        todo = ledger.to_apply(instructions)
        assert _ids(todo) == _ids(instructions)
        first, second, third = todo.iter_rows(named=True)
        for row, outcome in ((first, PushStatus.APPLIED), (second, PushStatus.CONFLICT)):
            key = (row["instruction_id"], row["instruction_version"])
            ledger.record(
                *key, source="bitrix24", status=PushStatus.PENDING, snapshot={"city": "old"}
            )
            ledger.record(*key, source="bitrix24", status=outcome, answer={"result": True})
        # The push stops after sending the third, before its answer.
        ledger.record(
            third["instruction_id"],
            third["instruction_version"],
            **PENDING,
            snapshot={"city": "before"},
        )

    with duckdb.connect(str(database)) as connection:
        ledger = PushLedger(connection)
        # Applied and conflicting instructions are not sent again; the pending one is.
        assert _ids(ledger.to_apply(instructions)) == [third["instruction_id"]]
        key = (third["instruction_id"], third["instruction_version"])
        ledger.record(
            *key, source="bitrix24", status=PushStatus.PENDING, snapshot={"city": "later"}
        )
        ledger.record(*key, source="bitrix24", status=PushStatus.APPLIED, answer={"result": True})
        entry = ledger.entries().filter(pl.col("instruction_id") == third["instruction_id"])
        assert entry.item(0, "attempts") == 2
        assert entry.item(0, "snapshot") == '{"city": "before"}'  # the first, for undo
        assert ledger.to_apply(instructions).is_empty()

        # Tomorrow the golden city changes: the instructions are new versions, sent again.
        changed = _instructions(city="Екатеринбург")
        assert _ids(ledger.to_apply(changed)) == _ids(changed)
