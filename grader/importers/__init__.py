"""Importing another autograder's assignment (nbgrader, Otter-Grader) as a coursework folder.

Pure domain code: readers turn a source notebook into an ``Imported`` (items, hidden tests, the
two notebooks) or refuse with a report naming each cell they cannot convert; ``writer`` lays the
folder out. The CLI (``grader.cli.importers``) wires them to ``grader rubric check``.
"""
