"""Realistic sample data: CRM exports of the same clients with ground truth.

`generate_sample` writes a Bitrix24 export (cp1251, ``;``), a HubSpot export (UTF-8 with
BOM) and web-form leads (JSON lines) plus ``truth.csv``; see
`dedup_pipeline.samples.generator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dedup_pipeline.samples.generator import BadRow, SampleFiles, generate_sample

__all__ = ["BadRow", "SampleFiles", "generate_sample"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m dedup_pipeline.samples.generator` does not import
    # the module twice (runpy warns when the package already imported it).
    if name in __all__:
        from dedup_pipeline.samples import generator

        return getattr(generator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
