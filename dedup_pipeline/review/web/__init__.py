"""The reviewers' web app: decide review proposals in a browser.

Server-rendered pages (FastAPI, Jinja2) over the Parquet files a run exports; decisions go to
the `dedup_pipeline.review.DecisionStore`. The app never opens the DuckDB warehouse, so it can
run while the pipeline does. Start it with::

    import uvicorn
    from dedup_pipeline.config import load_config
    from dedup_pipeline.review.web import create_app

    uvicorn.run(create_app(load_config("configs/sample.yaml")), host="127.0.0.1", port=8000)
"""

from dedup_pipeline.review.web.app import create_app

__all__ = ["create_app"]
