"""Asset values live as tables in the DuckDB warehouse."""

import polars as pl
from dagster import ConfigurableIOManager, InputContext, OutputContext, ResourceDependency

from assets.resources import DuckDBWarehouse

__all__ = ["WarehouseIOManager"]


class WarehouseIOManager(ConfigurableIOManager):
    """Store each polars DataFrame output as a warehouse table named after its asset."""

    warehouse: ResourceDependency[DuckDBWarehouse]

    def handle_output(self, context: OutputContext, obj: pl.DataFrame) -> None:
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame")
        name = "__".join(context.asset_key.path)
        self.warehouse.write_table(name, obj)
        context.add_output_metadata({"warehouse_table": name, "rows": obj.height})

    def load_input(self, context: InputContext) -> pl.DataFrame:
        name = "__".join(context.asset_key.path)
        tables = self.warehouse.read_tables(name)
        if name not in tables:
            raise KeyError(f"the warehouse has no table {name!r}: materialise it first")
        return tables[name]
