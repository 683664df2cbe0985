"""Webhooks: course systems register a URL and are told, signed, when a submission is graded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from grader.api.deps import CurrentExporter, SessionDep
from grader.api.responses import ERRORS, error
from grader.api.schemas.webhooks import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
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
WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the endpoint's id")]


@router.post("/webhooks", status_code=201, response_model=WebhookCreated,
             responses={**ERRORS, 422: error("a bad URL, a short secret or an unknown event")})
def register_webhook(body: WebhookCreate, session: SessionDep, owner: WebhookManager) -> WebhookCreated:
    """Register an endpoint. Each event is POSTed to it signed with the secret (see docs/webhooks.md)."""
    try:
        endpoint, generated = create_endpoint(session=session, url=body.url, secret=body.secret,
                                              events=body.events, description=body.description,
                                              actor_id=owner.user.id)
    except WebhookError as exc:
        raise HTTPException(422, str(exc)) from None
    return WebhookCreated(**WebhookRead.model_validate(endpoint).model_dump(), secret=generated)


@router.get("/webhooks", response_model=list[WebhookRead], responses=ERRORS)
def list_webhooks(session: SessionDep, owner: WebhookManager) -> list[WebhookRead]:
    """Every registered endpoint (secrets are never shown again)."""
    return [WebhookRead.model_validate(e) for e in list_endpoints(session=session)]


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response, responses=ERRORS)
def remove_webhook(webhook_id: WebhookId, session: SessionDep, owner: WebhookManager) -> Response:
    """Remove an endpoint; deliveries still waiting for it are dropped."""
    if not delete_endpoint(session=session, endpoint_id=webhook_id, actor_id=owner.user.id):
        raise HTTPException(404, f"no webhook {webhook_id}.")
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryRead], responses=ERRORS)
def webhook_deliveries(
    webhook_id: WebhookId, session: SessionDep, owner: WebhookManager,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[DeliveryRead]:
    """An endpoint's most recent deliveries, newest first: status, attempts, the last error."""
    if get_endpoint(session=session, endpoint_id=webhook_id) is None:
        raise HTTPException(404, f"no webhook {webhook_id}.")
    return [DeliveryRead.model_validate(d) for d in recent_deliveries(session=session, endpoint_id=webhook_id,
                                                                       limit=limit)]
