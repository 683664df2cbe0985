"""The accessibility checks of the dashboard (docs/accessibility.md): which pages there are, read from
the app itself, who each one is for, and axe-core run inside a page.

Pages are the dashboard's GET routes (``grader.web``'s routers; the API and its docs aside). Each is
for the roles its guard names (``require_roles``), every signed-in role when it asks only for a
signed-in user, and nobody signed in when it asks for neither (the sign-in page). A route added later
is found here on its own: a new path parameter needs a value in the test's ``world`` fixture, and a
route that answers with something other than a page (a download, JSON for a page's script, a
redirect) needs an entry in ``NOT_PAGES`` saying why.
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from grader.users.models import Role
from grader.web.app import API_PATHS
from grader.web.deps import web_user

AXE_JS = Path(os.environ.get("GRADER_AXE_DIR", "/opt/grader/axe")) / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2, levels A and AA, and axe's best practices (landmarks, headings, regions).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
FAILING_IMPACTS = {"serious", "critical"}
# Best-practice rules axe rates "moderate" that the dashboard keeps anyway: one main landmark, all
# content in landmarks, one h1, headings in order, unique landmarks.
ALSO_FAILING = {"landmark-one-main", "region", "page-has-heading-one", "heading-order", "landmark-unique"}

ANONYMOUS = "anonymous"
ROLES = [ANONYMOUS, Role.student.value, Role.gta.value, Role.lecturer.value]  # "service" never signs in here

# Routes that answer with something other than an HTML page, and why; their output is checked
# where a page shows it.
NOT_PAGES = {
    "/lecturer/courseworks/{cw}/progress": "JSON polled by the coursework page, which shows its HTML",
    "/lecturer/courseworks/{cw}/export.csv": "a CSV download",
    "/lecturer/module/registry.csv": "a CSV download",
    "/lecturer/module/items.csv": "a CSV download",
    "/staff/courseworks/{cw}/rows": "JSON polled by the overview page, which shows its rows",
    "/staff/submissions/{submission_id}/next": "a redirect to the next marking page",
    "/staff/submissions/{submission_id}/marks/{item_id}/history": "JSON for the marking page's history",
    "/staff/submissions/{submission_id}/notebook": "a notebook download (.ipynb)",
    "/staff/runs/{run_id}/artifacts/{name}": "an image, shown with its alt text on the marking page",
    "/submissions/{submission_id}/status": "JSON polled by the submission page, which shows its HTML",
    "/login/sso": "a redirect to the OpenID provider (404 where sign-on is not configured)",
    "/login/sso/callback": "the provider's redirect back; its refusal page is checked in tests/web/test_web_sign_on.py",
}

PARAM = re.compile(r"{(\w+)(?::\w+)?}")


@dataclass(frozen=True)
class PageRoute:
    path: str
    roles: frozenset[str]  # who the page is for (ROLES)

    def url(self, params: dict[str, str]) -> str:
        missing = [name for name in PARAM.findall(self.path) if name not in params]
        assert not missing, (
            f"{self.path}: give the path parameter(s) {missing} a value in the world fixture (and NOBODYS) of "
            "tests/web/test_web_a11y_browser.py"
        )
        return PARAM.sub(lambda m: params[m[1]], self.path)


def _calls(dependant) -> list:
    """Every dependency callable of a route, nested ones included."""
    out = []
    for sub in dependant.dependencies:
        out += [sub.call, *_calls(sub)]
    return out


def _roles_of(route) -> frozenset[str]:
    calls = _calls(route.dependant)
    for call in calls:  # a require_roles guard keeps its roles in its closure
        roles = inspect.getclosurevars(call).nonlocals.get("roles") if inspect.isfunction(call) else None
        if roles:
            return frozenset(Role(r).value for r in roles)
    if web_user in calls:
        return frozenset(ROLES) - {ANONYMOUS}
    return frozenset({ANONYMOUS})


def dashboard_get_routes(app) -> list[PageRoute]:
    """Every GET route of the dashboard, with the roles it is for."""
    found = {}
    for context in iter_route_contexts(app.routes):
        route = context.route
        if isinstance(route, Mount) or "GET" not in (context.methods or set()):
            continue
        if context.path.startswith(API_PATHS) or not hasattr(route, "dependant"):
            continue
        found[context.path] = PageRoute(context.path, _roles_of(route))
    return sorted(found.values(), key=lambda r: r.path)


def page_routes(app) -> list[PageRoute]:
    """The dashboard's pages: its GET routes less NOT_PAGES (every entry of which must still exist)."""
    routes = dashboard_get_routes(app)
    stale = set(NOT_PAGES) - {r.path for r in routes}
    assert not stale, f"NOT_PAGES names routes the app no longer has: {sorted(stale)}"
    return [r for r in routes if r.path not in NOT_PAGES]


def install_axe(context) -> None:
    """axe-core in every page the browser context opens (an init script: the pages' CSP allows no
    inline script, and an init script is the browser's, not the page's)."""
    if not AXE_JS.is_file():
        raise AssertionError(f"{AXE_JS} is missing: run scripts/ensure_axe.sh (make services does)")
    context.add_init_script(path=str(AXE_JS))


def axe_problems(page) -> list[str]:
    """The page's failing axe results, one line per rule and element (empty when the page passes)."""
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: "tag", values: tags}, iframes: false,
                                                resultTypes: ["violations"]});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.map(n => [n.target.join(" "), n.failureSummary])}));
        }""",
        AXE_TAGS,
    )
    lines = []
    for v in result:
        if v["impact"] in FAILING_IMPACTS or v["id"] in ALSO_FAILING:
            for target, summary in v["nodes"]:
                lines.append(f"{v['id']} ({v['impact']}): {v['help']} at {target}: {summary}")
    return lines
