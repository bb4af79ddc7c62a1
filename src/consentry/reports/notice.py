"""Takedown notices under the US TAKE IT DOWN Act, their 48-hour deadlines, and a Hong Kong
disposal schedule — for one person, from a scanned case.

What a notice contains follows section 3 of the Act (notice and removal of nonconsensual
intimate visual depictions): a valid request carries (i) a physical or electronic signature of
the identifiable individual or of someone authorised to act for them, (ii) identification of
the depiction with information reasonably sufficient to locate it, (iii) a brief statement of a
good-faith belief that the depiction is not consensual, and (iv) contact information. A covered
platform must remove the depiction as soon as possible and not later than 48 hours after it
receives a valid request (duty in force from 19 May 2026).

One notice per platform: URLs are grouped by host; with no URL, one generic notice identifies
the images by hash only. Images the explicit-content analyzer labelled ``none`` are left out of
notices and of the disposal schedule (a takedown must not ask to remove a person's ordinary
photos); the notice says how many were left out.

State lives in the case's hash-chained audit log, no other table: ``notice_created`` when a
notice is written, ``notice_sent`` when the examiner marks it sent (the deadline runs from that
moment). Status is derived from those events and a clock passed in (``notice_states``), so tests
inject the time.

The texts are plain Markdown, make no legal claim beyond citing the Act, and say so. Every
string in them that is not the text's own (file locations, platform and URLs, case ID, contact
details) goes through ``text_safety.markdown_escaped``: a file name cannot add a table row, a
heading, code or HTML to a notice or to the disposal schedule meant for a court.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from consentry.records.file_hash import sha256_of_file
from consentry.records.text_safety import markdown_escaped as md
from consentry.records.text_safety import spreadsheet_safe
from consentry.store import audit
from consentry.store.output_guard import OutputGuard, guard_for_case, unguarded

if TYPE_CHECKING:
    from consentry.reports.collect import CaseReport, ReportItem
    from consentry.reports.options import ReportOptions
    from consentry.store import CaseStore

REMOVAL_DEADLINE = timedelta(hours=48)  # TAKE IT DOWN Act, section 3(a)(3)
ACT_CITATION = (
    "TAKE IT DOWN Act (Tools to Address Known Exploitation by Immobilizing Technological "
    "Deepfakes on Websites and Networks Act), S. 146, 119th Congress, Pub. L. 119-12, enacted "
    "19 May 2025, section 3 (notice and removal; platform duty from 19 May 2026)"
)
GENERIC_PLATFORM = "any (by hash)"
CREATED = "notice_created"
SENT = "notice_sent"
PENDING, SENT_STATUS, OVERDUE = "pending", "sent", "overdue"
LEFT_OUT_LABEL = "none"  # analysed and found not intimate: never put in a takedown request


class NoticeError(ValueError):
    """Misuse: no person, unknown person, bad URL, unknown or already sent notice."""


@dataclass(frozen=True)
class NoticeItem:
    sha256: str
    md5: str
    pdq: str | None
    label: str | None
    provenance: str | None
    locations: tuple[str, ...]


@dataclass(frozen=True)
class Notice:
    notice_id: str
    platform: str  # host name, or GENERIC_PLATFORM
    person: str
    urls: tuple[str, ...]
    items: tuple[NoticeItem, ...]
    path: Path
    sha256: str  # of the notice file as written


@dataclass(frozen=True)
class NoticeState:
    notice_id: str
    platform: str
    person: str
    created: str
    sent: str | None
    deadline: str | None
    status: str  # pending | sent | overdue
    items: int
    notice_sha256: str
    file: str


# -- writing -----------------------------------------------------------------------------------
def write_notices(
    report: CaseReport,
    out: Path,
    options: ReportOptions,
    store: CaseStore | None = None,
    guard: OutputGuard | None = None,
) -> list[Path]:
    """Write one notice per platform and the disposal schedule into the folder ``out``.

    With ``store`` (the case's, opened for writing) each notice is recorded as a
    ``notice_created`` audit event; ``consentry notice sent`` can only mark recorded notices.
    ``guard`` (the case's, see ``output_guard``) refuses a folder in evidence and files that
    exist (a second run into the same folder needs ``--force`` for the disposal schedule).
    """
    notices, paths = create_notices(report, out, options, taken=_taken_ids(store), guard=guard)
    if store is not None:
        record_created(store, notices, report, options.examiner)
    return paths


def write_case_notices(
    case_dir: Path, report: CaseReport, out: Path, options: ReportOptions, db_url: str | None = None
) -> list[Path]:
    """``write_notices`` for the case in ``case_dir``: opens it for writing (its lock) to record
    each notice in the audit log."""
    from consentry.store.case import open_case

    with open_case(case_dir, db_url) as case:
        guard = guard_for_case(case.store, case.path, force=True)
        return write_notices(report, out, options, store=case.store, guard=guard)


def create_notices(
    report: CaseReport,
    out: Path,
    options: ReportOptions,
    taken: set[str] | None = None,
    guard: OutputGuard | None = None,
) -> tuple[list[Notice], list[Path]]:
    guard = guard or unguarded()
    person = _person(report, options)
    items, left_out = notice_items(report.items, person)
    if not items:
        raise NoticeError(
            f"person {person} has no image that may be intimate in this report"
            f" ({left_out} labelled none): nothing to ask a platform to remove"
        )
    groups = group_urls(options.urls)
    taken = set(taken or ())
    planned = []
    for platform, urls in groups or [(GENERIC_PLATFORM, ())]:
        notice_id = _new_id(taken)
        taken.add(notice_id)
        planned.append(
            (notice_id, platform, urls, out / f"notice-{notice_id}-{_slug(platform)}.md")
        )
    schedule_md = out / f"disposal-schedule-{person}.md"
    schedule_csv = out / f"disposal-schedule-{person}.csv"
    guard.check_folder(out)  # every file checked before the first is written
    guard.check_outputs([*(p[3] for p in planned), schedule_md, schedule_csv])
    out.mkdir(parents=True, exist_ok=True)
    notices: list[Notice] = []
    for notice_id, platform, urls, path in planned:
        text = render_notice(notice_id, platform, urls, items, left_out, report, options)
        guard.write_text(path, text)
        digest = sha256_of_file(path)
        notices.append(Notice(notice_id, platform, person, urls, items, path, digest))
    guard.write_text(schedule_md, render_disposal_schedule(items, report, person))
    guard.write_text(schedule_csv, disposal_csv(items))
    return notices, [*(n.path for n in notices), schedule_md, schedule_csv]


def record_created(
    store: CaseStore, notices: Iterable[Notice], report: CaseReport, actor: str | None
) -> None:
    for n in notices:
        store.append_audit(
            CREATED,
            actor,
            {
                "notice_id": n.notice_id,
                "platform": n.platform,
                "person": n.person,
                "urls": list(n.urls),
                "item_hashes": [i.sha256 for i in n.items],
                "notice_file": n.path.name,
                "notice_sha256": n.sha256,
                "report_id": report.report_id,
            },
        )


def notice_items(items: Sequence[ReportItem], person: str) -> tuple[tuple[NoticeItem, ...], int]:
    """The person's unique images that may be intimate, and how many were labelled ``none``."""
    by_content: dict[str, list[ReportItem]] = {}
    for item in items:
        if person in {c.upper() for c in item.person_codes} and item.sha256:
            by_content.setdefault(item.sha256, []).append(item)
    chosen, left_out = [], 0
    for sha, copies in sorted(by_content.items()):
        first = copies[0]
        if first.explicit_label == LEFT_OUT_LABEL:
            left_out += 1
            continue
        chosen.append(
            NoticeItem(
                sha256=sha,
                md5=first.md5 or "",
                pdq=first.pdq,
                label=first.explicit_label,
                provenance=first.provenance_verdict,
                locations=tuple(sorted({c.location for c in copies})),
            )
        )
    return tuple(chosen), left_out


def group_urls(urls: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """URLs grouped by host name (lower case, without a leading ``www.``), in given order."""
    groups: dict[str, list[str]] = {}
    for url in urls:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NoticeError(f"not a web address: {url!r} (give http:// or https:// URLs)")
        host = parts.hostname.lower()
        host = host.removeprefix("www.")
        if url not in groups.setdefault(host, []):
            groups[host].append(url.strip())
    return [(host, tuple(found)) for host, found in groups.items()]


def _person(report: CaseReport, options: ReportOptions) -> str:
    if options.person is None:
        raise NoticeError("a takedown notice is for one person: give --person ID")
    if not any(p.code.upper() == options.person for p in report.persons):
        raise NoticeError(f"no person {options.person} in this report")
    return options.person


def _new_id(taken: set[str]) -> str:
    while True:
        candidate = "N" + secrets.token_hex(4).upper()
        if candidate not in taken:
            return candidate


def _slug(platform: str) -> str:
    if platform == GENERIC_PLATFORM:
        return "generic"
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in platform)


def _taken_ids(store: CaseStore | None) -> set[str]:
    if store is None:
        return set()
    return {s.notice_id for s in notice_states(store.audit_events(), datetime.now(UTC))}


# -- texts -------------------------------------------------------------------------------------
def _fill(value: str | None, what: str) -> str:
    return md(value) if value else f"[{what}: to be filled in]"


_HEX = re.compile(r"[0-9a-f]+")


def _hash(value: str | None) -> str:
    """A hash as code (a store value that is not plain hex is shown escaped instead)."""
    if not value:
        return "n/a"
    return f"`{value}`" if _HEX.fullmatch(value) else md(value)


def render_notice(
    notice_id: str,
    platform: str,
    urls: tuple[str, ...],
    items: tuple[NoticeItem, ...],
    left_out: int,
    report: CaseReport,
    options: ReportOptions,
) -> str:
    generated = _local_date(report.generated_at)
    forged = sum(1 for i in items if i.provenance in ("confirmed", "indicated"))
    lines = [
        f"# Request to remove intimate images published without consent — {md(platform)}",
        "",
        f"Notice ID: {md(notice_id)}  ",
        f"Prepared: {generated}  ",
        f"Reference: case {md(report.case_id)}, person {md(options.person or '')}",
        "",
        f"To: {md(platform) if urls else 'the trust and safety team of the platform concerned'}",
        "",
        f"This is a removal request under {ACT_CITATION}. It identifies intimate visual "
        f"depictions of an identifiable individual that {'were' if urls else 'may have been'} "
        "published on your service without their consent. Section 3 of the Act requires a "
        "covered platform, on receiving a valid request, to remove the depiction as soon as "
        "possible and not later than 48 hours after receiving it, and to make reasonable "
        "efforts to identify and remove any known identical copies.",
        "",
        "The Act covers digital forgeries: intimate visual depictions of an identifiable "
        "individual created or altered by software, including artificial intelligence, that "
        "look indistinguishable from an authentic depiction. Some or all of the images below "
        "may be such forgeries; this request covers them in either case.",
        "",
        "## 1. Identification of the content",
        "",
    ]
    if urls:
        lines += ["Where the content is published on your service:", ""]
        lines += [f"- {md(url)}" for url in urls]
        lines += [
            "",
            "To help you find these and identical copies, here are the hashes of the images "
            "(copies held as evidence; which image is at which address was not checked by "
            "software). SHA-256 and MD5 identify exact copies; PDQ (Meta's perceptual hash) "
            "identifies visually identical copies that were re-encoded or resized.",
        ]
    else:
        lines += [
            "No web address is given. The images are identified by their hashes, so that you "
            "can find copies on your service: SHA-256 and MD5 identify exact copies; PDQ "
            "(Meta's perceptual hash, python-threatexchange format) identifies visually "
            "identical copies that were re-encoded or resized.",
        ]
    lines += ["", "| # | SHA-256 | MD5 | PDQ |", "|---|---|---|---|"]
    lines += [
        f"| {n} | {_hash(i.sha256)} | {_hash(i.md5)} | {_hash(i.pdq)} |"
        for n, i in enumerate(items, start=1)
    ]
    lines += ["", f"{len(items)} image(s). No image is attached to this notice."]
    if forged:
        lines += [
            "",
            f"Software found generation signals (content credentials, watermark or generator "
            f"metadata) in {forged} of these images: evidence that they were made or altered by "
            f"software.",
        ]
    lines += [
        "",
        "## 2. Statement of good faith",
        "",
        "I have a good faith belief that each intimate visual depiction identified above was "
        "published without the consent of the individual depicted. The individual did not "
        "consent to the creation or the publication of these images.",
        "",
        "## 3. Contact information",
        "",
        f"Name: {_fill(options.contact_name, 'name')}  ",
        f"Email: {_fill(options.contact_email, 'email')}  ",
        f"Address: {_fill(options.contact_address, 'postal address or phone')}",
        "",
        "If I act for the individual depicted, I am authorised to act on their behalf.",
        "",
        "## 4. Signature",
        "",
        f"Signature: {_fill(options.signature and '/s/ ' + options.signature, 'signature')}  ",
        "Date: [date sent]",
        "",
        "---",
        "",
        f"Prepared with consentry {md(report.tool_version)}, open-source software, from a forensic "
        "scan. The software lists images and hashes; it does not decide whether a request is "
        "valid. This document is not legal advice. Removal is due within 48 hours of the "
        "platform receiving this request.",
    ]
    if left_out:
        lines += [
            "",
            f"Not listed: {left_out} other image(s) of the same person that automatic analysis "
            "labelled not intimate. Review them before sending if any should be added.",
        ]
    return "\n".join(lines) + "\n"


def render_disposal_schedule(items: tuple[NoticeItem, ...], report: CaseReport, person: str) -> str:
    copies = sum(len(i.locations) for i in items)
    lines = [
        f"# Disposal schedule — person {md(person)}",
        "",
        f"Case {md(report.case_id)}; prepared {_local_date(report.generated_at)} with consentry "
        f"{md(report.tool_version)}.",
        "",
        "Every copy found in this case of the images listed in the takedown notices, by "
        "location and hash: a schedule for a court in Hong Kong, which may order intimate "
        "images disposed of when it deals with an offence of publishing, or threatening to "
        "publish, intimate images without consent (Crimes Ordinance, Cap. 200, as amended by "
        "the Crimes (Amendment) Ordinance 2021). Copies outside this case are not known here.",
        "",
        f"{len(items)} unique image(s) (by SHA-256), {copies} cop{'y' if copies == 1 else 'ies'}.",
        "",
        "| # | location | SHA-256 | MD5 |",
        "|---|---|---|---|",
    ]
    n = 0
    for item in items:
        for location in item.locations:
            n += 1
            lines.append(f"| {n} | {md(location)} | {_hash(item.sha256)} | {_hash(item.md5)} |")
    lines += ["", "This schedule is not legal advice; the court decides what is disposed of."]
    return "\n".join(lines) + "\n"


def disposal_csv(items: tuple[NoticeItem, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["location", "sha256", "md5", "pdq"])
    for item in items:
        for location in item.locations:
            writer.writerow([spreadsheet_safe(location), item.sha256, item.md5, item.pdq or ""])
    return buffer.getvalue()


def _local_date(value: str | datetime) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.isoformat(timespec="seconds")


# -- state from the audit log --------------------------------------------------------------------
def notice_states(events: Iterable[audit.StoredEvent], now: datetime) -> list[NoticeState]:
    """Every notice of the case with its status at ``now`` (timezone-aware)."""
    created: dict[str, tuple[audit.StoredEvent, dict[str, object]]] = {}
    sent: dict[str, dict[str, object]] = {}
    for event in events:
        if event.action not in (CREATED, SENT):
            continue
        payload = json.loads(event.payload)
        notice_id = str(payload["notice_id"])
        if event.action == CREATED:
            created[notice_id] = (event, payload)
        else:
            sent.setdefault(notice_id, payload)  # the first marking counts
    states = []
    for notice_id, (event, payload) in created.items():
        marked = sent.get(notice_id)
        sent_at = str(marked["sent_at"]) if marked else None
        deadline = str(marked["deadline"]) if marked else None
        if deadline is None:
            status = PENDING
        else:
            status = OVERDUE if now >= datetime.fromisoformat(deadline) else SENT_STATUS
        hashes = payload.get("item_hashes")
        states.append(
            NoticeState(
                notice_id=notice_id,
                platform=str(payload["platform"]),
                person=str(payload["person"]),
                created=event.ts,
                sent=sent_at,
                deadline=deadline,
                status=status,
                items=len(hashes) if isinstance(hashes, list) else 0,
                notice_sha256=str(payload["notice_sha256"]),
                file=str(payload.get("notice_file", "")),
            )
        )
    return states


def mark_sent(store: CaseStore, notice_id: str, at: datetime, actor: str | None = None) -> str:
    """Record that the notice was sent at ``at``; returns the removal deadline (ISO).

    The 48-hour deadline runs from the moment the notice was sent, which the examiner gives.
    """
    if at.tzinfo is None:
        raise NoticeError("the time a notice was sent needs a time zone")
    notice_id = notice_id.strip().upper()
    events = store.audit_events()
    state = next((s for s in notice_states(events, at) if s.notice_id == notice_id), None)
    if state is None:
        raise NoticeError(f"no notice {notice_id} in this case (see `consentry notice list`)")
    if state.sent is not None:
        raise NoticeError(f"notice {notice_id} was already marked sent at {state.sent}")
    if at < datetime.fromisoformat(state.created):
        raise NoticeError(f"notice {notice_id} was created at {state.created}, after {at}")
    created = next(
        payload
        for payload in (json.loads(e.payload) for e in events if e.action == CREATED)
        if payload["notice_id"] == notice_id
    )
    deadline = (at + REMOVAL_DEADLINE).isoformat()
    store.append_audit(
        SENT,
        actor,
        {
            "notice_id": notice_id,
            "platform": created["platform"],
            "person": created["person"],
            "item_hashes": created["item_hashes"],
            "notice_sha256": created["notice_sha256"],
            "sent_at": at.isoformat(),
            "deadline": deadline,
        },
    )
    return deadline


__all__ = [
    "ACT_CITATION",
    "REMOVAL_DEADLINE",
    "Notice",
    "NoticeError",
    "NoticeItem",
    "NoticeState",
    "create_notices",
    "group_urls",
    "mark_sent",
    "notice_items",
    "notice_states",
    "record_created",
    "write_case_notices",
    "write_notices",
]
