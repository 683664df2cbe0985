"""``grader up``: the whole service on one machine (SQLite, the filesystem broker, one worker).

``demo`` makes the demo accounts, ``processes`` starts, watches and stops the API and worker
processes, ``banner`` says how to reach them, and ``up`` puts it together.
"""
