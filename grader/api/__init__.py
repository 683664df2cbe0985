"""The REST API under /api/v1 (FastAPI). ``create_app(settings)`` builds it."""
