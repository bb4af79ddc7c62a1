"""``consentry links``: which image of a case was made from which, what changed, and whether the
face is still the same person. Thin: parse, call ``services.links.update_links``, print.

Exit status as for every consentry command: 0 done, 2 misuse, 3 the case folder is unusable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from consentry.cli.common import failed, shown
from consentry.services.case import CaseRef, ServiceError
from consentry.services.links import LinksRequest, update_links

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
    request = LinksRequest(CaseRef(case_dir, db_url), examiner, workers, rebuild)
    try:
        result = update_links(request)
    except ServiceError as exc:
        failed(exc)
    links = result.links
    if as_json:
        out.print_json(
            data={
                "case": str(result.case_path),
                "images": result.images,
                "images_failed": result.images_failed,
                "method": result.method,
                "links": [link.as_dict() for link in links],
            }
        )
        return
    # paths below the folder all linked images share, so the table stays readable
    shared = _common_folder([p for x in links for p in (x.derived, x.source) if p])
    title = f"paths below {shown(shared)}" if shared else None
    table = Table(show_header=True, header_style="bold", title=title)
    for col in ("derived", "source", "transform", "changed", "face swap", "confidence"):
        table.add_column(col, overflow="fold")
    for link in links:
        others = len(link.other_possible_sources)
        table.add_row(
            shown(_below(link.derived, shared)),
            shown(_below(link.source, shared)) + (f" (or {others} other)" if others else ""),
            _transform_text(link.transform),
            f"{link.changed_fraction:.0%}",
            {True: "yes", False: "no", None: "?"}[link.face_swap],
            f"{link.confidence:.2f}",
        )
    out.print(table)
    out.print(
        f"{len(links)} link(s) among {result.images} image(s); pictures in "
        f"{shown(result.case_path / 'derivation')} (blurred unless labelled not explicit)."
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
