"""Accounts (students, GTAs, lecturers, services) and their API tokens."""
