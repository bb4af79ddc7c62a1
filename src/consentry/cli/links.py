"""``consentry links``: which image of a case was made from which, what changed, and whether the
face is still the same person. Thin: bring the links up to date, read them, print.

Exit status as for every consentry command: 0 done, 2 misuse, 3 the case folder is unusable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from consentry.cli.common import EXIT_CASE, EXIT_MISUSE, fail, shown
from consentry.derivation.link_pass import link_derivations, method_description
from consentry.store.case import CaseError, open_case
from consentry.store.links_store import LinkRecord, LinksStore
from consentry.store.output_guard import UnsafeOutput, guard_for_case

out = Console()
err = Console(stderr=True)


@click.command(
    "links",
    epilog="""\b
Examples:
  consentry links --case ./case-17
  consentry links --case ./case-17 --json > links.json
  consentry links --case ./case-17 --rebuild     # verify every pair again

\b
Each link says: DERIVED was made from SOURCE by this crop / scale / rotation / mirror; this
share of it was changed (regions as boxes, in DERIVED's pixels); whether the face is the same
person as in SOURCE (face_swap: true = another person's face, false = same, null = cannot
tell); and how confident the direction (which one is the original) is. SOURCE is the most
original picture DERIVED still matches; other_possible_sources lists pictures it matches as
well that nothing shows to be copies either (no evidence which is the original). Pictures of
each link (source, derived, change mask; blurred unless labelled not explicit) are in
CASE_DIR/derivation/. Links are computed at the end of every scan; this command brings them up
to date first (only new images cost time).""",
)
@click.option(
    "--case", "case_dir", required=True, type=click.Path(path_type=Path), help="Case folder."
)
@click.option("--db", "db_url", default=None, help="Store URL if not SQLite.")
@click.option("--json", "as_json", is_flag=True, help="Print the links as JSON.")
@click.option("--rebuild", is_flag=True, help="Forget cached pair checks and verify again.")
@click.option("--examiner", default=None, help="Who runs this (recorded in the audit log).")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Parallel processes [default: number of CPU cores].",
)
def links_cmd(
    case_dir: Path,
    db_url: str | None,
    as_json: bool,
    rebuild: bool,
    examiner: str | None,
    workers: int | None,
) -> None:
    """Show which images were derived from which (source / derived / change mask)."""
    try:
        case = open_case(case_dir, db_url)
    except CaseError as exc:
        fail(EXIT_CASE, str(exc))
    with case:
        try:  # renders are written into the case folder: never when it lies in evidence
            guard_for_case(case.store, case.path).check_case_folder()
        except UnsafeOutput as exc:
            fail(EXIT_MISUSE, str(exc))
        outcome = link_derivations(
            case.store, case.path, examiner, workers or os.cpu_count() or 1, rebuild=rebuild
        )
        ls = LinksStore(case.store.engine)
        links = ls.links()
        paths = ls.locations_of(
            [x.derived_sha256 for x in links]
            + [x.source_sha256 for x in links]
            + [sha for x in links for sha in _alternatives(x)]
        )
    rows = [_as_json(link, paths) for link in links]
    if as_json:
        out.print_json(
            data={
                "case": str(case.path),
                "images": outcome.images,
                "images_failed": outcome.feature_errors,
                "method": method_description(),
                "links": rows,
            }
        )
        return
    # paths below the folder all linked images share, so the table stays readable
    shared = _common_folder([r[k] for r in rows for k in ("derived", "source") if r[k]])
    title = f"paths below {shown(shared)}" if shared else None
    table = Table(show_header=True, header_style="bold", title=title)
    for col in ("derived", "source", "transform", "changed", "face swap", "confidence"):
        table.add_column(col, overflow="fold")
    for row in rows:
        others = len(row["other_possible_sources"])
        table.add_row(
            shown(_below(row["derived"], shared)),
            shown(_below(row["source"], shared)) + (f" (or {others} other)" if others else ""),
            _transform_text(row["transform"]),
            f"{row['changed_fraction']:.0%}",
            {True: "yes", False: "no", None: "?"}[row["face_swap"]],
            f"{row['confidence']:.2f}",
        )
    out.print(table)
    out.print(
        f"{len(rows)} link(s) among {outcome.images} image(s); pictures in "
        f"{shown(case.path / 'derivation')} (blurred unless labelled not explicit)."
    )


def _common_folder(paths: list[str]) -> str:
    """The deepest folder holding all ``paths`` ("" when there is none worth naming)."""
    if not paths:
        return ""
    try:
        folder = os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:  # relative and absolute paths mixed, or other drives
        return ""
    return "" if folder in ("", os.sep) else folder


def _below(path: str | None, folder: str) -> str:
    if not path:
        return "?"
    return os.path.relpath(path, folder) if folder and path.startswith(folder) else path


def _as_json(link: LinkRecord, paths: dict[str, list[str]]) -> dict[str, Any]:
    derived_paths = paths.get(link.derived_sha256, [])
    source_paths = paths.get(link.source_sha256, [])
    return {
        "derived": derived_paths[0] if derived_paths else None,
        "source": source_paths[0] if source_paths else None,
        "derived_sha256": link.derived_sha256,
        "source_sha256": link.source_sha256,
        "derived_paths": derived_paths,
        "source_paths": source_paths,
        "transform": json.loads(link.transform),
        "changed_fraction": link.changed_fraction,
        "changed_boxes": json.loads(link.boxes),
        "face_swap": link.face_swap,
        "face": json.loads(link.face),
        "confidence": link.confidence,
        "evidence": json.loads(link.evidence),
        # pictures the derived one matches as well, with no evidence that they are not the
        # original either: the source named is the one it differs from least
        "other_possible_sources": [
            {"sha256": sha, "path": next(iter(paths.get(sha, [])), None)}
            for sha in _alternatives(link)
        ],
        "render_dir": link.render_dir,
    }


def _alternatives(link: LinkRecord) -> list[str]:
    return list(json.loads(link.evidence).get("other_possible_sources", []))


def _transform_text(t: dict[str, Any]) -> str:
    parts = []
    if t["crop_fraction"] >= 0.01:
        parts.append(f"crop {t['crop_fraction']:.0%}")
    if abs(t["scale"] - 1) >= 0.02:
        parts.append(f"scale {t['scale']:.2f}x")
    if abs(t["rotation_deg"]) >= 1:
        parts.append(f"rotate {t['rotation_deg']:.0f} deg")
    if t["mirrored"]:
        parts.append("mirror")
    return ", ".join(parts) or "same geometry"


__all__ = ["links_cmd"]
