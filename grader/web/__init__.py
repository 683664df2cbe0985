"""The web dashboard: server-rendered pages (Jinja2) on the API's FastAPI app, signed in with a
server-side session (``auth``, ``sessions``), every unsafe request CSRF-checked (``csrf``)."""
