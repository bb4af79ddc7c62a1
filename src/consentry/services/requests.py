"""Victims' requests and the measures taken: recording them, moving them along their steps,
and when each step is due by the case's policy (``policy.yaml``).

A request goes requested -> acknowledged -> offered -> implemented; ``offered`` may be skipped;
``declined`` (with a reason) ends any open request; implemented and declined are final. Its due
date is the deadline of its next step, counted in working days from the request (``asked_at``).
Every change is a ``request_events`` row and an audit event (``request_created`` /
``request_updated``), written under the case lock. Takedown notices (``consentry notice``) are
listed beside the requests with their 48-hour removal clocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from consentry.services.access import Account, Action, not_found, require
from consentry.services.case import CaseHandle, ErrorCode, ServiceError

POLICY_FILE = "policy.yaml"


class RequestKind(StrEnum):
    DISCIPLINARY_REVIEW = "disciplinary_review"
    INTERIM_MEASURE = "interim_measure"
    NOTIFY_TUTORS = "notify_tutors"
    TAKEDOWN = "takedown"
    HASH_PACK = "hash_pack"
    POLICE_REPORT = "police_report"
    OTHER = "other"


class RequestStatus(StrEnum):
    REQUESTED = "requested"
    ACKNOWLEDGED = "acknowledged"
    OFFERED = "offered"
    IMPLEMENTED = "implemented"
    DECLINED = "declined"


KIND_TITLES = {
    RequestKind.DISCIPLINARY_REVIEW: "Disciplinary review",
    RequestKind.INTERIM_MEASURE: "Interim measure",
    RequestKind.NOTIFY_TUTORS: "Notify tutors",
    RequestKind.TAKEDOWN: "Takedown",
    RequestKind.HASH_PACK: "Hash pack",
    RequestKind.POLICE_REPORT: "Police report",
    RequestKind.OTHER: "Other",
}

STEPS = ("acknowledge", "offer", "implement")
OPEN = (RequestStatus.REQUESTED, RequestStatus.ACKNOWLEDGED, RequestStatus.OFFERED)
NEXT_STATUS = {
    RequestStatus.REQUESTED: {RequestStatus.ACKNOWLEDGED, RequestStatus.DECLINED},
    RequestStatus.ACKNOWLEDGED: {
        RequestStatus.OFFERED,
        RequestStatus.IMPLEMENTED,
        RequestStatus.DECLINED,
    },
    RequestStatus.OFFERED: {RequestStatus.IMPLEMENTED, RequestStatus.DECLINED},
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SETTINGS = ("working_days", "holidays", "day_ends", "timezone")


# -- policy ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """When each step of each kind of request is due; ``source`` says which file it came from."""

    working_days: tuple[int, ...]  # 0 = Monday
    holidays: tuple[date, ...]
    day_ends: time
    timezone: str
    deadlines: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]  # kind -> step -> days
    source: str

    def days(self, kind: str, step: str) -> int | None:
        for k, steps in self.deadlines:
            if k == kind:
                return dict(steps).get(step)
        return None

    def steps(self, kind: str) -> tuple[str, ...]:
        for k, steps in self.deadlines:
            if k == kind:
                return tuple(s for s, _ in steps)
        return ()

    def due(self, kind: str, step: str, from_time: datetime) -> datetime | None:
        """The deadline of ``step`` of a ``kind`` request made at ``from_time``: that many
        working days later (weekends and holidays skipped), at ``day_ends`` local time; in UTC.
        None when the policy sets no deadline for the step."""
        n = self.days(kind, step)
        if n is None:
            return None
        zone = ZoneInfo(self.timezone)
        day = _aware(from_time).astimezone(zone).date()
        left = n
        while left > 0 or not self._working(day):
            day += timedelta(days=1)
            if self._working(day):
                left -= 1
        return datetime.combine(day, self.day_ends, tzinfo=zone).astimezone(UTC)

    def _working(self, day: date) -> bool:
        return day.weekday() in self.working_days and day not in self.holidays


def default_policy_text() -> str:
    return (resources.files("consentry.services") / "default_policy.yaml").read_text("utf-8")


def load_policy(h_or_case_dir: CaseHandle | Path) -> Policy:
    """The case's ``CASE_DIR/policy.yaml`` if there is one, else the shipped default. A bad
    file is ``ServiceError(MISUSE)`` naming the file and the key."""
    case_dir = h_or_case_dir.path if isinstance(h_or_case_dir, CaseHandle) else h_or_case_dir
    path = Path(case_dir) / POLICY_FILE
    if path.is_file():
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ServiceError(ErrorCode.MISUSE, f"{path}: cannot be read ({exc})") from None
        return parse_policy(text, str(path))
    return parse_policy(default_policy_text(), "default (shipped with consentry)")


def parse_policy(text: str, source: str) -> Policy:
    import yaml

    lines: dict[str, int] = {}  # "key", "kind.step", "key[i]" -> its line in the file

    def bad(message: str, key: str | None = None) -> ServiceError:
        where = f"line {lines[key]}: " if key in lines else ""
        return ServiceError(ErrorCode.MISUSE, f"{source}: {where}{message}")

    class Loader(yaml.SafeLoader):
        pass

    # dates stay text: a bad one (2026-13-01) is reported with its key, not as a YAML error
    Loader.add_constructor(
        "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
    )
    try:
        data = yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise bad(f"{where}{problem}") from None
    _key_lines(yaml.compose(text, Loader=Loader), lines)
    if not isinstance(data, dict):
        raise bad("expected keys such as working_days, holidays, day_ends, timezone and kinds")
    kinds = {k.value for k in RequestKind}
    for key in data:
        if str(key) not in SETTINGS and str(key) not in kinds:
            raise bad(f"{key}: unknown kind (kinds: {', '.join(sorted(kinds))})", str(key))
    raw_days = data.get("working_days", list(WEEKDAYS[:5]))
    if not isinstance(raw_days, list) or not raw_days:
        raise bad("working_days: expected a list such as [mon, tue, wed, thu, fri]", "working_days")
    working: list[int] = []
    for i, d in enumerate(raw_days):
        if str(d).lower()[:3] not in WEEKDAYS:
            raise bad(f"working_days: {d!r} is not a day (mon ... sun)", f"working_days[{i}]")
        working.append(WEEKDAYS.index(str(d).lower()[:3]))
    raw_holidays = data.get("holidays") or []
    if not isinstance(raw_holidays, list):
        raise bad("holidays: expected a list of dates such as [2026-12-25]", "holidays")
    holidays: list[date] = []
    for i, h in enumerate(raw_holidays):
        if isinstance(h, datetime):
            h = h.date()
        if isinstance(h, date):
            holidays.append(h)
            continue
        try:
            holidays.append(date.fromisoformat(str(h)))
        except ValueError:
            raise bad(f"holidays: {h!r} is not a date (YYYY-MM-DD)", f"holidays[{i}]") from None
    raw_end = data.get("day_ends", "17:00")
    if isinstance(raw_end, int):  # YAML 1.1 reads 17:00 unquoted as a sexagesimal number
        raw_end = f"{raw_end // 60:02d}:{raw_end % 60:02d}"
    try:
        day_ends = time.fromisoformat(str(raw_end))
    except ValueError:
        raise bad(f"day_ends: {raw_end!r} is not a time (HH:MM)", "day_ends") from None
    zone = str(data.get("timezone", "Europe/London"))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad(
            f"timezone: {zone!r} is not a known time zone (e.g. Europe/London)", "timezone"
        ) from None
    deadlines: list[tuple[str, tuple[tuple[str, int], ...]]] = []
    for kind in RequestKind:
        steps = data.get(kind.value) or {}
        if not isinstance(steps, dict):
            raise bad(
                f"{kind.value}: expected steps such as {{acknowledge: 2, implement: 5}}", kind.value
            )
        parsed: list[tuple[str, int]] = []
        for step, n in steps.items():
            if step not in STEPS:
                raise bad(
                    f"{kind.value}.{step}: unknown step (steps: {', '.join(STEPS)})",
                    f"{kind.value}.{step}",
                )
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise bad(
                    f"{kind.value}.{step}: {n!r} is not a number of working days",
                    f"{kind.value}.{step}",
                )
            parsed.append((str(step), n))
        parsed.sort(key=lambda s: STEPS.index(s[0]))
        deadlines.append((kind.value, tuple(parsed)))
    return Policy(
        tuple(sorted(set(working))),
        tuple(sorted(set(holidays))),
        day_ends,
        zone,
        tuple(deadlines),
        source,
    )


def _key_lines(node: Any, lines: dict[str, int]) -> None:
    """Where each key (and each list item) of the policy file is, for the error messages."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        name = str(key.value)
        lines[name] = key.start_mark.line + 1
        if isinstance(value, yaml.MappingNode):
            for sub, _ in value.value:
                lines[f"{name}.{sub.value}"] = sub.start_mark.line + 1
        elif isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                lines[f"{name}[{i}]"] = item.start_mark.line + 1


def write_default_policy(case_dir: Path) -> Path:
    """Write the shipped policy into the case folder for editing; refuses to overwrite."""
    path = Path(case_dir) / POLICY_FILE
    if not Path(case_dir).is_dir():
        raise ServiceError(ErrorCode.CASE, f"{case_dir}: no such case folder")
    if path.exists():
        raise ServiceError(ErrorCode.MISUSE, f"{path} already exists; edit it (not overwritten)")
    path.write_text(default_policy_text(), "utf-8")
    return path


# -- views -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestView:
    """A request (``source="request"``) or a takedown notice (``source="notice"``, status
    pending | sent | overdue) as a list shows it. Times are ISO 8601, UTC."""

    code: str
    source: str
    person: str | None
    person_name: str | None
    kind: str
    kind_title: str
    asked_by: str
    asked_at: str
    owner: str | None
    status: str
    status_at: str
    due_at: str | None
    overdue: bool
    next_step: str | None
    detail: str | None
    decline_reason: str | None


@dataclass(frozen=True)
class RequestEventView:
    at: str
    actor: str
    status: str
    owner: str | None
    due_at: str | None
    note: str | None


@dataclass(frozen=True)
class RequestDetail:
    view: RequestView
    events: tuple[RequestEventView, ...]


# -- services ----------------------------------------------------------------------------------
def create_request(
    h: CaseHandle,
    account: Account,
    person: str | None,
    kind: str,
    asked_by: str,
    asked_at: datetime | str | None = None,
    owner: str | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> RequestView:
    """Record a request from or for ``person`` (a person code; None for the whole case)."""
    from consentry.store.requests_store import NewRequest, RequestsStore

    at = _aware(now) if now else datetime.now(UTC)
    code = person.strip().upper() if person else None
    if not account.can(Action.MANAGE_REQUESTS):
        require(account, Action.ADD_REQUEST_IN_SCOPE)
        if code is None or not account.sees_person(code):
            raise not_found(f"person {code}" if code else "person")
    the_kind = _kind(kind)
    if not asked_by or not asked_by.strip():
        raise ServiceError(ErrorCode.MISUSE, "asked by is empty: say who made the request")
    policy = load_policy(h)
    asked = _when(asked_at, policy, "asked at") if asked_at is not None else at
    due = _due(policy, the_kind.value, RequestStatus.REQUESTED, asked)
    with h.writing() as case:
        person_id = None
        if code is not None:
            row = case.persons.person(code)
            if row is None or row.status != "active":
                raise ServiceError(ErrorCode.MISUSE, f"no person {code} in this case")
            person_id = row.id
        store = RequestsStore(case.store.engine)
        new = NewRequest(
            person_id=person_id,
            kind=the_kind.value,
            asked_by=asked_by.strip(),
            asked_at=_iso(asked),
            owner=_clean(owner),
            status=RequestStatus.REQUESTED.value,
            status_at=_iso(asked),
            due_at=_iso(due) if due else None,
            detail=_clean(detail),
            created_by=account.name,
        )
        req_code = store.add(new, note=_clean(detail))
        case.store.append_audit(
            "request_created",
            account.name,
            {
                "code": req_code,
                "person": code,
                "kind": the_kind.value,
                "asked_by": new.asked_by,
                "asked_at": new.asked_at,
                "status": new.status,
                "owner": new.owner,
                "due_at": new.due_at,
            },
        )
        stored = store.request(req_code)
    assert stored is not None
    return _view(stored, policy, at, account)


def update_request(
    h: CaseHandle,
    account: Account,
    code: str,
    status: str | None = None,
    owner: str | None = None,
    note: str | None = None,
    decline_reason: str | None = None,
    now: datetime | None = None,
) -> RequestView:
    """Move a request to ``status``, give it a new ``owner`` or add a ``note``; ``now`` is when
    the change happened (default: now)."""
    from consentry.store.requests_store import RequestsStore

    at = _aware(now) if now else datetime.now(UTC)
    with h.reading() as case:
        existing = RequestsStore(case.store.engine).request(code.strip())
    if existing is None or not _visible(account, existing.person_code):
        raise not_found(f"request {code.strip().upper()}")
    require(account, Action.MANAGE_REQUESTS)
    policy = load_policy(h)
    with h.writing() as case:
        store = RequestsStore(case.store.engine)
        row = store.request(code.strip())
        assert row is not None
        old = RequestStatus(row.status)
        new_status = old
        reason = row.decline_reason
        if status is not None:
            try:
                new_status = RequestStatus(status.strip().lower())
            except ValueError:
                raise ServiceError(
                    ErrorCode.MISUSE,
                    f"unknown status {status!r} (statuses: "
                    f"{', '.join(s.value for s in RequestStatus)})",
                ) from None
            if new_status not in NEXT_STATUS.get(old, set()):
                if old not in OPEN:
                    raise ServiceError(
                        ErrorCode.MISUSE, f"{row.code} is {old.value}: it cannot change any more"
                    )
                allowed = ", ".join(sorted(s.value for s in NEXT_STATUS[old]))
                raise ServiceError(
                    ErrorCode.MISUSE,
                    f"{row.code} is {old.value}: it can go to {allowed}, not {new_status.value}",
                )
            if new_status is RequestStatus.DECLINED:
                reason = _clean(decline_reason)
                if reason is None:
                    raise ServiceError(ErrorCode.MISUSE, "a declined request needs a reason")
        elif old not in OPEN and owner is not None:
            raise ServiceError(ErrorCode.MISUSE, f"{row.code} is {old.value}: it is closed")
        new_owner = _clean(owner) if owner is not None else row.owner
        the_note = _clean(note)
        if new_status is old and new_owner == row.owner and the_note is None:
            raise ServiceError(ErrorCode.MISUSE, "nothing to change: give a status, owner or note")
        asked = datetime.fromisoformat(row.asked_at)
        due = _due(policy, row.kind, new_status, asked)
        due_at = _iso(due) if due else None
        status_at = _iso(at) if new_status is not old else row.status_at
        event_note = the_note
        if new_status is RequestStatus.DECLINED and reason:
            event_note = f"declined: {reason}" + (f"; {the_note}" if the_note else "")
        store.update(
            row.id,
            at=_iso(at),
            actor=account.name,
            status=new_status.value,
            status_at=status_at,
            owner=new_owner,
            due_at=due_at,
            decline_reason=reason,
            note=event_note,
        )
        case.store.append_audit(
            "request_updated",
            account.name,
            {
                "code": row.code,
                "person": row.person_code,
                "kind": row.kind,
                "from_status": old.value,
                "to_status": new_status.value,
                "owner": new_owner,
                "note": event_note,
                "at": _iso(at),
                "due_at": due_at,
            },
        )
        stored = store.request(row.code)
    assert stored is not None
    return _view(stored, policy, at, account)


def list_requests(
    h: CaseHandle,
    account: Account,
    overdue_only: bool = False,
    person: str | None = None,
    now: datetime | None = None,
) -> tuple[RequestView, ...]:
    """The requests and takedown notices the account may see: overdue first, then by due
    date."""
    from consentry.reports import notice
    from consentry.store.requests_store import RequestsStore

    require(account, Action.VIEW_CASE)
    at = _aware(now) if now else datetime.now(UTC)
    wanted = person.strip().upper() if person else None
    if wanted is not None and not account.sees_person(wanted):
        raise not_found(f"person {wanted}")
    policy = load_policy(h)
    with h.reading() as case:
        rows = RequestsStore(case.store.engine).requests()
        notices = notice.notice_states(case.store.audit_events(), at)
        names = {p.code: p.name for p in case.persons.persons()}
    views = [_view(r, policy, at, account) for r in rows if _visible(account, r.person_code)]
    for n in notices:
        pcode = n.person.upper() if n.person else None
        if _visible(account, pcode):
            views.append(_notice_view(n, names.get(pcode or ""), at))
    if wanted is not None:
        views = [v for v in views if v.person == wanted]
    if overdue_only:
        views = [v for v in views if v.overdue]
    return tuple(sorted(views, key=lambda v: (not v.overdue, v.due_at is None, v.due_at, v.code)))


def request_detail(
    h: CaseHandle, account: Account, code: str, now: datetime | None = None
) -> RequestDetail:
    """One request and its timeline (every change, oldest first)."""
    from consentry.store.requests_store import RequestsStore

    require(account, Action.VIEW_CASE)
    at = _aware(now) if now else datetime.now(UTC)
    policy = load_policy(h)
    with h.reading() as case:
        store = RequestsStore(case.store.engine)
        row = store.request(code.strip())
        events = store.events(row.id) if row else []
    if row is None or not _visible(account, row.person_code):
        raise not_found(f"request {code.strip().upper()}")
    return RequestDetail(
        _view(row, policy, at, account),
        tuple(RequestEventView(e.at, e.actor, e.status, e.owner, e.due_at, e.note) for e in events),
    )


# -- helpers -----------------------------------------------------------------------------------
def _visible(account: Account, person_code: str | None) -> bool:
    if not account.scoped:
        return True
    return person_code is not None and account.sees_person(person_code)


def _kind(kind: str) -> RequestKind:
    try:
        return RequestKind(str(kind).strip().lower().replace("-", "_"))
    except ValueError:
        raise ServiceError(
            ErrorCode.MISUSE,
            f"unknown kind {kind!r} (kinds: {', '.join(k.value for k in RequestKind)})",
        ) from None


def next_step(policy: Policy, kind: str, status: RequestStatus) -> str | None:
    """The step a request in ``status`` waits for, or None when it is closed."""
    if status not in OPEN:
        return None
    if status is RequestStatus.REQUESTED:
        return "acknowledge"
    if status is RequestStatus.ACKNOWLEDGED and "offer" in policy.steps(kind):
        return "offer"
    return "implement"


def _due(policy: Policy, kind: str, status: RequestStatus, asked: datetime) -> datetime | None:
    step = next_step(policy, kind, status)
    return policy.due(kind, step, asked) if step else None


def _view(row: Any, policy: Policy, now: datetime, account: Account) -> RequestView:
    status = RequestStatus(row.status)
    due = datetime.fromisoformat(row.due_at) if row.due_at else None
    step = next_step(policy, row.kind, status)
    overdue = status in OPEN and due is not None and due < now
    if step is None:
        words = None
    elif due is None:
        words = step
    else:
        local = due.astimezone(ZoneInfo(policy.timezone))
        words = f"{step} by {local.day} {local:%b %H:%M}"
    kind = RequestKind(row.kind)
    return RequestView(
        code=row.code,
        source="request",
        person=row.person_code,
        person_name=row.person_name if row.person_code else None,
        kind=kind.value,
        kind_title=KIND_TITLES[kind],
        asked_by=row.asked_by,
        asked_at=row.asked_at,
        owner=row.owner,
        status=status.value,
        status_at=row.status_at,
        due_at=row.due_at,
        overdue=overdue,
        next_step=words,
        detail=row.detail,
        decline_reason=row.decline_reason,
    )


def _notice_view(n: Any, name: str | None, now: datetime) -> RequestView:
    if n.status == "pending":
        words = "mark sent (`consentry notice sent`)"
    elif n.status == "overdue":
        words = "check the content was removed"
    else:
        words = "removal due"
    return RequestView(
        code=n.notice_id,
        source="notice",
        person=n.person.upper() if n.person else None,
        person_name=name,
        kind=RequestKind.TAKEDOWN.value,
        kind_title=f"Takedown notice ({n.platform})",
        asked_by=f"notice to {n.platform}",
        asked_at=n.created,
        owner=None,
        status=n.status,
        status_at=n.sent or n.created,
        due_at=_iso(datetime.fromisoformat(n.deadline)) if n.deadline else None,
        overdue=n.status == "overdue",
        next_step=words,
        detail=f"{n.items} item(s), file {n.file}" if n.file else f"{n.items} item(s)",
        decline_reason=None,
    )


def _when(value: datetime | str, policy: Policy, what: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ServiceError(
                ErrorCode.MISUSE,
                f"{what}: {value!r} is not a date and time (e.g. 2026-11-20T09:00)",
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(policy.timezone))
    return moment.astimezone(UTC)


def parse_time(value: str, what: str, case_dir: Path | CaseHandle) -> datetime:
    """A time the shell was given (ISO 8601; local to the policy's zone when it has none);
    ``MISUSE`` naming the value when it is not one."""
    return _when(value, load_policy(case_dir), what)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).isoformat(timespec="seconds")


def _clean(text: str | None) -> str | None:
    return text.strip() if text and text.strip() else None


__all__ = [
    "KIND_TITLES",
    "Policy",
    "RequestDetail",
    "RequestEventView",
    "RequestKind",
    "RequestStatus",
    "RequestView",
    "create_request",
    "default_policy_text",
    "list_requests",
    "load_policy",
    "next_step",
    "parse_policy",
    "parse_time",
    "request_detail",
    "update_request",
    "write_default_policy",
]
