"""``consentry links``: which image of a case was made from which, what changed, and whether the
face is still the same person. Thin: parse, call ``services.links.update_links``, print.

Exit status as for every consentry command: 0 done, 2 misuse, 3 the case folder is unusable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from consentry.cli.common import (
    OutputConsole,
    SourcePaths,
    executor_options,
    failed,
    fits,
    indented,
    print_json,
    shown,
)
from consentry.services.case import CaseRef, ServiceError
from consentry.services.summary import case_sources

if TYPE_CHECKING:
    from consentry.services.links import LinkView

out = OutputConsole()


@click.command(
    "links",
    short_help="Which images were made from which, and what changed.",
    epilog="""\b
Examples:
  consentry links --case ./case-17
  consentry links --case ./case-17 --json > links.json
  consentry links --case ./case-17 --rebuild     # verify every pair again
  consentry links --case ./case-17 --executor ray --ray-address head-node:6379

\b
Each link says: DERIVED was made from SOURCE by this crop / scale / rotation / mirror; this
share of it was changed (regions as boxes, in DERIVED's pixels); whether the face is the same
person as in SOURCE (face_swap: true = another person's face, false = same, null = cannot
tell); and the direction confidence: how sure it is which of the two is the original (0.50 =
no evidence either way). Where the evidence does not say (direction "unknown"), the two are
shown as copies of each other, direction unknown; DERIVED and SOURCE then only name the pair.
SOURCE is the most original picture DERIVED still matches; other_possible_sources lists
pictures it matches as well that nothing shows to be copies either (no evidence which of them
is the source). Pictures of each link (source, derived, change mask; blurred unless labelled
not explicit) are in CASE_DIR/derivation/. Links are computed at the end of every scan; this
command brings them up to date first (only new images cost time).

\b
JSON: images, images_failed, method (thresholds), links [{derived, source, derived_paths,
source_paths, transform, changed_fraction, changed_boxes, face_swap, face, confidence,
direction (stated|unknown), evidence, other_possible_sources, render_dir}].""",
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
    help="Parallel workers [default: number of CPU cores; with --executor ray, the cluster's].",
)
@executor_options
def links_cmd(
    case_dir: Path,
    db_url: str | None,
    as_json: bool,
    rebuild: bool,
    examiner: str | None,
    workers: int | None,
    executor: str,
    ray_address: str | None,
) -> None:
    """Show which images were derived from which (source / derived / change mask)."""
    # here, not at the top: services.links imports the derivation package (`--help` and every
    # other command start without it; tests/test_startup.py)
    from consentry.services.links import LinksRequest, update_links

    request = LinksRequest(
        CaseRef(case_dir, db_url), examiner, workers, rebuild, executor, ray_address
    )
    try:
        result = update_links(request)
    except ServiceError as exc:
        failed(exc)
    links = result.links
    if as_json:
        print_json(
            out,
            {
                "case": str(result.case_path),
                "images": result.images,
                "images_failed": result.images_failed,
                "method": result.method,
                "links": [link.as_dict() for link in links],
            },
        )
        return
    try:
        paths = SourcePaths(case_sources(request.case))
    except ServiceError as exc:
        failed(exc)
    _print_links(links, paths)
    unknown = sum(1 for x in links if x.direction != "stated")
    out.print(
        f"{len(links)} link(s) among {result.images} image(s): {len(links) - unknown} made "
        f"from another picture, {unknown} pair(s) of copies with the direction unknown",
        highlight=False,
    )
    if result.images_failed:
        out.print(
            f"{result.images_failed} image(s) could not be compared (see `consentry links "
            "--json`, images_failed)",
            highlight=False,
        )
    out.print(
        f"pictures of each link: {shown(result.case_path / 'derivation')} (blurred unless "
        "labelled not explicit)",
        highlight=False,
    )


COLUMNS = ("picture", "relation to the other picture", "transform", "changed", "face swapped",
           "direction confidence")  # fmt: skip


def _print_links(links: list[LinkView], paths: SourcePaths) -> None:
    if not links:
        out.print("no links: no image of the case was made from another one found in it")
        return
    if paths.header:
        out.print(shown(paths.header), highlight=False)
    rows = [_row(link, paths) for link in links]
    table = Table(show_header=True, header_style="bold")
    for col in COLUMNS:  # paths fold only on a terminal too narrow for them; a pipe keeps lines
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    if fits(out, table):
        out.print(table)
    else:  # a narrow terminal: one block per link, nothing cut
        for picture, relation, transform, changed, swapped, confidence in rows:
            out.print(f"[bold]{picture}[/]", highlight=False)
            out.print(indented(relation, 4))
            out.print(
                indented(
                    f"{transform}; changed {changed}; face swapped: {swapped}; direction "
                    f"confidence {confidence}",
                    4,
                )
            )
    out.print(
        indented(
            "direction confidence: how sure it is which picture is the original (0.50: no "
            "evidence either way); transform and changed: from the other picture to the "
            "picture",
            0,
        )
    )


def _row(link: LinkView, paths: SourcePaths) -> tuple[str, ...]:
    """A link's cells (Rich markup, evidence-derived text escaped)."""
    others = len(link.other_possible_sources)
    other = shown(_below(link.source, paths))
    if link.direction == "stated":
        relation = f"made from {other}"
        confidence = f"{link.confidence:.2f}"
        if others:  # the direction holds, the source does not: one of several pictures
            relation += f" or {others} other(s) (no evidence which)"
            confidence += f" (source: one of {others + 1})"
    else:
        relation = f"copies of each other, direction unknown: {other}"
        if others:
            relation += f" (and {others} other(s))"
        confidence = f"{link.confidence:.2f} (direction unknown)"
    swapped = {True: "yes", False: "no", None: "cannot tell"}[link.face_swap]
    return (
        shown(_below(link.derived, paths)),
        relation,
        _transform_text(link.transform),
        f"{link.changed_fraction:.0%}",
        swapped,
        confidence,
    )


def _below(path: str | None, paths: SourcePaths) -> str:
    return paths.below(path) if path else "(path unknown)"


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
