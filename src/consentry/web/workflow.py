"""Requests pages: the list (overdue first), a new request, one request's timeline and its
status change. The requests service checks roles, scope, transitions and dates."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from consentry.services import requests as req
from consentry.services import review
from consentry.services.access import Account, Action, require
from consentry.web.auth import current_account
from consentry.web.pages import handle_of, render

router = APIRouter()
STATUSES = tuple(s.value for s in req.RequestStatus)


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@router.get("/requests")
def requests_page(
    request: Request, account: Account = Depends(current_account), overdue: str | None = None
) -> Response:
    rows = req.list_requests(handle_of(request), account, overdue_only=overdue == "1")
    return render(
        request,
        account,
        "requests.html",
        "requests",
        "Requests",
        rows=rows,
        overdue=overdue == "1",
        can_add=account.can(Action.MANAGE_REQUESTS) or account.can(Action.ADD_REQUEST_IN_SCOPE),
    )


@router.get("/requests/new")
def new_request_page(request: Request, account: Account = Depends(current_account)) -> Response:
    if not account.can(Action.MANAGE_REQUESTS):
        require(account, Action.ADD_REQUEST_IN_SCOPE)  # a reviewer: 403, not a useless form
    persons = review.persons_view(handle_of(request), account).persons
    return render(
        request,
        account,
        "request_new.html",
        "requests",
        "New request",
        persons=persons,
        kinds=[(k.value, req.KIND_TITLES[k]) for k in req.RequestKind],
    )


@router.post("/requests")
def new_request_submit(
    request: Request,
    kind: str = Form(...),
    person: str = Form(""),
    asked_by: str = Form(""),
    asked_at: str = Form(""),
    owner: str = Form(""),
    detail: str = Form(""),
    account: Account = Depends(current_account),
) -> Response:
    view = req.create_request(
        handle_of(request),
        account,
        _blank(person),
        kind,
        asked_by,
        asked_at=_blank(asked_at),
        owner=_blank(owner),
        detail=_blank(detail),
    )
    return RedirectResponse(f"/requests/{view.code}", status_code=303)


@router.get("/requests/{code}")
def request_page(
    request: Request, code: str, account: Account = Depends(current_account)
) -> Response:
    d = req.request_detail(handle_of(request), account, code)
    return render(
        request,
        account,
        "request.html",
        "requests",
        f"Request {d.view.code}",
        d=d,
        statuses=STATUSES,
        can_manage=account.can(Action.MANAGE_REQUESTS) and d.view.source == "request",
    )


@router.post("/requests/{code}")
def request_update(
    request: Request,
    code: str,
    status: str = Form(""),
    owner: str = Form(""),
    note: str = Form(""),
    decline_reason: str = Form(""),
    account: Account = Depends(current_account),
) -> Response:
    view = req.update_request(
        handle_of(request),
        account,
        code,
        status=_blank(status),
        owner=_blank(owner),
        note=_blank(note),
        decline_reason=_blank(decline_reason),
    )
    return RedirectResponse(f"/requests/{view.code}", status_code=303)


__all__ = ["router"]
