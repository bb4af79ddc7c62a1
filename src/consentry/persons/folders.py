"""Folder reconciliation: how the evidence is filed against who the faces say is in it.

In the case behind this project the images sat in folders named after the people depicted.
A folder's name is the suspect's claim; the faces are the evidence. Per folder we report how
many images it holds and which persons appear, and flag what does not add up:

- ``person_in_several_folders``: one person's images are spread over folders;
- ``folder_mixes_persons``: a folder holds images of two or more persons;
- ``folder_named_like_a_person``: the folder name looks like a person's name (``Jane_Doe``,
  ``jane doe``, ``JaneDoe``), with the enrolled person whose name it matches, if any, and who
  actually appears in it;
- ``named_person_missing``: a folder named after an enrolled person in which that person is not
  found (or is not the main person).

The persons count reads the folders too (``held_folders``): a person who is the main person of
several folders named like *different* people may be several persons the face model cannot
separate (synthetic look-alikes crowd together), and a group that fills a folder named after an
enrolled person may be that person. Both are claims to review, never identifications.

Pure functions: the caller passes what the store holds; nothing is read or written here.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Words that make a folder name a place for files, not a person (compared case-insensitively).
NOT_NAMES = frozenset(
    """
    dcim camera cameraroll pictures picture pics pic photos photo images image img imgs
    screenshots screenshot downloads download documents desktop backup backups new old folder
    misc other others various unsorted sorted saved save edits edited export exports whatsapp
    telegram signal instagram snapchat facebook tiktok twitter media received sent private
    archive archives temp tmp the and for from with all best favourites favorites hidden vault
    selfies selfie family friends school work party holiday holidays vacation trip
    """.split()  # noqa: SIM905 - a word list reads better as text
)
MIN_TOKEN = 2
MAX_TOKENS = 4


@dataclass(frozen=True)
class FolderImage:
    """One image location: its folder and the persons (codes) whose faces are in it."""

    folder: str
    path: str
    persons: frozenset[str]
    has_faces: bool


@dataclass
class FolderReport:
    folder: str
    images: int
    images_with_faces: int
    persons: dict[str, int]  # code -> images in this folder
    name_like: bool
    named_after: list[str] = field(default_factory=list)  # enrolled codes whose name matches


@dataclass(frozen=True)
class Inconsistency:
    kind: str
    message: str
    folders: tuple[str, ...] = ()
    persons: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeldFolder:
    """A folder named like a person in which one person is the main one (``held_folders``)."""

    folder: str
    name: str  # the folder's name as words ("devon price"): folders with one name are one person
    images: int  # the person's images in it
    images_with_faces: int  # the folder's images that show faces
    named_after: tuple[str, ...] = ()  # enrolled codes whose name the folder's name matches


def folder_base(folder: str) -> str:
    """The last part of a folder's path (``a/b/Jane_Doe`` -> ``Jane_Doe``, ``x.zip!/Jane``
    -> ``Jane``)."""
    return folder.rstrip("/").rpartition("/")[2].rpartition("!")[2] or folder


def held_folders(
    code: str, reports: Sequence[FolderReport], main_share: float = 0.5
) -> list[HeldFolder]:
    """Folders named like a person (or after an enrolled one) in which ``code`` is the main
    person: it shows in the most images of the folder, and in at least ``main_share`` of its
    images with faces. Sorted by folder."""
    out = []
    for r in reports:
        if not (r.name_like or r.named_after) or code not in r.persons:
            continue
        mine = r.persons[code]
        if mine < max(r.persons.values()) or mine < main_share * max(1, r.images_with_faces):
            continue
        out.append(
            HeldFolder(
                r.folder,
                " ".join(name_tokens(folder_base(r.folder))),
                mine,
                r.images_with_faces,
                tuple(r.named_after),
            )
        )
    return sorted(out, key=lambda h: h.folder)


def folder_of(path: str) -> str:
    """The folder a location sits in; archive members keep their archive (``a.zip!/x``)."""
    head, sep, _ = path.rpartition("/")
    return head if sep else "."


def name_tokens(text: str) -> list[str]:
    """``Jane_Doe`` / ``jane-doe`` / ``JaneDoe`` / ``Jane Doe 2`` -> ["jane", "doe"]."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)  # CamelCase
    tokens = re.split(r"[\W_\d]+", text)
    return [_fold(t) for t in tokens if t]


def looks_like_a_name(folder_name: str) -> bool:
    """Two to four alphabetic words, none of them a usual folder word: ``Jane_Doe``."""
    tokens = name_tokens(folder_name)
    if not MIN_TOKEN <= len(tokens) <= MAX_TOKENS:
        return False
    return all(len(t) >= 2 and t.isalpha() and t not in NOT_NAMES for t in tokens)


def named_after(folder_name: str, enrolled: Mapping[str, str]) -> list[str]:
    """Enrolled codes whose name matches the folder name: every folder word is a word of the
    name, and at least two words match (or the name has one word, and it is the folder's)."""
    tokens = set(name_tokens(folder_name))
    if not tokens:
        return []
    out = []
    for code, name in enrolled.items():
        words = set(name_tokens(name))
        if tokens <= words and (len(tokens) >= 2 or words == tokens):
            out.append(code)
    return sorted(out)


def reconcile(
    images: Sequence[FolderImage],
    enrolled_names: Mapping[str, str],
    main_share: float = 0.5,
) -> tuple[list[FolderReport], list[Inconsistency]]:
    """Per-folder counts and the inconsistencies listed in the module docstring."""
    by_folder: dict[str, list[FolderImage]] = defaultdict(list)
    for image in images:
        by_folder[image.folder].append(image)
    reports: list[FolderReport] = []
    issues: list[Inconsistency] = []
    person_folders: dict[str, Counter[str]] = defaultdict(Counter)
    for folder in sorted(by_folder):
        items = by_folder[folder]
        persons: Counter[str] = Counter()
        for image in items:
            persons.update(image.persons)
            for code in image.persons:
                person_folders[code][folder] += 1
        base = folder_base(folder)
        report = FolderReport(
            folder=folder,
            images=len(items),
            images_with_faces=sum(1 for i in items if i.has_faces),
            persons=dict(sorted(persons.items(), key=lambda kv: (-kv[1], _code_key(kv[0])))),
            name_like=looks_like_a_name(base),
            named_after=named_after(base, enrolled_names),
        )
        reports.append(report)
        if len(persons) >= 2:
            issues.append(
                Inconsistency(
                    "folder_mixes_persons",
                    f"{folder}: {len(persons)} persons in {len(items)} images ("
                    + ", ".join(f"{c} in {n}" for c, n in report.persons.items())
                    + ")",
                    (folder,),
                    tuple(report.persons),
                )
            )
        if report.name_like or report.named_after:
            shown = ", ".join(f"{c} in {n}" for c, n in list(report.persons.items())[:3])
            enrolled_text = (
                f"; matches the name of enrolled {', '.join(report.named_after)}"
                if report.named_after
                else ""
            )
            issues.append(
                Inconsistency(
                    "folder_named_like_a_person",
                    f"{folder}: the name looks like a person's name{enrolled_text}; "
                    f"{report.images_with_faces} of {report.images} images show faces"
                    + (f" ({shown})" if shown else ""),
                    (folder,),
                    tuple(report.named_after),
                )
            )
        for code in report.named_after:
            present = persons.get(code, 0)
            if report.images and present < main_share * report.images:
                issues.append(
                    Inconsistency(
                        "named_person_missing",
                        f"{folder}: named after {code} ({enrolled_names[code]}), who appears in "
                        f"{present} of its {report.images} images",
                        (folder,),
                        (code,),
                    )
                )
    for code in sorted(person_folders, key=_code_key):
        spread = person_folders[code]
        if len(spread) >= 2:
            ordered = sorted(spread.items(), key=lambda kv: (-kv[1], kv[0]))
            issues.append(
                Inconsistency(
                    "person_in_several_folders",
                    f"{code} appears in {len(spread)} folders ("
                    + ", ".join(f"{f}: {n}" for f, n in ordered)
                    + ")",
                    tuple(f for f, _ in ordered),
                    (code,),
                )
            )
    return reports, issues


def _fold(token: str) -> str:
    """Lower case without accents: 'Zoë' and 'zoe' are one word."""
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _code_key(code: str) -> tuple[str, int]:
    digits = code[1:]
    return (code[:1], int(digits) if digits.isdigit() else 0)


def codes_sorted(codes: Iterable[str]) -> list[str]:
    return sorted(codes, key=_code_key)


__all__ = [
    "FolderImage",
    "FolderReport",
    "HeldFolder",
    "Inconsistency",
    "codes_sorted",
    "folder_base",
    "folder_of",
    "held_folders",
    "looks_like_a_name",
    "name_tokens",
    "named_after",
    "reconcile",
]
