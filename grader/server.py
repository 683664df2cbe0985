"""``create_app(settings)``: the whole HTTP service, the JSON API under /api/v1 and the dashboard's
pages at / with their static files. The composition root that ``grader serve`` (and so ``grader up``
and docker-compose) runs under uvicorn; ``grader.api.app`` alone is the API without the pages.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from grader.api import app as api_app
from grader.blobs import BlobStore
from grader.settings import Settings
from grader.submissions.run_queue import RunQueue
from grader.web import app as web_app

# Every route that receives a submitted file gets settings.upload_max_mb; every other route
# settings.request_max_kb.
UPLOAD_PATHS = api_app.UPLOAD_PATHS + web_app.UPLOAD_PATHS


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    blobs: BlobStore | None = None,
    run_queue: RunQueue | None = None,
) -> FastAPI:
    app = api_app.create_app(settings, engine=engine, blobs=blobs, run_queue=run_queue, upload_paths=UPLOAD_PATHS)
    web_app.mount_web(app)  # the dashboard's pages, at /
    return app
