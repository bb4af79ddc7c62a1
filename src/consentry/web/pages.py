"""Review pages: dashboard, gallery, image detail and its image bytes, persons, problems, audit.

Thin: each route parses the request, calls ``services.review`` with the case handle and the
logged-in account, and renders a template. Forms work without JavaScript (POST, then 303
back); htmx (and ``app.js``) only swap the small tag list in place.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from consentry.services import review
from consentry.services.access import ROLE_TITLES, Account, Action
from consentry.services.case import CaseHandle, ErrorCode, ServiceError
from consentry.web import auth

router = APIRouter()
PRIVATE = {"Cache-Control": "private, no-store"}
AUDIT_PER_PAGE = 200
FILTER_KEYS = ("label", "person", "folder", "provenance", "derivation", "problem", "tag")


def nav_items(account: Account) -> list[tuple[str, str, str]]:
    """(href, label, key) of the pages the account may open."""
    items = [("/", "Dashboard", "dashboard"), ("/gallery", "Gallery", "gallery")]
    items.append(("/persons", "Persons", "persons"))
    items.append(("/problems", "Problems", "problems"))
    items.append(("/requests", "Requests", "requests"))
    if account.can(Action.VIEW_AUDIT):
        items.append(("/audit", "Audit log", "audit"))
    return items


def base_context(request: Request, account: Account | None, active: str) -> dict[str, Any]:
    """What ``base.html`` needs: the account (None: no nav), nav, CSRF token, case name."""
    if account is None:
        info = auth.current_session(request)
        account = info.account if info else None
    h: CaseHandle = request.app.state.case
    return {
        "account": account,
        "role_title": ROLE_TITLES[account.role] if account else "",
        "nav_items": nav_items(account) if account else [],
        "active": active,
        "csrf_token": auth.csrf_token(request) if account else "",
        "case_name": h.path.name,
        "Action": Action,
        "can": (lambda action: account.can(action)) if account else (lambda action: False),
    }


def render(
    request: Request,
    account: Account,
    template: str,
    active: str,
    title: str,
    status_code: int = 200,
    **ctx: Any,
) -> Response:
    context = base_context(request, account, active)
    context["title"] = title
    context.update(ctx)
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(
        request, template, context, status_code=status_code
    )
    return response


def handle_of(request: Request) -> CaseHandle:
    h: CaseHandle = request.app.state.case
    return h


def back_to(value: object, default: str) -> str:
    return auth.safe_next(value if isinstance(value, str) and value else default)


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def is_partial(request: Request) -> bool:
    return bool(request.headers.get("HX-Request") or request.headers.get(auth.CSRF_HEADER))


# -- dashboard and gallery -------------------------------------------------------------------
@router.get("/")
def dashboard_page(request: Request, account: Account = Depends(auth.current_account)) -> Response:
    d = review.dashboard(handle_of(request), account)
    return render(request, account, "dashboard.html", "dashboard", "Dashboard", d=d)


@router.get("/gallery")
def gallery_page(request: Request, account: Account = Depends(auth.current_account)) -> Response:
    q = request.query_params
    values = {k: (q.get(k) or "").strip() or None for k in FILTER_KEYS}
    try:
        page = max(1, int(q.get("page") or "1"))
    except ValueError:
        raise ServiceError(ErrorCode.MISUSE, "page must be a whole number") from None
    f = review.GalleryFilter(
        label=values["label"],
        person=values["person"],
        folder=values["folder"],
        provenance=values["provenance"],
        derivation=values["derivation"],
        problem=values["problem"],
        tag=values["tag"],
        page=page,
    )
    g = review.gallery(handle_of(request), account, f)
    grey = q.get("grey") == "1"
    kept = {k: v for k, v in values.items() if v}
    if grey:
        kept["grey"] = "1"

    def page_url(n: int) -> str:
        from urllib.parse import urlencode

        return "/gallery?" + urlencode({**kept, "page": str(n)})

    return render(
        request,
        account,
        "gallery.html",
        "gallery",
        "Gallery",
        g=g,
        values=values,
        grey=grey,
        page_url=page_url,
        can_tag=account.can(Action.TAG),
        can_reveal=account.can(Action.REVEAL),
    )


# -- one image ---------------------------------------------------------------------------------
@router.get("/images/{sha}")
def image_page(
    request: Request, sha: str, account: Account = Depends(auth.current_account)
) -> Response:
    h = handle_of(request)
    d = review.image_detail(h, account, sha)
    revealed = request.query_params.get("revealed") if d.can_reveal else None
    enrolled: list[review.PersonLine] = []
    if account.can(Action.DECIDE_PERSONS):
        enrolled = [p for p in review.persons_view(h, account).persons if p.kind == "enrolled"]
    return render(
        request,
        account,
        "image.html",
        "gallery",
        f"Image {d.sha256[:12]}",
        d=d,
        revealed=revealed,
        enrolled=enrolled,
    )


def _file(served: review.ServedFile) -> Response:
    return FileResponse(served.path, media_type=served.media_type, headers=PRIVATE)


@router.get("/images/{sha}/thumb")
def thumb(request: Request, sha: str, account: Account = Depends(auth.current_account)) -> Response:
    return _file(review.thumbnail_file(handle_of(request), account, sha))


@router.get("/images/{sha}/faces/{index}")
def face_crop(
    request: Request, sha: str, index: int, account: Account = Depends(auth.current_account)
) -> Response:
    return _file(review.face_crop_file(handle_of(request), account, sha, index))


@router.get("/links/{derived}/{source}/{which}")
def link_render(
    request: Request,
    derived: str,
    source: str,
    which: str,
    account: Account = Depends(auth.current_account),
) -> Response:
    return _file(review.render_file(handle_of(request), account, derived, source, which))


@router.get("/images/{sha}/revealed")
def revealed(
    request: Request, sha: str, account: Account = Depends(auth.current_account)
) -> Response:
    img = review.revealed_image(handle_of(request), account, sha)
    return Response(img.data, media_type=img.media_type, headers=PRIVATE)


@router.post("/images/{sha}/reveal")
async def reveal(
    request: Request, sha: str, account: Account = Depends(auth.current_account)
) -> Response:
    fields = await form_fields(request)
    grant = review.reveal(handle_of(request), account, sha, fields.get("reason", ""))
    from urllib.parse import quote

    return RedirectResponse(
        f"/images/{grant.sha256}?revealed={quote(grant.expires_at)}#revealed", status_code=303
    )


@router.post("/images/{sha}/tags")
async def tags(
    request: Request, sha: str, account: Account = Depends(auth.current_account)
) -> Response:
    fields = await form_fields(request)
    on = fields.get("on", "1").lower() in ("1", "true", "on", "yes")
    now = review.tag_image(handle_of(request), account, sha, fields.get("tag", ""), on)
    if is_partial(request):
        response: Response = request.app.state.templates.TemplateResponse(
            request,
            "_tags.html",
            {
                "sha": sha.lower(),
                "tags": now,
                "tags_all": review.TAGS,
                "can_tag": True,
                "csrf_token": auth.csrf_token(request),
            },
        )
        return response
    return RedirectResponse(back_to(fields.get("back"), f"/images/{sha.lower()}"), status_code=303)


# -- persons -----------------------------------------------------------------------------------
@router.get("/persons")
def persons_page(request: Request, account: Account = Depends(auth.current_account)) -> Response:
    v = review.persons_view(handle_of(request), account)
    return render(request, account, "persons.html", "persons", "Persons", p=v)


@router.post("/persons/decision")
async def persons_decision(
    request: Request, account: Account = Depends(auth.current_account)
) -> Response:
    f = await form_fields(request)
    try:
        index = int(f.get("face_index", ""))
    except ValueError:
        raise ServiceError(ErrorCode.MISUSE, "face index must be a whole number") from None
    review.decide_face(
        handle_of(request),
        account,
        f.get("sha256", ""),
        index,
        f.get("person", ""),
        f.get("decision", ""),
    )
    return RedirectResponse(back_to(f.get("back"), "/persons"), status_code=303)


@router.post("/persons/merge")
async def persons_merge(
    request: Request, account: Account = Depends(auth.current_account)
) -> Response:
    f = await form_fields(request)
    review.merge_groups(handle_of(request), account, f.get("source", ""), f.get("target", ""))
    return RedirectResponse("/persons", status_code=303)


@router.post("/persons/split")
async def persons_split(
    request: Request, account: Account = Depends(auth.current_account)
) -> Response:
    f = await form_fields(request)
    faces: list[tuple[str, int]] = []
    for item in f.get("faces", "").replace(",", " ").split():
        sha, _, idx = item.partition(":")
        try:
            faces.append((sha.strip(), int(idx or "0")))
        except ValueError:
            raise ServiceError(
                ErrorCode.MISUSE, f"{item!r} is not SHA256:INDEX (e.g. 3fa9…:0)"
            ) from None
    code = review.split_group(handle_of(request), account, f.get("person", ""), faces)
    return RedirectResponse(f"/gallery?person={code}", status_code=303)
    return RedirectResponse("/persons", status_code=303)


@router.get("/persons/{code}/hashpack")
def hashpack(
    request: Request, code: str, account: Account = Depends(auth.current_account)
) -> Response:
    d = review.hash_pack(handle_of(request), account, code)
    return Response(
        d.data,
        media_type=d.media_type,
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{d.filename}"'},
    )


# -- problems and audit --------------------------------------------------------------------------
@router.get("/problems")
def problems_page(request: Request, account: Account = Depends(auth.current_account)) -> Response:
    lines = review.problems_view(handle_of(request), account)
    return render(request, account, "problems.html", "problems", "Problems", lines=lines)


@router.get("/audit")
def audit_page(request: Request, account: Account = Depends(auth.current_account)) -> Response:
    a = review.audit_view(handle_of(request), account)
    newest = a.events[::-1]
    pages = max(1, -(-len(newest) // AUDIT_PER_PAGE))
    try:
        page = min(pages, max(1, int(request.query_params.get("page") or "1")))
    except ValueError:
        raise ServiceError(ErrorCode.MISUSE, "page must be a whole number") from None
    events = newest[(page - 1) * AUDIT_PER_PAGE : page * AUDIT_PER_PAGE]
    return render(
        request,
        account,
        "audit.html",
        "audit",
        "Audit log",
        a=a,
        events=events,
        page=page,
        pages=pages,
    )


__all__ = ["base_context", "handle_of", "nav_items", "render", "router"]
