"""What the HTML and PDF reports show a reader who is not a specialist, built from the
``CaseReport`` (no store, no evidence read): settings as rows of a table instead of JSON,
paths relative to their source (the source named once), times that do not break inside a date,
and each derivation link in plain words.

Derivation links: the pass weighs which of two pictures is the original and says why in terms
of "A" and "B" (the pair's two pictures, A the one with the smaller SHA-256, as the pass
verifies them). Here those letters become "this image" / "the source" (or "the other picture"
when the direction is unknown). The direction is stated only where the evidence supports it
(``consentry.derivation.direction.direction_stated``, applied in ``collect``): otherwise the
pictures are "copies of each other, direction unknown". The direction's confidence is the
confidence *of the direction*, not of the link, and it is not shown where the source itself is
uncertain (other pictures are as likely to be the original).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from consentry.records.locations import DISK_SEPARATOR
from consentry.reports.model import DerivationLink, ReportItem, SourceInfo

# -- settings and payloads as rows --------------------------------------------------------------
KEY_WORDS = {"px": "px", "sha256": "SHA-256", "c2pa": "C2PA", "knn": "nearest neighbours"}


def key_words(key: str) -> str:
    """``min_face_side_px`` -> "min face side px"; ``c2pa_sdk`` -> "C2PA sdk"."""
    return " ".join(KEY_WORDS.get(w, w) for w in str(key).split("_"))


def value_words(value: Any) -> str:
    if value is None:
        return "not set"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{key_words(k)} {value_words(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        sep = "; " if any(isinstance(v, Mapping | list | tuple) for v in value) else ", "
        return sep.join(value_words(v) for v in value) if value else "none"
    return str(value)


def settings_rows(settings: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """A method's thresholds and configuration, every one of them, as (setting, value) rows;
    nested settings are named by their path ("watermark marks · sdxl · bits")."""
    rows: list[tuple[str, str]] = []
    for key in sorted(settings):
        value = settings[key]
        name = f"{prefix}{key_words(key)}"
        if isinstance(value, Mapping) and value:
            rows.extend(settings_rows(value, f"{name} · "))
        else:
            rows.append((name, "none" if value == {} else value_words(value)))
    return rows


AUDIT_LINES = 8  # lines of an audit payload shown; the JSON report has every field


@dataclass(frozen=True)
class PayloadView:
    lines: list[tuple[str, str]]
    more: int  # fields not shown here (in the JSON report's audit[].payload)


def payload_view(payload: Mapping[str, Any], limit: int = AUDIT_LINES) -> PayloadView:
    """An audit event's payload as "field: value" lines, the first ``limit`` of them whole; how
    many more there are is said, never cut mid-value."""
    rows = settings_rows(payload)
    return PayloadView(rows[:limit], max(0, len(rows) - limit))


# -- paths --------------------------------------------------------------------------------------
TOP_LEVEL = "(top level of the source)"


class SourcePaths:
    """Paths relative to their source. Each source gets a label (S1, S2, ...) in section 2; with
    one source the label is left out of every row (the tables say once which source)."""

    def __init__(self, sources: Sequence[SourceInfo]) -> None:
        self.labels = {s.path: f"S{i}" for i, s in enumerate(sources, 1)}
        self._roots = sorted(self.labels, key=len, reverse=True)
        self.single = len(self.labels) == 1

    @property
    def only(self) -> str | None:
        return next(iter(self.labels)) if self.single else None

    def split(self, location: str) -> tuple[str | None, str]:
        """(source label or None, path below the source). A path outside every source (or the
        source itself) is given whole."""
        for root in self._roots:
            if location.startswith(root.rstrip("/") + "/"):
                return self.labels[root], location[len(root.rstrip("/")) + 1 :]
            if location == root:
                return self.labels[root], TOP_LEVEL
            if location.startswith(root + DISK_SEPARATOR):  # a file in a disk image source
                return self.labels[root], root.rsplit("/", 1)[-1] + location[len(root) :]
        return None, location

    def rel(self, location: str | None) -> Markup:
        """The path as a report shows it: below its source, a break opportunity after each ``/``
        (a narrow column breaks a path between its folders), the source's label first when
        there are several sources."""
        if not location:
            return Markup("–")
        label, rest = self.split(location)
        shown = breakable(rest)
        if label is not None and not self.single:
            return Markup('<span class="src">{}</span> {}').format(label, shown)
        return shown

    def in_text(self, text: str) -> str:
        """A line of text naming paths: each source's root dropped (or replaced by its label
        when there are several sources)."""
        for root in self._roots:
            label = "" if self.single else f"{self.labels[root]}:"
            # a file in a disk image source: "laptop.E01!p2/..." (the image named, not dropped)
            image = root + DISK_SEPARATOR
            text = text.replace(image, label + root.rsplit("/", 1)[-1] + DISK_SEPARATOR)
            text = text.replace(root.rstrip("/") + "/", label)
        return text


def breakable(text: str) -> Markup:
    """Escaped text with a <wbr> after every "/" and archive mark "!": a path breaks between
    its folders (a name stays whole, searchable as written; one too long for its column still
    breaks, by the stylesheet's overflow-wrap)."""
    return Markup(re.sub(r"([/!])", r"\1<wbr>", str(escape(text))))


def when_utc(ts: str | None) -> Markup:
    """``when`` for a column headed "(UTC)": a UTC time without its offset."""
    if ts and re.search(r"(\+00:?00|Z)$", ts):
        return when(re.sub(r"(\+00:?00|Z)$", "", ts))
    return when(ts)


def when(ts: str | None) -> Markup:
    """An ISO 8601 time as "2026-12-02 07:05:09 +00:00": the date and the time each kept whole
    (a narrow column breaks between them, never inside either); fractions of a second dropped
    (the audit sequence number orders events)."""
    if not ts:
        return Markup("–")
    m = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?", ts
    )
    if not m:
        return Markup('<span class="nw">{}</span>').format(ts)
    zone = m.group(3) or ""
    zone = "+00:00" if zone == "Z" else zone
    shown = Markup('<span class="nw">{}</span> <span class="nw">{}</span>').format(
        m.group(1), m.group(2)
    )
    return shown + Markup(' <span class="nw">{}</span>').format(zone) if zone else shown


# -- derivation links in words ------------------------------------------------------------------
THIS = "this image"
SOURCE = "the source"
OTHER = "the other picture"
AI_VERDICTS = ("confirmed", "indicated")


@dataclass(frozen=True)
class LinkRow:
    """One derivation link as the report reads it."""

    derived_sha256: str
    derived: list[str]  # where the derived image was found
    source_sha256: str | None  # None: withheld (another person's picture)
    source: list[str]
    alternatives: list[tuple[str, list[str]]]  # (sha256, locations): as likely the original
    stated: bool  # the direction is supported by the evidence
    direction_confidence: float | None  # shown only when stated and the source is certain
    changed: float | None  # share of the image that differs from the source
    face_swap: bool | None
    face_verdict: str  # in words
    face_reason: str
    reasons: list[str]  # why this direction, in words ("this image is a crop of the source")
    mask: str | None  # derivation/.../mask.png, relative to the case folder

    @property
    def source_certain(self) -> bool:
        return not self.alternatives


def link_rows(links: Iterable[DerivationLink], items: Sequence[ReportItem]) -> list[LinkRow]:
    places: dict[str, list[str]] = {}
    provenance: dict[str, str] = {}
    for i in items:
        if i.sha256:
            places.setdefault(i.sha256, []).append(i.location)
            if i.provenance is not None and i.provenance.verdict in AI_VERDICTS:
                provenance.setdefault(i.sha256, i.provenance.summary)
    return [_link_row(link, places, provenance) for link in links]


def _link_row(
    link: DerivationLink, places: dict[str, list[str]], provenance: dict[str, str]
) -> LinkRow:
    d = link.details
    evidence = d.get("evidence") if isinstance(d.get("evidence"), Mapping) else {}
    assert isinstance(evidence, Mapping)
    stated = link.direction == "stated"  # collect: derivation.direction.direction_stated
    confidence = link.direction_confidence
    others = [str(x) for x in evidence.get("other_possible_sources") or []]
    derived, source = link.derived_sha256, link.source_sha256
    roles = _roles(derived, source, evidence, stated)
    reasons = []
    for cue in evidence.get("direction") or []:
        if not isinstance(cue, Mapping) or not cue.get("reason"):
            continue
        text = plain_reason(str(cue["reason"]), *roles)
        if cue.get("cue") == "generator":
            signed = [provenance[s] for s in (derived, source) if s and s in provenance]
            if signed:
                text += f" ({'; '.join(signed)})"
        reasons.append(text)
    face = d.get("face") if isinstance(d.get("face"), Mapping) else {}
    assert isinstance(face, Mapping)
    swap = d.get("face_swap")
    swap = swap if isinstance(swap, bool) else None
    if swap is True:
        verdict = "face swapped: another person's face"
    elif swap is False:
        verdict = "same person's face" if face else "no face compared"
    else:
        verdict = "cannot tell whether the face was swapped" if face else "no face compared"
    changed = d.get("changed_fraction")
    return LinkRow(
        derived_sha256=derived,
        derived=places.get(derived, []),
        source_sha256=source,
        source=places.get(source, []) if source else [],
        alternatives=[(o, places.get(o, [])) for o in others],
        stated=stated,
        direction_confidence=confidence if stated and not others else None,
        changed=float(changed) if isinstance(changed, int | float) else None,
        face_swap=swap,
        face_verdict=verdict,
        face_reason=str(face.get("reason", "")),
        reasons=reasons,
        mask=link.mask_render,
    )


def _roles(
    derived: str, source: str | None, evidence: Mapping[str, Any], stated: bool
) -> tuple[str, str]:
    """What "A" and "B" of the pass's reasons stand for: (A's role, B's role). A is the pair's
    picture with the smaller SHA-256 (the pass verifies pairs in that order), unless the
    evidence names it (``a_sha256``)."""
    other = SOURCE if stated else OTHER
    a = evidence.get("a_sha256")
    if not isinstance(a, str):
        a = min(derived, source) if source else derived
    return (THIS, other) if a == derived else (other, THIS)


_LETTER = re.compile(r"\b([AB])\b")


def plain_reason(reason: str, a_role: str, b_role: str) -> str:
    """A direction reason with "A" and "B" replaced by the pictures' roles; a sentence that
    starts with a role starts with a capital."""
    text = _LETTER.sub(lambda m: a_role if m.group(1) == "A" else b_role, reason)
    return text[:1].upper() + text[1:] if text else text


__all__ = [
    "LinkRow",
    "PayloadView",
    "SourcePaths",
    "breakable",
    "key_words",
    "link_rows",
    "payload_view",
    "plain_reason",
    "settings_rows",
    "when",
    "when_utc",
]
