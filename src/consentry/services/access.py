"""Who may do what: the web app's roles, the actions each may take, and an advocate's scope.

Every service a web page calls takes the ``Account`` acting and checks it here
(``require``); the shell never decides. The command line acts as a local examiner
(``Account.local``): whoever can run it already holds the case folder.

- **examiner**: everything, including reveal (with a reason, logged) and review decisions.
- **case manager**: requests, measures, notices and counts; sees blurred images; no reveal, no
  review decisions.
- **advocate**: only the persons in ``scope`` (person codes): their findings (blurred), their
  requests and notices, their hash pack; nothing about anyone else. Out-of-scope ids answer
  ``NOT_FOUND``, never ``FORBIDDEN``, so an id's existence does not leak.
- **reviewer**: reads the case (blurred); changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from consentry.services.case import ErrorCode, ServiceError


class Role(StrEnum):
    EXAMINER = "examiner"
    CASE_MANAGER = "case_manager"
    ADVOCATE = "advocate"
    REVIEWER = "reviewer"


class Action(StrEnum):
    VIEW_CASE = "view_case"  # dashboard, gallery, image detail, persons (advocate: scoped)
    VIEW_ALL = "view_all"  # the whole case, not one person's part of it
    REVEAL = "reveal"  # see one image unblurred, with a reason, time-limited
    TAG = "tag"  # tag images during review
    DECIDE_PERSONS = "decide_persons"  # confirm / reject matches, merge / split groups
    MANAGE_REQUESTS = "manage_requests"  # create requests, change their status or owner
    ADD_REQUEST_IN_SCOPE = "add_request_in_scope"  # an advocate records a request for their person
    VIEW_AUDIT = "view_audit"  # the audit log
    VIEW_PROBLEMS = "view_problems"  # files that could not be analysed
    DOWNLOAD_PACKS = "download_packs"  # hash packs and notices (advocate: their persons only)


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.EXAMINER: frozenset(Action),
    Role.CASE_MANAGER: frozenset(
        {
            Action.VIEW_CASE,
            Action.VIEW_ALL,
            Action.MANAGE_REQUESTS,
            Action.ADD_REQUEST_IN_SCOPE,
            Action.VIEW_AUDIT,
            Action.VIEW_PROBLEMS,
            Action.DOWNLOAD_PACKS,
        }
    ),
    Role.ADVOCATE: frozenset(
        {Action.VIEW_CASE, Action.ADD_REQUEST_IN_SCOPE, Action.DOWNLOAD_PACKS}
    ),
    Role.REVIEWER: frozenset(
        {Action.VIEW_CASE, Action.VIEW_ALL, Action.VIEW_AUDIT, Action.VIEW_PROBLEMS}
    ),
}

ROLE_TITLES = {
    Role.EXAMINER: "Examiner",
    Role.CASE_MANAGER: "Case manager",
    Role.ADVOCATE: "Advocate",
    Role.REVIEWER: "Reviewer",
}


@dataclass(frozen=True)
class Account:
    """The person acting. ``scope`` holds person codes (advocates only)."""

    id: int
    name: str
    role: Role
    scope: tuple[str, ...] = ()

    @classmethod
    def local(cls, name: str | None) -> Account:
        """The examiner at the command line (id 0: no stored account)."""
        return cls(0, name or "command line", Role.EXAMINER, ())

    @property
    def scoped(self) -> bool:
        """True when the account sees only the persons in ``scope``."""
        return Action.VIEW_ALL not in PERMISSIONS[self.role]

    def can(self, action: Action) -> bool:
        return action in PERMISSIONS[self.role]

    def sees_person(self, code: str) -> bool:
        return not self.scoped or code.upper() in self.scope


def require(account: Account, action: Action) -> None:
    """``ServiceError(FORBIDDEN)`` unless the account's role allows ``action``."""
    if not account.can(action):
        title = ROLE_TITLES[account.role].lower()
        article = "an" if title[0] in "aeiou" else "a"
        raise ServiceError(
            ErrorCode.FORBIDDEN,
            f"{article} {title} may not {action.value.replace('_', ' ')}",
        )


def not_found(what: str) -> ServiceError:
    """The one answer for an unknown id and for an id outside the account's scope."""
    return ServiceError(ErrorCode.NOT_FOUND, f"no {what} here")


__all__ = ["PERMISSIONS", "ROLE_TITLES", "Account", "Action", "Role", "not_found", "require"]
