"""One router per concept; ``api_router`` gathers those under /api/v1."""
