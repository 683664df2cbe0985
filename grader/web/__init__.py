"""The web dashboard: server-rendered pages (Jinja2), mounted beside the API by ``grader.server``,
signed in with a server-side session (``grader.users.passwords``, ``grader.users.web_sessions``),
every unsafe request CSRF-checked (``csrf``)."""
