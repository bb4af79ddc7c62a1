"""Who a report may name: person names become codes (``--redact``), and a person-scoped report
names no one else (``--person``), in text and in folder and file names alike.

Paths are treated in two parts. The source root (``/mnt/seized``) was chosen by the examiner
and only loses enrolled persons' names. Below it, folders are the suspect's filing: a folder
named after an enrolled person becomes that person's code (or ``[other person]``), and any
other folder whose name looks like a person's name (``Jane_Doe``) is withheld, since it may name
an unidentified person. File names lose enrolled names only (``IMG_0042``, ``selfie`` stay).

A person-scoped report goes further (``neutral_paths``; the examiner may opt out with
``ReportOptions.show_paths``): a name in a file name cannot be recognised reliably
(``swap_jane_on_bob.jpg``, ``Carol_White nude with Jane.jpg`` name people who may not be
enrolled), so below the source root every segment is replaced by a neutral identifier: a
file by ``[file <first 16 hex of its SHA-256>]`` and its extension, an archive by
``[archive N]``, a folder by ``[folder N]`` — except a folder named after the scoped person
alone. The same name gets the same identifier throughout the report, and problem messages
have those names replaced the same way (``message``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from consentry.persons.folders import looks_like_a_name, name_tokens, named_after
from consentry.records.locations import DISK_SEPARATOR

OTHER_PERSON = "[other person]"
PERSON_CODE = re.compile(r"\b[EU][0-9]+\b")
WITHHELD = "[withheld]"
# keys of audit payloads (consent records) that name a person
NAME_KEYS = frozenset({"name", "consented_by"})
MIN_NAME_WORD = 3  # a single name word this long in a path segment is taken as the name
# kept on a neutral file name: common image, video and archive types (any other extension
# could be a word, even a name: "with Jane.Carol")
SAFE_EXTENSION = re.compile(
    r"\.(?:jpe?g|png|gif|webp|hei[cf]|avif|jxl|bmp|tiff?|dng|raw|cr2|nef|arw|psd|svg|ico"
    r"|mp4|mov|m4v|avi|mkv|webm|3gp|zip|7z|rar|tar|gz|tgz|pdf|txt|json|xml|db|sqlite)",
    re.IGNORECASE,
)
ARCHIVE_MARK = "!"  # "backup.zip!/member.jpg": the segment ending in ! is an archive


class Redactor:
    def __init__(
        self,
        enrolled: dict[str, str],
        scope: str | None,
        redact: bool,
        roots: Sequence[str] = (),
        neutral_paths: bool = False,
        file_hashes: Mapping[str, str | None] | None = None,
    ) -> None:
        self.enrolled = enrolled
        self.scope = scope
        self.redact = redact
        self.active = redact or scope is not None
        self.roots = sorted({r.rstrip("/") for r in roots if r}, key=len, reverse=True)
        # person-scoped: names below the source root become neutral identifiers
        self.neutral = neutral_paths and scope is not None
        self.file_hashes: Mapping[str, str | None] = file_hashes or {}  # location -> SHA-256
        # (kind, original name, SHA-256 of a file or "") -> identifier
        self._neutral: dict[tuple[str, str, str], str] = {}
        self._counters: dict[str, int] = {}
        self._withheld: dict[str, str] = {}
        self._patterns = [
            (code, re.compile(r"[\W_]*".join(map(re.escape, name.split())), re.IGNORECASE))
            for code, name in sorted(enrolled.items(), key=lambda kv: -len(kv[1]))
            if name.strip()
        ]
        self._words = {
            code: {w for w in name_tokens(name) if len(w) >= MIN_NAME_WORD}
            for code, name in enrolled.items()
        }

    def _who(self, code: str) -> str | None:
        """What replaces the name of ``code``: None keeps it."""
        if self.scope is not None and code != self.scope:
            return OTHER_PERSON
        return f"[{code}]" if self.redact else None

    def text(self, value: str) -> str:
        if not self.active:
            return value
        for code, pattern in self._patterns:
            who = self._who(code)
            if who is not None:
                value = pattern.sub(who, value)
        if self.scope is not None:  # "other faces of this group match E1": not in E2's report
            value = PERSON_CODE.sub(
                lambda m: m.group(0) if m.group(0) == self.scope else OTHER_PERSON, value
            )
        return value

    def message(self, value: str) -> str:
        """A problem message about a location: ``text``, and (person-scoped) every folder or
        file name already replaced in a path replaced the same way in the message."""
        value = self.text(value)
        if self.neutral:
            for (_kind, original, _sha), neutral in sorted(
                self._neutral.items(), key=lambda kv: -len(kv[0][1])
            ):
                if len(original) >= MIN_NAME_WORD:  # a whole name, not part of a word
                    pattern = rf"(?<![^\W_]){re.escape(original)}(?![^\W_])"
                    value = re.sub(pattern, neutral.replace("\\", r"\\"), value)
        return value

    def _enrolled_in(self, stem: str) -> list[str]:
        tokens = set(name_tokens(stem))
        return named_after(stem, self.enrolled) or sorted(
            c for c, words in self._words.items() if tokens & words
        )

    def segment(
        self, seg: str, folder_rules: bool, is_file: bool, sha256: str | None = None
    ) -> str:
        stem, ext = os.path.splitext(seg) if is_file else (seg, "")
        codes = self._enrolled_in(stem)
        if codes and is_file:
            return self._file_name(stem, ext, sha256)
        if codes:
            if self.scope in codes:
                return f"[{self.scope}]{ext}" if self.redact else seg
            who = self._who(codes[0])
            return seg if who is None else who + ext
        if folder_rules and not is_file and looks_like_a_name(stem.rstrip("!")):
            n = self._withheld.setdefault(stem, f"[name withheld {len(self._withheld) + 1}]")
            return n
        return seg

    def _replacement(self, code: str) -> str | None:
        """What replaces ``code``'s name in a file name: None keeps it."""
        if code == self.scope:
            return f"[{code}]" if self.redact else None
        return self._who(code)

    def _file_name(self, stem: str, ext: str, sha256: str | None) -> str:
        """A file name that names an enrolled person: the name replaced where it stands, the rest
        kept (``Jane_Doe_beach_2.jpg`` -> ``[E1]_beach_2.jpg``), so that files named after one
        person stay distinguishable. Where nothing else is left of the name (``Jane Doe.jpg``)
        or the name cannot be told apart from the rest, the first 8 hex of the file's SHA-256
        follow the code."""
        out = stem
        for code, pattern in self._patterns:
            who = self._replacement(code)
            if who is not None:
                out = pattern.sub(who, out)
        for code, words in self._words.items():
            who = self._replacement(code)
            if who is None:
                continue
            for w in sorted(words, key=len, reverse=True):
                out = re.sub(rf"(?<![^\W\d_]){re.escape(w)}(?![^\W\d_])", who, out, flags=re.I)
        left = [x for c in self._enrolled_in(out) if (x := self._replacement(c)) is not None]
        if left:  # a spelling the patterns did not catch (accents, ...): the name goes whole
            out = "".join(dict.fromkeys(left))
        rest = re.sub(r"\[[^\]]*\]", "", out)
        if not re.search(r"[^\W_]", rest) and sha256:
            out = f"{out} {sha256[:8]}"
        return out + ext

    def _identifier(self, kind: str, original: str, sha256: str | None = None) -> str:
        key = (kind, original, sha256 or "")  # same-named files with other bytes: other names
        if key not in self._neutral:
            ext = os.path.splitext(original)[1] if kind == "file" else ""
            ext = ext if SAFE_EXTENSION.fullmatch(ext) else ""
            if kind == "file" and sha256:
                self._neutral[key] = f"[file {sha256[:16]}]{ext}"
            else:
                n = self._counters[kind] = self._counters.get(kind, 0) + 1
                mark = ARCHIVE_MARK if kind == "archive" else ""
                self._neutral[key] = f"[{kind} {n}]{ext}{mark}"
        return self._neutral[key]

    def neutral_segment(self, seg: str, is_file: bool, sha256: str | None) -> str:
        """A segment below the source root in a person-scoped report (see the module doc)."""
        if is_file:
            return self._identifier("file", seg, sha256)
        if seg.endswith(ARCHIVE_MARK):
            return self._identifier("archive", seg)
        if self.scope is not None and named_after(seg, self.enrolled) == [self.scope]:
            return f"[{self.scope}]" if self.redact else seg
        return self._identifier("folder", seg)

    def path(self, value: str, folder: bool = False, sha256: str | None = None) -> str:
        """A location path (``folder``: the whole path is folders, no file name at its end;
        ``sha256``: the file's, for its neutral name when the location is not a known one)."""
        if not self.active:
            return value
        head, tail = "", value
        for root in self.roots:
            if value == root or value.startswith(root + "/"):
                head, tail = root, value[len(root) :]
                break
            if value.startswith(root + DISK_SEPARATOR):
                # a file in a disk image source: the image and its volume ("!p2") are the root
                volume, slash, rest = value[len(root) :].partition("/")
                head, tail = root + volume, slash + rest
                break
        head_out = "/".join(
            self.segment(p, False, False) if p and DISK_SEPARATOR not in p else p
            for p in head.split("/")
        )
        parts = tail.split("/")
        if self.neutral and (tail or not head):
            sha = sha256 or self.file_hashes.get(value)
            tail_out = "/".join(
                self.neutral_segment(p, not folder and i == len(parts) - 1, sha) if p else p
                for i, p in enumerate(parts)
            )
        else:
            sha = sha256 or self.file_hashes.get(value)
            tail_out = "/".join(
                self.segment(p, True, not folder and i == len(parts) - 1, sha) if p else p
                for i, p in enumerate(parts)
            )
        return (head_out if head else "") + tail_out


def redact_value(value: Any, r: Redactor) -> Any:
    """An audit payload with names replaced: strings as text, strings with '/' as paths."""
    if not r.active:
        return value
    if isinstance(value, dict):
        return {
            redact_value(k, r): WITHHELD
            if k in NAME_KEYS and isinstance(v, str)
            else redact_value(v, r)
            for k, v in value.items()
        }  # keys too: a scan's files_per_source is keyed by source path
    if isinstance(value, list):
        return [redact_value(v, r) for v in value]
    if isinstance(value, str):
        return r.path(r.text(value)) if "/" in value else r.text(value)
    return value


__all__ = ["OTHER_PERSON", "Redactor", "redact_value"]
