"""How each role's fuzzer gets past 401 and 404: schemathesis hooks that mix realistic values (seeded
ids, coursework codes, the roster's external ids, a valid notebook) into what it generates, and one
explicit, fully valid request per operation (``before_add_examples``), so every operation a role may
call is sure to answer 2xx at least once whatever the random draws.
"""

from __future__ import annotations

from typing import Any

from fuzz_kit import PENALTIES, ROLES, Seeded, notebook
from hypothesis import strategies as st

ACTING_HEADER = "x-on-behalf-of"
# The external id each role names in X-On-Behalf-Of: a service token acts for any student on the
# roster; a student names only themselves (or nothing).
ACTING_FOR = {"service": ["s1", "s2", "s3"], "service_staff": ["s1", "s2", "s3"], "student": ["s1"]}
NOTEBOOK = notebook("z = 3")
QUERY_ITEM = {"student": "essay", "service": "secret", "service_staff": "later"}  # one open query per item


def _mostly(known: list, generated: Any) -> st.SearchStrategy:
    """Three draws in four from the known values, the fourth the fuzzer's own."""
    if not known:
        return st.just(generated)
    return st.integers(0, 3).flatmap(lambda n: st.just(generated) if n == 0 else st.sampled_from(known))


def _header_names(context: Any) -> set[str]:
    """The header parameters the operation declares, lower-cased."""
    op = context.operation
    return (
        {p["name"].lower() for p in op.definition.raw.get("parameters", []) if p.get("in") == "header"}
        if op is not None
        else set()
    )


def _operation_name(context: Any) -> str:
    op = context.operation
    return f"{op.method.upper()} {op.path}" if op is not None else ""


def install_hooks(schema: Any, seeded: Seeded, role: str) -> None:
    """Register this role's hooks on its schema (never globally: each role has its own schema)."""
    assert role in ROLES
    known = seeded.path_values()

    pairs = [(seeded.submissions[label], run_id) for label, run_id in seeded.runs.items()]

    def realistic(params: dict, deleting: bool) -> st.SearchStrategy:
        # Deletes target their own webhooks, so the one whose deliveries are read stays: the last,
        # as the coverage phase deletes id 1 (the schema's minimum) itself.
        values = {**known, "webhook_id": seeded.webhooks[:-1] if deleting else seeded.webhooks[-1:]}
        fields = {name: _mostly(values.get(name, []), value) for name, value in params.items()}
        if "submission_id" in params and "run_id" in params:  # a run belongs to one submission: draw both
            pair = _mostly(pairs, (params["submission_id"], params["run_id"]))
            rest = {k: v for k, v in fields.items() if k not in ("submission_id", "run_id")}
            return st.tuples(pair, st.fixed_dictionaries(rest)).map(
                lambda t: {**t[1], "submission_id": t[0][0], "run_id": t[0][1]}
            )
        return st.fixed_dictionaries(fields)

    @schema.hook
    def before_generate_path_parameters(context, strategy):
        deleting = context.operation is not None and context.operation.method.upper() == "DELETE"
        return strategy.flatmap(
            lambda params: realistic(params, deleting) if isinstance(params, dict) else st.just(params)
        )

    acting = ACTING_FOR.get(role, [])

    @schema.hook
    def before_generate_headers(context, strategy):
        def mix(headers):
            if not isinstance(headers, dict) or not acting or ACTING_HEADER not in _header_names(context):
                return st.just(headers)
            rest = {k: v for k, v in headers.items() if k.lower() != ACTING_HEADER}
            original = next((v for k, v in headers.items() if k.lower() == ACTING_HEADER), None)
            return _mostly(acting, original).map(
                lambda value: {**rest, ACTING_HEADER: value} if value is not None else rest
            )

        return strategy.flatmap(mix)

    @schema.hook
    def before_generate_body(context, strategy):
        if _operation_name(context) == "POST /api/v1/courseworks/{cw}/submissions":
            return st.one_of(strategy, st.just({"file": NOTEBOOK}))
        return strategy

    @schema.hook
    def before_add_examples(context, examples):
        case = valid_case(context.operation, seeded, role)
        if case is not None:
            examples.append(case)


def _valid_request(method_path: str, seeded: Seeded, role: str) -> dict[str, Any] | None:
    """One request this role may make with success, or None where no 2xx is possible for it."""
    graded = (
        seeded.submissions["alice-cwa-graded"]
        if not role.startswith("service")
        else seeded.submissions["bob-cwa-graded"]
    )
    released = seeded.submissions["alice-cwb-graded"]
    acting = {ACTING_HEADER: "s1"} if role.startswith("service") else {}
    webhook = seeded.webhooks[0]
    requests: dict[str, dict[str, Any]] = {
        "POST /api/v1/courseworks/{cw}/submissions": dict(
            path_parameters={"cw": "cwa"}, headers=acting, body={"file": NOTEBOOK}, media_type="multipart/form-data"
        ),
        "GET /api/v1/submissions/{submission_id}": dict(path_parameters={"submission_id": graded}),
        "GET /api/v1/submissions/{submission_id}/file": dict(path_parameters={"submission_id": graded}),
        "GET /api/v1/courseworks/{cw}/submissions/mine": dict(path_parameters={"cw": "cwa"}, headers=acting),
        "POST /api/v1/submissions/{submission_id}/regrade": dict(path_parameters={"submission_id": graded}),
        "GET /api/v1/submissions/{submission_id}/runs/{run_id}/artifacts": dict(
            path_parameters={"submission_id": released, "run_id": seeded.runs["alice-cwb-graded"]}
        ),
        "GET /api/v1/submissions/{submission_id}/runs/{run_id}/artifacts/{name}": dict(
            path_parameters={"submission_id": released, "run_id": seeded.runs["alice-cwb-graded"], "name": "grid"}
        ),
        "GET /api/v1/courseworks/{cw}/marks/mine": dict(path_parameters={"cw": "cwb"}, headers=acting),
        "GET /api/v1/courseworks/{cw}/marks": dict(path_parameters={"cw": "cwa"}),
        "POST /api/v1/courseworks/{cw}/release": dict(
            path_parameters={"cw": "cwa"}, body={"note": "fuzz"}, media_type="application/json"
        ),
        "GET /api/v1/courseworks/{cw}/export.csv": dict(path_parameters={"cw": "cwa"}),
        "GET /api/v1/submissions/{submission_id}/marking": dict(path_parameters={"submission_id": graded}),
        "PUT /api/v1/submissions/{submission_id}/marks/{item_id}": dict(
            path_parameters={"submission_id": graded, "item_id": "essay"},
            body={"score": 3.5, "comment": "clear", "expected_version": None},
            media_type="application/json",
        ),
        "GET /api/v1/submissions/{submission_id}/marks/{item_id}/history": dict(
            path_parameters={"submission_id": graded, "item_id": "shown"}
        ),
        "PUT /api/v1/submissions/{submission_id}/penalties/{penalty_id}": dict(
            path_parameters={"submission_id": graded, "penalty_id": PENALTIES[0]},
            body={"applied": True, "comment": "no labels", "expected_version": None},
            media_type="application/json",
        ),
        "POST /api/v1/submissions/{submission_id}/counting": dict(
            path_parameters={"submission_id": graded}, body={"reason": "the better one"}, media_type="application/json"
        ),
        "DELETE /api/v1/submissions/{submission_id}/counting": dict(path_parameters={"submission_id": graded}),
        "POST /api/v1/submissions/{submission_id}/priority": dict(path_parameters={"submission_id": graded}),
        "GET /api/v1/courseworks/{cw}/duplicates": dict(path_parameters={"cw": "cwa"}),
        "POST /api/v1/roster": dict(
            body={"students": [{"external_id": "s9", "name": "Dana", "email": None}]}, media_type="application/json"
        ),
        # The roster: s3 (who never submits) is withdrawn, then reinstated (a no-op if not withdrawn).
        "GET /api/v1/roster": dict(),
        "PUT /api/v1/roster/{external_id}/withdrawal": dict(
            path_parameters={"external_id": "s3"},
            body={"on": "2026-03-02", "reason": "left the course"},
            media_type="application/json",
        ),
        "DELETE /api/v1/roster/{external_id}/withdrawal": dict(path_parameters={"external_id": "s3"}),
        # Erasure wants the id twice (``confirm``) and a withdrawn student: s4, withdrawn at the seed.
        "POST /api/v1/roster/{external_id}/erasure": dict(
            path_parameters={"external_id": "s4"},
            body={"reason": "the student asked", "confirm": "s4"},
            media_type="application/json",
        ),
        "GET /api/v1/webhooks": dict(),
        "POST /api/v1/webhooks": dict(
            body={"url": "https://course.example.org/new", "events": ["submission.graded"], "description": "fuzz"},
            media_type="application/json",
        ),
        "DELETE /api/v1/webhooks/{webhook_id}": dict(path_parameters={"webhook_id": webhook}),
        "GET /api/v1/webhooks/{webhook_id}/deliveries": dict(
            path_parameters={"webhook_id": seeded.webhooks[-1]}, query={"limit": 10}
        ),
        # Extensions: the seed granted every student one (and waived their penalty) on both courseworks.
        "GET /api/v1/courseworks/{cw}/extensions": dict(path_parameters={"cw": "cwa"}),
        "PUT /api/v1/courseworks/{cw}/extensions/{external_id}": dict(
            path_parameters={"cw": "cwa", "external_id": "s1"},
            body={"deadline": "+1440 minutes", "reason": "flu"},
            media_type="application/json",
        ),
        "DELETE /api/v1/courseworks/{cw}/extensions/{external_id}": dict(
            path_parameters={"cw": "cwb", "external_id": "s3"}
        ),
        "PUT /api/v1/courseworks/{cw}/mitigations/{external_id}": dict(
            path_parameters={"cw": "cwa", "external_id": "s1"},
            body={"reason": "hospital"},
            media_type="application/json",
        ),
        "DELETE /api/v1/courseworks/{cw}/mitigations/{external_id}": dict(
            path_parameters={"cw": "cwb", "external_id": "s3"}
        ),
        "POST /api/v1/courseworks/{cw}/extensions/cohort": dict(
            path_parameters={"cw": "cwa"},
            body={"deadline": "+2 hours", "reason": "upload outage"},
            media_type="application/json",
        ),
        "POST /api/v1/extensions/import": dict(body={"csv": "s2,cwa,+2 days,illness\n"}, media_type="application/json"),
        "GET /api/v1/courseworks/{cw}/deadline/mine": dict(path_parameters={"cw": "cwa"}, headers=acting),
        # Queries: cwb is released and takes them; each student-side role queries its own item of
        # alice's (one open query per item), each marker answers the seeded query that is theirs.
        "POST /api/v1/courseworks/{cw}/queries": dict(
            path_parameters={"cw": "cwb"},
            headers=acting,
            body={"item_id": QUERY_ITEM.get(role, "essay"), "message": "please look again"},
            media_type="application/json",
        ),
        "GET /api/v1/courseworks/{cw}/queries/mine": dict(path_parameters={"cw": "cwb"}, headers=acting),
        "GET /api/v1/courseworks/{cw}/queries": dict(path_parameters={"cw": "cwa"}, query={"status": "all"}),
        "POST /api/v1/queries/{query_id}/answer": dict(
            path_parameters={"query_id": seeded.queries.get(role, seeded.queries["lecturer"])},
            body={"answer": "looked again: it stands"},
            media_type="application/json",
        ),
        "PUT /api/v1/courseworks/{cw}/query-window": dict(
            path_parameters={"cw": "cwb"}, body={"days": 30}, media_type="application/json"
        ),
        # Regrade previews, in the document's order: a start on cwa (preview 2), the seeded cwb
        # preview read and applied (its run failed: it changes 0 marks), then the new one discarded.
        "POST /api/v1/courseworks/{cw}/regrade-previews": dict(path_parameters={"cw": "cwa"}),
        "GET /api/v1/courseworks/{cw}/regrade-previews": dict(path_parameters={"cw": "cwb"}),
        "GET /api/v1/courseworks/{cw}/regrade-previews/{preview_id}": dict(
            path_parameters={"cw": "cwb", "preview_id": seeded.previews[0]}
        ),
        "POST /api/v1/courseworks/{cw}/regrade-previews/{preview_id}/apply": dict(
            path_parameters={"cw": "cwb", "preview_id": seeded.previews[0]},
            body={"changed": 0},
            media_type="application/json",
        ),
        "POST /api/v1/courseworks/{cw}/regrade-previews/{preview_id}/discard": dict(
            path_parameters={"cw": "cwa", "preview_id": seeded.previews[0] + 1}
        ),
        "GET /api/v1/courseworks/{cw}/similarity": dict(path_parameters={"cw": "cwa"}),
        "GET /api/v1/courseworks/{cw}/similarity/compare": dict(
            path_parameters={"cw": "cwa"},
            query={"a": seeded.submissions["alice-cwa-graded"], "b": seeded.submissions["bob-cwa-graded"]},
        ),
        "GET /api/v1/courseworks/{cw}/feedback/{external_id}": dict(path_parameters={"cw": "cwb", "external_id": "s1"}),
        "GET /api/v1/courseworks/{cw}/submissions/by-reference": dict(
            path_parameters={"cw": "cwa"}, query={"cate_submission_id": "cate-000123"}
        ),
        "GET /api/v1/health": dict(),
        "GET /metrics": dict(),
    }
    return requests.get(method_path)


def valid_case(operation: Any, seeded: Seeded, role: str) -> Any:
    request = _valid_request(f"{operation.method.upper()} {operation.path}", seeded, role)
    if request is None:
        return None
    # Explicit cases do not get the schema's configured headers: the token goes in here.
    request["headers"] = {**request.get("headers", {}), **seeded.headers(role)}
    return operation.Case(**request)
