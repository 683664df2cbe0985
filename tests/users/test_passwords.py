"""Password checks: an account without a usable stored hash never signs in."""

from __future__ import annotations

import pytest

from grader.users.passwords import hash_password, password_matches

DUMMY = "not a password anyone has"  # the text behind passwords._DUMMY_HASH


@pytest.mark.parametrize("stored", [None, ""])
def test_no_stored_hash_lets_nobody_in_not_even_with_the_dummy_password(stored):
    assert not password_matches(stored, DUMMY)
    assert not password_matches(stored, "")


def test_a_stored_hash_accepts_its_password_only():
    stored = hash_password("correct horse battery")
    assert password_matches(stored, "correct horse battery")
    assert not password_matches(stored, "correct horse batterY")
