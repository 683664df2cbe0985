"""Webhooks: course systems register a URL and are told, signed, when a submission is graded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from grader.api.responses import ERRORS, error
from grader.api.schemas.webhooks import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from grader.http.deps import CurrentExporter, SessionDep, SettingsDep
from grader.users.models import TokenView
from grader.users.service import TokenOwner
from grader.webhooks.egress import EgressPolicy
from grader.webhooks.sealing import NoSecretKey, SecretBox
from grader.webhooks.service import (
    WebhookError,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    recent_deliveries,
)

router = APIRouter(tags=["webhooks"])

# A webhook sends marks out of the service, so it takes the right to export them: lecturers and
# service accounts, with the 'export' scope.
WebhookManager = CurrentExporter


def _view(owner: TokenOwner) -> TokenView:
    """The view an endpoint registered by this caller gets: the caller's own."""
    return TokenView.student if owner.student_view else TokenView.staff


def _only(owner: TokenOwner) -> TokenView | None:
    """What a caller may list: a student-view token only endpoints registered with that view
    (a staff endpoint's deliveries carry full scores); staff everything."""
    return TokenView.student if owner.student_view else None


WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the endpoint's id")]


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    responses={
        **ERRORS,
        422: error("a bad URL (or one naming an internal address), a short secret or an unknown event"),
        503: error("the service has no secret key to seal the secret with"),
    },
)
def register_webhook(
    body: WebhookCreate, session: SessionDep, settings: SettingsDep, owner: WebhookManager
) -> WebhookCreated:
    """Register an endpoint. Each event is POSTed to it signed with the secret (see docs/webhooks.md).
    An endpoint registered with a student-view token is sent the student's view."""
    try:
        endpoint, generated = create_endpoint(
            session=session,
            box=SecretBox.from_settings(settings),
            url=body.url,
            secret=body.secret,
            events=body.events,
            description=body.description,
            actor_id=owner.user.id,
            view=_view(owner),
            egress=EgressPolicy.from_settings(settings),
        )
    except WebhookError as exc:
        raise HTTPException(422, str(exc)) from None
    except NoSecretKey as exc:
        raise HTTPException(503, str(exc)) from None
    return WebhookCreated(**WebhookRead.model_validate(endpoint).model_dump(), secret=generated)


@router.get("/webhooks", response_model=list[WebhookRead], responses=ERRORS)
def list_webhooks(session: SessionDep, owner: WebhookManager) -> list[WebhookRead]:
    """Every registered endpoint (secrets are never shown again)."""
    return [WebhookRead.model_validate(e) for e in list_endpoints(session=session, view=_only(owner))]


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response, responses=ERRORS)
def remove_webhook(webhook_id: WebhookId, session: SessionDep, owner: WebhookManager) -> Response:
    """Remove an endpoint; deliveries still waiting for it are dropped."""
    if not delete_endpoint(session=session, endpoint_id=webhook_id, actor_id=owner.user.id, view=_only(owner)):
        raise HTTPException(404, f"no webhook {webhook_id}.")
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryRead], responses=ERRORS)
def webhook_deliveries(
    webhook_id: WebhookId,
    session: SessionDep,
    owner: WebhookManager,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[DeliveryRead]:
    """An endpoint's most recent deliveries, newest first: status, attempts, the last error."""
    if get_endpoint(session=session, endpoint_id=webhook_id, view=_only(owner)) is None:
        raise HTTPException(404, f"no webhook {webhook_id}.")
    return [
        DeliveryRead.model_validate(d) for d in recent_deliveries(session=session, endpoint_id=webhook_id, limit=limit)
    ]
