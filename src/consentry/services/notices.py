"""Takedown notices of a case: their state, and marking one sent (which starts the 48-hour
removal deadline). Notices are written with a report (``report --format notice``); their state
lives in the case's audit log only (``notice_created`` / ``notice_sent``), see
``reports.notice``.

What goes wrong is a ``ServiceError``: ``MISUSE`` for an unknown notice, one already marked
sent or a time before its creation, ``CASE`` for an unusable case folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from consentry.services.case import CaseRef, ErrorCode, ServiceError, opened, opened_readonly

if TYPE_CHECKING:
    from consentry.reports.notice import NoticeState


def notice_states(case_ref: CaseRef, now: datetime) -> tuple[NoticeState, ...]:
    """Every notice of the case with its status (pending, sent, overdue) at ``now``
    (timezone-aware: the deadline is compared with it)."""
    from consentry.reports import notice

    with opened_readonly(case_ref) as case:
        return tuple(notice.notice_states(case.store.audit_events(), now))


@dataclass(frozen=True)
class NoticeSent:
    notice_id: str  # as recorded (upper case)
    sent_at: datetime
    deadline: datetime  # removal due by


def mark_notice_sent(
    case_ref: CaseRef, notice_id: str, at: datetime, examiner: str | None = None
) -> NoticeSent:
    """Record ``notice_sent`` for ``notice_id``, sent at ``at`` (timezone-aware); the removal
    deadline runs from that moment."""
    from consentry.reports.notice import NoticeError, mark_sent

    with opened(case_ref) as case:
        try:
            deadline = mark_sent(case.store, notice_id, at, examiner)
        except NoticeError as exc:
            raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
    return NoticeSent(notice_id.strip().upper(), at, datetime.fromisoformat(deadline))


__all__ = ["NoticeSent", "mark_notice_sent", "notice_states"]
