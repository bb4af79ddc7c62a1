"""VICS 2.0 JSON (Project VIC data model): export a case's images for Griffeye-style tools, and
read such a file back (the round trip is tested).

One ``Media`` record per unique image content (SHA-256), with MD5 and SHA1 as VICS fields, PDQ
and SHA-256 in ``AlternativeHashes``, and one ``MediaFiles`` entry per place the content was
found (path as the scan recorded it, archive members as ``a.zip!/inner.jpg``; ``Written`` is the
file's modification time in UTC).

Categories. VICS categories describe child sexual abuse material; none of them fits an adult
intimate image, and using one would mislabel the evidence. So consentry writes **examiner-defined
codes** outside the national schemes, from the automatic explicit-content label, and lists their
meaning in the file (``CategoryDefinitions``, an extra case field that readers may ignore):

==== ============================== ==================================================
code name                           meaning
==== ============================== ==================================================
0    Uncategorized (VICS)           not analysed, or the analysis failed
100  consentry: adult intimate      explicit-content label ``explicit``
101  consentry: adult suggestive    label ``suggestive``
102  consentry: no intimate content label ``none``
==== ============================== ==================================================

Videos are media records like images (VICS has one ``Media`` entity for both): ``MimeType``
says ``video/...``; their vPDQ features (Meta's ``vpdq``, one frame a second) go to
``AlternativeHashes`` as ``VPDQ`` in python-threatexchange's signal form (a JSON list of
``hex,quality,timestamp``); ``MediaMetadata`` adds ``consentry.media_type = video``, the length,
codec, frames decoded and analysed, and the worst frame's time. The category is that of the
worst frame's label. (No public VICS 2.0 schema was at hand to check a dedicated video field
against, so none is invented.)

These are machine suggestions (``Tags`` carries ``consentry:auto``), never a human review:
``IsPrecategorized`` stays false. ``VictimIdentified`` is true when an enrolled person (with
consent, ``E<n>``) appears in the image; person codes go to ``Tags``, names never.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from consentry.analyzers import vpdq

if TYPE_CHECKING:
    from consentry.reports.collect import CaseReport, ReportItem
    from consentry.reports.options import ReportOptions

ODATA_CONTEXT = (
    "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/CUSTOM/$metadata#Cases"
)
APPLICATION = "consentry"

UNCATEGORIZED = 0
ADULT_INTIMATE = 100
ADULT_SUGGESTIVE = 101
NO_INTIMATE_CONTENT = 102


@dataclass(frozen=True)
class VicsCategory:
    code: int
    name: str
    description: str


CATEGORIES: tuple[VicsCategory, ...] = (
    VicsCategory(UNCATEGORIZED, "Uncategorized", "VICS code 0: not analysed or analysis failed"),
    VicsCategory(
        ADULT_INTIMATE,
        "consentry: adult intimate image",
        "examiner-defined (not a VICS category): automatic explicit-content label 'explicit'",
    ),
    VicsCategory(
        ADULT_SUGGESTIVE,
        "consentry: adult suggestive image",
        "examiner-defined (not a VICS category): automatic explicit-content label 'suggestive'",
    ),
    VicsCategory(
        NO_INTIMATE_CONTENT,
        "consentry: no intimate content",
        "examiner-defined (not a VICS category): automatic explicit-content label 'none'",
    ),
)
CATEGORY_OF_LABEL = {
    "explicit": ADULT_INTIMATE,
    "suggestive": ADULT_SUGGESTIVE,
    "none": NO_INTIMATE_CONTENT,
}
AUTO_TAG = "consentry:auto"
PERSON_TAG = "consentry:person:"


class VicsError(ValueError):
    """The file is not VICS 2.0 JSON this reader understands (one-line reason)."""


@dataclass(frozen=True)
class VicsMediaFile:
    file_name: str
    file_path: str
    written: str | None = None  # ISO 8601 UTC, "Z"
    source_id: str | None = None


@dataclass(frozen=True)
class VicsMedia:
    media_id: int
    md5: str
    sha1: str | None = None
    category: int = UNCATEGORIZED
    media_size: int | None = None
    mime_type: str | None = None
    victim_identified: bool = False
    offender_identified: bool = False
    is_precategorized: bool = False
    tags: tuple[str, ...] = ()
    comments: str | None = None
    alternative_hashes: tuple[tuple[str, str], ...] = ()  # (HashName, HashValue)
    media_files: tuple[VicsMediaFile, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()  # MediaMetadata (PropertyName, PropertyValue)

    def alt_hash(self, name: str) -> str | None:
        return next((v for n, v in self.alternative_hashes if n.upper() == name.upper()), None)


@dataclass(frozen=True)
class VicsCase:
    case_id: str
    case_number: str | None = None
    source_application_name: str | None = None
    source_application_version: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    date_exported: str | None = None
    categories: tuple[VicsCategory, ...] = ()
    media: tuple[VicsMedia, ...] = field(default_factory=tuple)


# -- export ------------------------------------------------------------------------------------
def write_vics(report: CaseReport, out: Path, options: ReportOptions) -> list[Path]:
    """Write the report's images as one VICS 2.0 case to ``out`` (a .json file)."""
    case = case_from_report(report, options)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dump_vics(case), indent=1, ensure_ascii=False) + "\n", "utf-8")
    return [out]


def case_from_report(report: CaseReport, options: ReportOptions) -> VicsCase:
    from consentry.reports.hashpack import video_features

    by_content: dict[str, list[ReportItem]] = {}
    for item in report.items:
        if item.sha256 and item.md5 and (_is_image(item) or _is_video(item)):
            by_content.setdefault(item.sha256, []).append(item)
    features = video_features(report)
    media = tuple(
        _media(n, copies, options.person, features)
        for n, copies in enumerate(
            (by_content[k] for k in sorted(by_content, key=lambda k: _first_path(by_content[k]))),
            start=1,
        )
    )
    return VicsCase(
        case_id=report.case_id,
        case_number=report.case_name or None,
        source_application_name=APPLICATION,
        source_application_version=report.tool_version,
        contact_name=options.contact_name,
        contact_email=options.contact_email,
        date_exported=_utc(report.generated_at),
        categories=CATEGORIES,
        media=media,
    )


def _is_image(item: ReportItem) -> bool:
    return item.is_image or bool(item.pdq)


def _is_video(item: ReportItem) -> bool:
    return bool(item.mime and item.mime.startswith("video/"))


VPDQ_HASH_NAME = "VPDQ"
MEDIA_TYPE_KEY = "consentry.media_type"


def _first_path(items: list[ReportItem]) -> str:
    return min(i.location for i in items)


def _media(
    media_id: int,
    copies: list[ReportItem],
    scope: str | None,
    features: Mapping[str, list[Any]] | None = None,
) -> VicsMedia:
    first = copies[0]
    codes = sorted({c for item in copies for c in item.person_codes})
    if scope is not None:  # a person-scoped file names no other person
        codes = [c for c in codes if c == scope]
    label = first.explicit_label
    md5, sha256 = first.md5 or "", first.sha256 or ""  # both present: filtered by the caller
    alt = [("PDQ", first.pdq)] if first.pdq else []
    alt.append(("SHA256", sha256))
    metadata = [("consentry.explicit_label", label or "not analysed")]
    if first.explicit_score is not None:
        metadata.append(("consentry.explicit_score", f"{first.explicit_score:.4f}"))
    if first.pdq_quality is not None:
        metadata.append(("consentry.pdq_quality", str(first.pdq_quality)))
    if first.provenance_verdict:
        metadata.append(("consentry.provenance", first.provenance_verdict))
    if first.width and first.height:
        metadata.append(("consentry.dimensions", f"{first.width}x{first.height}"))
    if _is_video(first):
        feats = (features or {}).get(sha256) or []
        if feats:
            alt.insert(0, (VPDQ_HASH_NAME, vpdq.to_signal(feats)))
        metadata.extend(_video_metadata(first, len(feats)))
    return VicsMedia(
        media_id=media_id,
        md5=md5.upper(),
        sha1=first.sha1.upper() if first.sha1 else None,
        category=CATEGORY_OF_LABEL.get(label or "", UNCATEGORIZED),
        media_size=first.size,
        mime_type=first.mime,
        victim_identified=any(_enrolled(c) for c in codes),
        tags=(AUTO_TAG, *(PERSON_TAG + c for c in codes)),
        comments=(
            f"category suggested by the explicit-content analyzer (label {label or 'none yet'});"
            " review before relying on it"
        ),
        alternative_hashes=tuple(alt),
        media_files=tuple(
            VicsMediaFile(
                file_name=PurePosixPath(item.location.replace("!/", "/")).name,
                file_path=item.location,
                written=_utc(item.mtime),
                source_id=item.source,
            )
            for item in sorted(copies, key=lambda i: i.location)
        ),
        metadata=tuple(metadata),
    )


def _video_metadata(item: ReportItem, features: int) -> list[tuple[str, str]]:
    out = [(MEDIA_TYPE_KEY, "video"), ("consentry.vpdq_features", str(features))]
    video = getattr(item, "video", None)
    if video is None:
        return out
    for key, attr in (
        ("consentry.duration_s", "duration_s"),
        ("consentry.video_codec", "codec"),
        ("consentry.frames", "frame_count"),
        ("consentry.frames_analysed", "frames_analysed"),
    ):
        value = getattr(video, attr, None)
        if value is not None:
            out.append((key, f"{value:g}" if isinstance(value, float) else str(value)))
    frames = getattr(video, "frames", ()) or ()
    worst = getattr(video, "worst_label", None)
    at = next((f.at_s for f in frames if worst is not None and f.label == worst), None)
    if at is not None:
        out.append(("consentry.worst_frame_s", f"{at:g}"))
    return out


def _enrolled(code: str) -> bool:
    return code.upper().startswith("E")


def _utc(value: str | datetime | None) -> str | None:
    """An ISO time (any offset) as VICS writes it: UTC with a ``Z``."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a naive time is the examiner's local clock
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def dump_vics(case: VicsCase) -> dict[str, Any]:
    header: dict[str, Any] = {"CaseID": case.case_id}
    _put(header, "CaseNumber", case.case_number)
    _put(header, "ContactName", case.contact_name)
    _put(header, "ContactEmail", case.contact_email)
    _put(header, "SourceApplicationName", case.source_application_name)
    _put(header, "SourceApplicationVersion", case.source_application_version)
    _put(header, "DateExported", case.date_exported)
    if case.categories:
        header["CategoryDefinitions"] = [
            {"Category": c.code, "Name": c.name, "Description": c.description}
            for c in case.categories
        ]
    header["Media"] = [_dump_media(m) for m in case.media]
    return {"@odata.context": ODATA_CONTEXT, "value": [header]}


def _dump_media(m: VicsMedia) -> dict[str, Any]:
    record: dict[str, Any] = {"odata.id": f"Media({m.media_id})", "MediaID": m.media_id}
    record["Category"] = m.category
    record["MD5"] = m.md5
    _put(record, "SHA1", m.sha1)
    _put(record, "MediaSize", m.media_size)
    _put(record, "MimeType", m.mime_type)
    record["VictimIdentified"] = m.victim_identified
    record["OffenderIdentified"] = m.offender_identified
    record["IsPrecategorized"] = m.is_precategorized
    record["Tags"] = ",".join(m.tags)
    _put(record, "Comments", m.comments)
    record["AlternativeHashes"] = [
        {"MD5": m.md5, "HashName": n, "HashValue": v} for n, v in m.alternative_hashes
    ]
    files = []
    for f in m.media_files:
        entry: dict[str, Any] = {"MD5": m.md5, "FileName": f.file_name, "FilePath": f.file_path}
        _put(entry, "Written", f.written)
        _put(entry, "SourceID", f.source_id)
        files.append(entry)
    record["MediaFiles"] = files
    if m.metadata:
        record["MediaMetadata"] = [
            {"MD5": m.md5, "PropertyName": n, "PropertyValue": v} for n, v in m.metadata
        ]
    return record


def _put(record: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        record[key] = value


# -- import ------------------------------------------------------------------------------------
def read_vics(path: Path) -> VicsCase:
    """Read a VICS 2.0 JSON file (a ``#Cases`` file with ``Media``, or a bare ``#Media`` list).

    Accepts what other tools write: booleans as ``"true"``, hashes in either case (stored upper
    case, as VICS writes them), the older ``odata.metadata`` key.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise VicsError(f"{path}: not readable JSON ({exc})") from None
    return parse_vics(data)


def parse_vics(data: object) -> VicsCase:
    if not isinstance(data, Mapping):
        raise VicsError("VICS file must be a JSON object")
    context = str(data.get("@odata.context") or data.get("odata.metadata") or "")
    if "ProjectVic" not in context and "VICS" not in context.upper():
        raise VicsError(f"not a VICS file (@odata.context is {context!r})")
    values = data.get("value")
    if not isinstance(values, list):
        raise VicsError("VICS file has no 'value' list")
    if context.endswith("#Media") or (values and "Media" not in values[0]):
        return VicsCase(case_id="", media=tuple(_parse_media(m, n) for n, m in _numbered(values)))
    if len(values) != 1 or not isinstance(values[0], Mapping):
        raise VicsError(f"expected one case in 'value', found {len(values)}")
    case = values[0]
    return VicsCase(
        case_id=str(case.get("CaseID", "")),
        case_number=_str(case.get("CaseNumber")),
        source_application_name=_str(case.get("SourceApplicationName")),
        source_application_version=_str(case.get("SourceApplicationVersion")),
        contact_name=_str(case.get("ContactName")),
        contact_email=_str(case.get("ContactEmail")),
        date_exported=_str(case.get("DateExported")),
        categories=tuple(
            VicsCategory(int(c["Category"]), str(c.get("Name", "")), str(c.get("Description", "")))
            for c in case.get("CategoryDefinitions") or []
        ),
        media=tuple(_parse_media(m, n) for n, m in _numbered(case.get("Media") or [])),
    )


def _numbered(values: Iterable[object]) -> Iterable[tuple[int, Mapping[str, Any]]]:
    for n, value in enumerate(values, start=1):
        if not isinstance(value, Mapping):
            raise VicsError(f"Media record {n} is not an object")
        yield n, value


def _parse_media(m: Mapping[str, Any], n: int) -> VicsMedia:
    md5 = _str(m.get("MD5"))
    if not md5:
        raise VicsError(f"Media record {n} has no MD5")
    return VicsMedia(
        media_id=int(m.get("MediaID", n)),
        md5=md5.upper(),
        sha1=(_str(m.get("SHA1")) or "").upper() or None,
        category=int(m.get("Category") or 0),
        media_size=int(m["MediaSize"]) if m.get("MediaSize") is not None else None,
        mime_type=_str(m.get("MimeType")),
        victim_identified=_bool(m.get("VictimIdentified")),
        offender_identified=_bool(m.get("OffenderIdentified")),
        is_precategorized=_bool(m.get("IsPrecategorized")),
        tags=tuple(t.strip() for t in str(m.get("Tags") or "").split(",") if t.strip()),
        comments=_str(m.get("Comments")),
        alternative_hashes=tuple(
            (str(h["HashName"]), str(h["HashValue"])) for h in m.get("AlternativeHashes") or []
        ),
        media_files=tuple(
            VicsMediaFile(
                file_name=str(f.get("FileName", "")),
                file_path=str(f.get("FilePath", "")),
                written=_str(f.get("Written")),
                source_id=_str(f.get("SourceID")),
            )
            for f in m.get("MediaFiles") or []
        ),
        metadata=tuple(
            (str(p["PropertyName"]), str(p["PropertyValue"])) for p in m.get("MediaMetadata") or []
        ),
    )


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


__all__ = [
    "CATEGORIES",
    "VicsCase",
    "VicsCategory",
    "VicsError",
    "VicsMedia",
    "VicsMediaFile",
    "case_from_report",
    "dump_vics",
    "parse_vics",
    "read_vics",
    "video_features_of",
    "write_vics",
]


def video_features_of(media: VicsMedia) -> list[Any]:
    """A media record's vPDQ features (``AlternativeHashes`` ``VPDQ``), for a round trip."""
    signal = media.alt_hash(VPDQ_HASH_NAME)
    return vpdq.from_signal(signal) if signal else []
