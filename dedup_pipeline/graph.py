"""Connected components of record graphs, in compiled code rather than join loops."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

__all__ = ["connected_components_of"]


def connected_components_of(left: pl.Series, right: pl.Series) -> pl.DataFrame:
    """The connected component of every node of an undirected graph given by its edges.

    Parameters
    ----------
    left, right
        The two ends of each edge (string node ids, same length).

    Returns
    -------
    polars.DataFrame
        ``node`` and ``component`` (the smallest node id of its component), one row per
        node that has an edge.
    """
    nodes = pl.concat([left, right]).unique().sort().rename("node")
    index = nodes.to_frame().with_row_index("index")

    def positions(ends: pl.Series) -> np.ndarray:
        frame = ends.rename("node").to_frame()
        return frame.join(index, on="node", how="left").get_column("index").to_numpy()

    size = nodes.len()
    graph = coo_array(
        (np.ones(left.len(), dtype=np.int8), (positions(left), positions(right))),
        shape=(size, size),
    )
    _, labels = connected_components(graph, directed=False)
    return (
        index.with_columns(label=pl.Series(labels))
        # Nodes are sorted, so a component's first node is its smallest id.
        .with_columns(component=pl.col("node").first().over("label"))
        .select("node", "component")
    )
