"""Property-based fuzzing of the whole REST API, driven by its own OpenAPI document, against a
running ``grader serve``, once per role (student, GTA, lecturer, and a course system's service
token acting for a student: one with the default student view, one made with the staff view).
schemathesis sends the document's examples, its coverage cases (boundaries, missing and
wrong-typed fields) and random valid and invalid requests; every answer must be:

- never a 5xx;
- a status code, content type, headers and body the document declares for that operation;
- a 4xx for a request the document says is invalid, with a ``detail`` sentence (checked below);

and after each run every operation the role may call has answered 2xx at least once (the rest
are listed in ``NO_SUCCESS_FOR`` with the reason), and the gradebook holds nothing half-stored:
every receipt's submission row, every row's blob with the bytes received, its grading run queued.
"""

from __future__ import annotations

import hypothesis
import pytest
from fuzz_kit import HIDDEN_ARTIFACT, HIDDEN_MESSAGE, ROLES, Tally, fuzz_examples, gradebook_problems
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test  # the builder the pytest plugin uses
from schemathesis.specs.openapi import checks as openapi_checks

# What each role can never get a 2xx from, and why: the route's guard (deps.py) refuses the role.
STUDENT_ONLY = (
    "POST /api/v1/courseworks/{cw}/submissions",
    "GET /api/v1/courseworks/{cw}/submissions/mine",
    "GET /api/v1/courseworks/{cw}/marks/mine",
    "GET /api/v1/courseworks/{cw}/deadline/mine",
    "GET /api/v1/module/marks/mine",
    "POST /api/v1/courseworks/{cw}/queries",
    "GET /api/v1/courseworks/{cw}/queries/mine",
)  # a student's own, or a service token acting for one
MARKER = (
    "POST /api/v1/submissions/{submission_id}/regrade",
    "GET /api/v1/submissions/{submission_id}/marking",
    "PUT /api/v1/submissions/{submission_id}/marks/{item_id}",
    "GET /api/v1/submissions/{submission_id}/marks/{item_id}/history",
    "PUT /api/v1/submissions/{submission_id}/penalties/{penalty_id}",
    "GET /api/v1/courseworks/{cw}/duplicates",
    "GET /api/v1/courseworks/{cw}/extensions",
    "GET /api/v1/courseworks/{cw}/queries",
    "POST /api/v1/queries/{query_id}/answer",
)  # GTAs and lecturers
LECTURER = (
    "POST /api/v1/courseworks/{cw}/release",
    "POST /api/v1/submissions/{submission_id}/counting",
    "DELETE /api/v1/submissions/{submission_id}/counting",
    "POST /api/v1/submissions/{submission_id}/priority",
    "PUT /api/v1/courseworks/{cw}/extensions/{external_id}",
    "DELETE /api/v1/courseworks/{cw}/extensions/{external_id}",
    "PUT /api/v1/courseworks/{cw}/mitigations/{external_id}",
    "DELETE /api/v1/courseworks/{cw}/mitigations/{external_id}",
    "POST /api/v1/extensions/import",
    "POST /api/v1/roster/{external_id}/erasure",
    "POST /api/v1/courseworks/{cw}/extensions/cohort",
    "PUT /api/v1/courseworks/{cw}/query-window",
)  # lecturers alone
EXPORTER = (
    "GET /api/v1/courseworks/{cw}/export.csv",
    "POST /api/v1/roster",
    "GET /api/v1/roster",
    "PUT /api/v1/roster/{external_id}/withdrawal",
    "DELETE /api/v1/roster/{external_id}/withdrawal",
    "GET /api/v1/webhooks",
    "POST /api/v1/webhooks",
    "DELETE /api/v1/webhooks/{webhook_id}",
    "GET /api/v1/webhooks/{webhook_id}/deliveries",
)  # lecturers and service accounts
MODULE = (
    "GET /api/v1/module/marks",
    "GET /api/v1/module/registry.csv",
    "GET /api/v1/module/items.csv",
    "POST /api/v1/module/exam-marks",
    "POST /api/v1/module/release",
)  # lecturers alone: every student's module marks
PREVIEWS = (
    "POST /api/v1/courseworks/{cw}/regrade-previews",
    "GET /api/v1/courseworks/{cw}/regrade-previews",
    "GET /api/v1/courseworks/{cw}/regrade-previews/{preview_id}",
    "POST /api/v1/courseworks/{cw}/regrade-previews/{preview_id}/apply",
    "POST /api/v1/courseworks/{cw}/regrade-previews/{preview_id}/discard",
)  # lecturers alone (a regrade preview on a fixed suite)
SIMILARITY = (
    "GET /api/v1/courseworks/{cw}/similarity",
    "GET /api/v1/courseworks/{cw}/similarity/compare",
)  # lecturers alone (other students' code side by side)
STAFF_READ = ("GET /api/v1/courseworks/{cw}/marks",)  # GTAs, lecturers, service accounts
COURSE_SYSTEM = (
    "GET /api/v1/courseworks/{cw}/feedback/{external_id}",
    "GET /api/v1/courseworks/{cw}/submissions/by-reference",
)  # service accounts and lecturers
METRICS = ("GET /metrics",)  # the metrics token or a staff API token (GTA, lecturer, service account)
LECTURER_ALONE = LECTURER + MODULE + PREVIEWS + SIMILARITY
NO_SUCCESS_FOR = {
    "student": set(MARKER + LECTURER_ALONE + EXPORTER + STAFF_READ + METRICS + COURSE_SYSTEM),
    "gta": set(STUDENT_ONLY + LECTURER_ALONE + EXPORTER + COURSE_SYSTEM),
    "lecturer": set(STUDENT_ONLY),
    "service": set(MARKER + LECTURER_ALONE),
    "service_staff": set(MARKER + LECTURER_ALONE),
}

CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.missing_required_header,
    openapi_checks.ignored_auth,
]


@pytest.fixture
def tally() -> Tally:
    return Tally()


def error_has_a_sentence(ctx, response, case) -> None:
    """Every 4xx says what was wrong, in words: ``{"detail": "<a sentence>"}``."""
    if 400 <= response.status_code < 500:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
        assert isinstance(detail, str) and len(detail.split()) >= 3, (
            f"a {response.status_code} without a sentence in 'detail': {response.text[:300]}"
        )


def no_hidden_message(ctx, response, case) -> None:
    """The visibility rule: a hidden item's message reaches no student, before or after release."""
    assert HIDDEN_MESSAGE.encode() not in response.content, "a hidden item's message was shown to a student"


def no_hidden_artifact(ctx, response, case) -> None:
    """The same rule for pictures: a hidden item's artifact is neither listed nor served to a student."""
    if not 200 <= response.status_code < 300:
        return
    path = case.operation.path
    if path.endswith("/artifacts/{name}"):
        assert (case.path_parameters or {}).get("name") != HIDDEN_ARTIFACT, "a hidden item's artifact was served"
    elif path.endswith("/artifacts"):
        names = [a.get("name") for a in response.json() if isinstance(a, dict)]
        assert HIDDEN_ARTIFACT not in names, "a hidden item's artifact was listed to a student"


def fuzz_operation(operation, tally: Tally, auth: dict[str, str], role: str) -> str | None:
    """Run schemathesis's phases (examples, coverage, fuzzing) on one operation; None when every
    answer passed every check, else the report of what failed."""
    label = f"{operation.method.upper()} {operation.path}"
    checks = CHECKS + [error_has_a_sentence]
    # A student, and a student-view service token on every route (each read shows what the student
    # concerned may see); a staff-view one only where it acts for a student.
    if role in ("student", "service") or (role == "service_staff" and label in STUDENT_ONLY):
        checks += [no_hidden_message, no_hidden_artifact]

    def check(case) -> None:
        response = case.call()  # the role's token comes from the schema's config headers
        try:
            body = response.json()
        except ValueError:
            body = None
        tally.record(f"{case.operation.method.upper()} {case.operation.path}", response.status_code, body)
        # Named as the credentials sent, so ``ignored_auth`` retries without them and with a wrong token.
        case.validate_response(response, checks=checks, headers=auth)

    settings = hypothesis.settings(
        max_examples=fuzz_examples(), deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    test = build_operation_test(
        config=operation.schema.config,
        operation=operation,
        test_func=check,
        given_kwargs={},
        feedback=FeedbackSources(),
        explicit_settings=settings,
    )
    try:
        test()
    except (Exception, BaseExceptionGroup) as exc:  # failed checks: keep going, report every operation
        return f"{operation.label}: {exc}"
    return None


@pytest.mark.parametrize("role", ROLES)
def test_api_fuzz(role: str, api_schema, seeded, tally: Tally, fuzz_sessions, fuzz_blobs, server_log) -> None:
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert len(operations) >= 20, "the OpenAPI document lost its operations"
    failures = [f for f in (fuzz_operation(op, tally, seeded.headers(role), role) for op in operations) if f]
    assert not failures, (
        f"{role}: {len(failures)} operations failed their checks (server log: {server_log}; "
        f"replay with GRADER_FUZZ_SEED={api_schema.config.seed})\n\n" + "\n\n".join(failures)
    )

    labels = [f"{op.method.upper()} {op.path}" for op in operations]
    never = sorted(op for op in labels if op not in NO_SUCCESS_FOR[role] and tally.successes(op) == 0)
    assert not never, f"{role}: these operations never answered 2xx: " + "; ".join(
        f"{op} {dict(tally.statuses[op])}" for op in never
    )
    # The other side of the same list: a route's guard lets no other role through.
    let_through = sorted(op for op in NO_SUCCESS_FOR[role] if tally.successes(op))
    assert not let_through, f"{role} got 2xx from: " + "; ".join(
        f"{op} {dict(tally.statuses[op])}" for op in let_through
    )
    problems = gradebook_problems(fuzz_sessions, fuzz_blobs, tally.receipts)
    assert not problems, "half-stored after the fuzz run: " + "; ".join(problems[:20])
