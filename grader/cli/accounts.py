"""Accounts: ``grader users add``, ``users passwd``, ``users unlink-sign-on`` and ``token create``."""

from __future__ import annotations

import sys

import click

from grader.cli.app import gradebook_sessions, main


@main.group()
def users() -> None:
    """Accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["student", "gta", "lecturer", "service"]))
@click.option("--name", default=None, help="display name (default: the username)")
@click.option("--email", default=None)
@click.option(
    "--external-id", default=None, help="students: the course system's id; links (or adds) their roster entry"
)
def users_add(username: str, role: str, name: str | None, email: str | None, external_id: str | None) -> None:
    """Add an account."""
    from sqlalchemy import select

    from grader.roster.models import Student
    from grader.users.models import Role
    from grader.users.service import UserExists, create_user

    if external_id and role != "student":
        raise click.UsageError("--external-id is for students only")
    with gradebook_sessions()() as session:
        try:
            user = create_user(session=session, username=username, role=Role(role), name=name, email=email)
        except UserExists as exc:
            raise click.UsageError(str(exc)) from None
        if external_id:
            student = session.scalars(select(Student).where(Student.external_id == external_id)).first()
            if student is None:
                student = Student(external_id=external_id, name=user.name, email=email)
                session.add(student)
            elif student.user_id is not None:
                session.rollback()
                raise click.UsageError(f"student {external_id} already has an account")
            student.user_id = user.id
            session.commit()
        click.echo(f"added {role} {username} (id {user.id})" + (f", student {external_id}" if external_id else ""))


@users.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input (scripts)")
def users_passwd(username: str, password_stdin: bool) -> None:
    """Set an account's dashboard password (asked for twice, never echoed)."""
    from grader.users.passwords import PasswordRejected, set_password
    from grader.users.service import get_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with gradebook_sessions()() as session:
        user = get_user(session=session, username=username)
        if user is None:
            raise click.UsageError(f"no user {username!r}")
        if user.role.value == "service":
            raise click.UsageError("service accounts sign in with API tokens, not passwords")
        try:
            set_password(session=session, user=user, password=password)
        except PasswordRejected as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(f"password set for {username}")


@users.command("unlink-sign-on")
@click.argument("username", required=False)
@click.option("--all", "every", is_flag=True, help="every linked account (after the provider's app is replaced)")
@click.option("--reason", required=True, help="why (the audit log keeps it): e.g. the email address was reassigned")
def users_unlink_sign_on(username: str | None, every: bool, reason: str) -> None:
    """Unlink an account from the person at the sign-on provider it was bound to at their first
    sign-in, so that the next person the configured claim names there is bound to it instead."""
    from grader.sign_on.accounts import NotBound, unbind, unbind_all

    if not reason.strip():
        raise click.UsageError("--reason must say why")
    if bool(username) == every:
        raise click.UsageError("name one account, or give --all")
    with gradebook_sessions()() as session:
        if every:
            count = unbind_all(session=session, reason=reason.strip())
            click.echo(f"{count} accounts unlinked; each is linked again at its next sign-in")
            return
        assert username is not None
        try:
            issuer, subject = unbind(session=session, username=username, reason=reason.strip())
        except NotBound as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(f"{username} unlinked from {subject!r} at {issuer}; the next sign-in naming it links it again")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("username")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="repeatable: submit, read, mark, release, roster, export (default: every scope)",
)
@click.option("--name", default="cli", show_default=True, help="what the token is for")
@click.option(
    "--view",
    type=click.Choice(["student", "staff"]),
    default=None,
    help="service accounts: 'student' (the default) reads every mark as the student concerned would "
    "see it, before release too; 'staff' reads everything, like a lecturer. Students' tokens are "
    "always 'student', GTAs' and lecturers' always 'staff'.",
)
def token_create(username: str, scopes: tuple[str, ...], name: str, view: str | None) -> None:
    """Create an API token and print it once (only its hash is kept)."""
    from grader.users.service import ALL_SCOPES, create_token, get_user

    with gradebook_sessions()() as session:
        user = get_user(session=session, username=username)
        if user is None:
            raise click.UsageError(f"no user {username!r}")
        try:
            secret, row = create_token(session=session, user=user, name=name, scopes=scopes or (ALL_SCOPES,), view=view)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(secret)
    click.echo(
        f"token {row.id} for {username} (scopes: {', '.join(row.scopes)}; view: {row.view.value}); "
        "it is shown only once.",
        err=True,
    )
