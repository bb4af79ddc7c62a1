"""Hash files in and out of the service: what ``import_hashes`` reads and ``export_bank``
writes. Parsing only (no database): every line is validated with ``parse_signal``; a bad line
is skipped with its reason (``line 7: ...``) and the rest imported.

Formats read:

- ``hashpack``: the output of ``consentry report --format hashpack`` (``pdq.txt``,
  ``hashes.csv``, ``manifest.json``) as a zip (``hashpack_bytes`` zips the folder). One
  content item per image of ``hashes.csv`` with its SHA-256, MD5 and (quality >= 50) PDQ;
  the manifest's SHA-256 of each file must match (a pack edited after it was made is refused,
  BAD_REQUEST) and its case id and person code go into each item's metadata. Without
  ``hashes.csv``, the ``pdq.txt`` lines.
- ``pytx``: python-threatexchange's signal text, ``<type> <hex>`` per line (``pdq``, ``md5``,
  ``sha256``), ``#`` comments and blank lines ignored; one content item per line.
- ``csv``: a header row, then ``signal_type,value[,quality,note[,content_id]]`` (rows with the
  same ``content_id`` form one item: what ``export`` writes), or the hashpack's ``hashes.csv``
  columns (``sha256,md5,pdq,pdq_quality``).
- ``auto``: a zip is a hashpack; text whose first line is ``<type> <hex>`` is pytx; else CSV.

Written: ``pytx`` and ``csv`` (above), in content order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from consentry.records.text_safety import spreadsheet_safe
from consentry.services.matching.types import MatchErrorCode, MatchServiceError, Signal, SignalType
from consentry.services.matching.validate import PDQ_MIN_QUALITY, parse_signal

PDQ_FILE = "pdq.txt"
CSV_FILE = "hashes.csv"
MANIFEST_FILE = "manifest.json"
MAX_MEMBER_BYTES = 512 * 1024 * 1024  # a zip member's size, uncompressed (zip bombs)
MAX_ITEMS = 2_000_000
MAX_SKIPPED_LISTED = 1000
FORMATS = ("auto", "hashpack", "pytx", "csv")


@dataclass(frozen=True)
class ParsedItem:
    signals: tuple[Signal, ...]
    note: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedImport:
    fmt: str
    origin: str
    items: list[ParsedItem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)  # for the audit event (no hashes)

    def skip(self, where: str, reason: str) -> None:
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            self.skipped.append(f"{where}: {reason}")
        elif len(self.skipped) == MAX_SKIPPED_LISTED:
            self.skipped.append("... further skipped lines not listed")

    def add(self, item: ParsedItem) -> None:
        if len(self.items) >= MAX_ITEMS:
            raise MatchServiceError(
                MatchErrorCode.TOO_LARGE, f"an import holds at most {MAX_ITEMS} items"
            )
        self.items.append(item)


def _bad(message: str) -> MatchServiceError:
    return MatchServiceError(MatchErrorCode.BAD_REQUEST, message)


def sniff(data: bytes) -> str:
    if data[:4] == b"PK\x03\x04":
        return "hashpack"
    for line in _text(data).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split()[0].lower()
        return "pytx" if first in ("pdq", "md5", "sha256") and "," not in line else "csv"
    return "csv"


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad("the file is not UTF-8 text (nor a hashpack zip)") from None


def parse_import(data: bytes, fmt: str = "auto") -> ParsedImport:
    """Parse an import file; BAD_REQUEST when the file as a whole cannot be read."""
    fmt = (fmt or "auto").lower()
    if fmt not in FORMATS:
        raise _bad(f"an import format is one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "auto":
        fmt = sniff(data)
    if fmt == "hashpack":
        return _hashpack(data)
    if fmt == "pytx":
        out = ParsedImport("pytx", "pytx")
        _pytx(_text(data), out, "line")
        return out
    out = ParsedImport("csv", "csv")
    _csv(_text(data), out, "line")
    return out


def _pytx(text: str, out: ParsedImport, where: str) -> None:
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            out.skip(f"{where} {n}", "not '<signal type> <hash>'")
            continue
        try:
            out.add(ParsedItem((parse_signal(parts[0], parts[1]),)))
        except MatchServiceError as exc:
            if exc.code is MatchErrorCode.TOO_LARGE:
                raise
            out.skip(f"{where} {n}", exc.message)


def _csv(text: str, out: ParsedImport, where: str, meta: dict[str, str] | None = None) -> None:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    if "signal_type" in header and "value" in header:
        _typed_rows(reader, out, where)
    elif {"sha256", "md5", "pdq"} & set(header):
        _image_rows(reader, out, where, meta or {})
    else:
        raise _bad(
            "a CSV import has a header row with signal_type,value[,quality,note] or "
            "sha256,md5,pdq,pdq_quality (a hashpack's hashes.csv)"
        )


def _cell(row: dict[str, str | None], name: str) -> str:
    value = row.get(name)
    return value.strip() if isinstance(value, str) else ""


def _typed_rows(reader: csv.DictReader, out: ParsedImport, where: str) -> None:
    groups: dict[str, list[Signal]] = {}
    notes: dict[str, str | None] = {}
    for n, row in enumerate(reader, 2):
        quality = _cell(row, "quality")
        try:
            signal = parse_signal(
                _cell(row, "signal_type"), _cell(row, "value"), int(quality) if quality else None
            )
        except ValueError:
            out.skip(f"{where} {n}", f"quality {quality[:10]!r} is not a number")
            continue
        except MatchServiceError as exc:
            out.skip(f"{where} {n}", exc.message)
            continue
        group = _cell(row, "content_id") or f"row{n}"
        groups.setdefault(group, []).append(signal)
        notes.setdefault(group, _cell(row, "note") or None)
    for group, signals in groups.items():
        out.add(ParsedItem(tuple(signals[:64]), notes[group]))


def _image_rows(
    reader: csv.DictReader, out: ParsedImport, where: str, meta: dict[str, str]
) -> None:
    for n, row in enumerate(reader, 2):
        signals: list[Signal] = []
        reasons: list[str] = []
        for kind in ("sha256", "md5"):
            value = _cell(row, kind)
            if value:
                try:
                    signals.append(parse_signal(kind, value))
                except MatchServiceError as exc:
                    reasons.append(exc.message)
        pdq = _cell(row, "pdq")
        quality_text = _cell(row, "pdq_quality")
        if pdq:
            try:
                quality = int(quality_text) if quality_text else None
                if quality is not None and quality < PDQ_MIN_QUALITY:
                    reasons.append(
                        f"PDQ quality {quality} is below {PDQ_MIN_QUALITY}: its PDQ not stored"
                    )
                else:
                    signals.append(parse_signal(SignalType.PDQ, pdq, quality))
            except ValueError:
                reasons.append(f"pdq_quality {quality_text[:10]!r} is not a number")
            except MatchServiceError as exc:
                reasons.append(exc.message)
        if reasons:
            out.skip(
                f"{where} {n}",
                "; ".join(reasons) + ("" if signals else " (row not imported)"),
            )
        if signals:
            out.add(ParsedItem(tuple(signals), None, dict(meta)))


def _member(zf: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        # a pack zipped with its folder: accept one directory level
        found = [i for i in zf.infolist() if i.filename.rsplit("/", 1)[-1] == name]
        if len(found) != 1:
            return None
        info = found[0]
    if info.file_size > MAX_MEMBER_BYTES:
        raise MatchServiceError(MatchErrorCode.TOO_LARGE, f"{name} in the pack is too large")
    with zf.open(info) as f:
        data = f.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise MatchServiceError(MatchErrorCode.TOO_LARGE, f"{name} in the pack is too large")
    return data


def _hashpack(data: bytes) -> ParsedImport:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise _bad(
            "a hashpack import is a zip of the pack's files (pdq.txt, hashes.csv, manifest.json)"
        ) from None
    with zf:
        try:
            files = {name: _member(zf, name) for name in (PDQ_FILE, CSV_FILE, MANIFEST_FILE)}
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise _bad(f"the hashpack zip does not read: {str(exc)[:120]}") from None
    out = ParsedImport("hashpack", "hashpack")
    meta: dict[str, str] = {}
    manifest_bytes = files[MANIFEST_FILE]
    if manifest_bytes is not None:
        try:
            manifest = json.loads(manifest_bytes.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _bad("the hashpack's manifest.json is not JSON") from None
        if not isinstance(manifest, dict):
            raise _bad("the hashpack's manifest.json is not an object")
        for entry in manifest.get("files", []) or []:
            if not isinstance(entry, dict) or entry.get("name") not in (PDQ_FILE, CSV_FILE):
                continue
            content = files.get(str(entry["name"]))
            if content is not None and hashlib.sha256(content).hexdigest() != entry.get("sha256"):
                raise _bad(
                    f"{entry['name']} does not match the SHA-256 in the pack's manifest: the "
                    "pack was changed after it was made"
                )
        for key, name in (("case_id", "case_id"), ("person", "person"), ("report_id", "report_id")):
            value = manifest.get(key)
            if isinstance(value, str) and value:
                meta[name] = value[:128]
        out.source = dict(meta)
    csv_bytes, pdq_bytes = files[CSV_FILE], files[PDQ_FILE]
    if csv_bytes is not None:
        _csv(_text(csv_bytes), out, CSV_FILE, meta)
    elif pdq_bytes is not None:
        _pytx(_text(pdq_bytes), out, PDQ_FILE)
        out.items = [ParsedItem(i.signals, None, dict(meta)) for i in out.items]
    else:
        raise _bad("the hashpack zip holds neither hashes.csv nor pdq.txt")
    return out


def hashpack_bytes(folder: Path) -> bytes:
    """A hashpack folder (``consentry report --format hashpack``'s output) as the zip that
    ``import_hashes(..., fmt="hashpack")`` reads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in (PDQ_FILE, CSV_FILE, MANIFEST_FILE):
            path = Path(folder) / name
            if path.is_file():
                zf.writestr(name, path.read_bytes())
    return buffer.getvalue()


def _exportable(kind: str, value: str) -> bool:
    try:
        parse_signal(kind, value)
    except MatchServiceError:
        return False
    return True


def export(rows: Iterable[tuple[int, str | None, tuple[str, str, int | None]]], fmt: str) -> bytes:
    """``rows``: (content id, note, (signal type, value, quality)) in content order; a corrupt
    stored row (see sync.py) is left out, so what is exported always imports."""
    rows = [r for r in rows if _exportable(r[2][0], r[2][1])]
    if fmt == "pytx":
        return "".join(f"{r[2][0]} {r[2][1]}\n" for r in rows).encode("ascii")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["signal_type", "value", "quality", "note", "content_id"])
    for content_id, note, (kind, value, quality) in rows:
        writer.writerow(
            [
                kind,
                value,
                "" if quality is None else quality,
                spreadsheet_safe(note or ""),
                content_id,
            ]
        )
    return buffer.getvalue().encode("utf-8")


__all__ = [
    "FORMATS",
    "ParsedImport",
    "ParsedItem",
    "export",
    "hashpack_bytes",
    "parse_import",
    "sniff",
]
