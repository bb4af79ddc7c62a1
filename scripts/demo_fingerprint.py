"""Run the demo case (as ``make demo`` does) and reduce what it produces to one comparable JSON
fingerprint, so that a restructuring of the package can be shown not to change behaviour
(issue 12): the evidence built, the scan summary, ``links --json``, ``persons --json``,
``case summary --json`` and the whole JSON report.

    python scripts/demo_fingerprint.py --write tests/golden/demo_fingerprint.json
    python scripts/demo_fingerprint.py --check tests/golden/demo_fingerprint.json

Against another checkout (e.g. the commit before a refactor, as a git worktree in /tmp/before,
whose CLI is started by a small wrapper script because it has no ``__main__.py``), point the CLI,
the evidence builder and the import path at it::

    PYTHONPATH=/tmp/before/src python scripts/demo_fingerprint.py --cli /tmp/consentry-before \\
        --builder /tmp/before/scripts/build_demo_evidence.py --write before.json

where ``/tmp/consentry-before`` runs ``consentry.cli.main()`` with ``PYTHONPATH=/tmp/before/src``.

Steps, in a fresh temporary folder (the order matters: it is the order of the audit log):
``scripts/build_demo_evidence.py evidence``; ``scan evidence --case case --json``;
``person add`` for each ``references/*.jpg`` (sorted) with its consent record; ``persons``;
``links --json``; ``audit verify``; ``case summary --json``; ``persons --json``;
``report --format html`` (as the demo; the HTML itself is not compared); ``report --format
json``. Every command must exit 0.

The input is pinned, not normalised: after the builder ran, every ``.zip`` in the evidence
(nested ones too) is rewritten with the same members, bytes, order and compression but a fixed
member date (the builder's ``writestr`` stamps the current time), and every file and folder of
the evidence and references gets a fixed mtime (2026-01-01T00:00:00Z; copies otherwise carry the
install time of the ``openpeople`` package). ``--workers 2`` is given to ``scan`` and ``links``
(the default, the number of CPU cores, is recorded in the report) and ``TZ=UTC`` is set. The
SHA-256 of every evidence and reference file is part of the fingerprint.

What is normalised in the outputs (only what differs from one run to the next):

- the temporary folder's absolute path, anywhere in a string -> ``<tmp>``;
- UUIDs (the case id; any other) -> ``<uuid-N>``, numbered in first-seen order (a walk of the
  documents with keys sorted), so equal ids stay equal and different ones different;
- report ids (``CR-YYYYMMDD-HHMMSS-xxxxxxxx``) -> ``<report-id-N>``, first-seen order;
- audit-chain hashes (each event's ``hash``, which covers its timestamp) -> ``<audit-N>`` where
  N is the event's seq; the same token replaces that hash wherever it appears (``prev_hash``,
  the anchor quoted in the report's limitations, ...), so the chain's links are still compared;
- SHA-256 values recorded for written report files (``report_written`` audit payloads: the HTML
  report carries its generation time) -> ``<written-report-sha256>``;
- ISO-8601 timestamps (anywhere in a string) that fall within the run (from a minute before it
  started to a minute after it ended) -> ``<run-time>``; pinned mtimes are outside and stay;
- durations: numbers under keys ending in ``_s`` (``elapsed_s``, ``cpu_s``, ``phases_s``'s
  members ...) and ``files_per_s``/``rate`` -> ``<duration>``;
- host names (keys ``host``, ``generated_host``) -> ``<host>``;
- the tool version (keys ``tool_version``) -> ``<tool-version>``.

Nothing else is touched: findings, scores, counts, content hashes (SHA-256/MD5/SHA-1/PDQ),
links, persons, labels, thresholds, model digests, problems and audit payloads are compared as
they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BUILDER = REPO / "scripts" / "build_demo_evidence.py"
FINGERPRINT_VERSION = 1
EXAMINER = "Demo Examiner"
REQUESTED_BY = "Demo Advocate"
PURPOSE = "Which images of which persons are in the demo evidence, and can it be proven?"
PINNED_EPOCH = 1767225600  # 2026-01-01T00:00:00Z
PINNED_ZIP_DATE = (2026, 1, 1, 0, 0, 0)
WORKERS = "2"
RUN_SLACK_S = 60.0

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
REPORT_ID_RE = re.compile(r"CR-\d{8}-\d{6}-[0-9a-f]+")
TIMESTAMP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?![\d.])"
)
SHA256_RE = re.compile(r"\b[0-9a-f]{64}\b")
DURATION_KEYS = {"files_per_s", "rate"}
HOST_KEYS = {"host", "generated_host"}
VERSION_KEYS = {"tool_version"}


# --- running the demo -------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"demo step failed (exit {proc.returncode}): {shlex.join(cmd)}")
    return proc.stdout


def _pin_zip(data: bytes) -> bytes:
    """The same zip with every member dated PINNED_ZIP_DATE (nested zips too)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.lower().endswith(".zip") and zipfile.is_zipfile(io.BytesIO(body)):
                body = _pin_zip(body)
            pinned = zipfile.ZipInfo(info.filename, date_time=PINNED_ZIP_DATE)
            pinned.compress_type = info.compress_type
            pinned.external_attr = info.external_attr
            pinned.create_system = info.create_system
            pinned.comment = info.comment
            dst.writestr(pinned, body)
    return out.getvalue()


def _pin_inputs(*folders: Path) -> None:
    for folder in folders:
        for path in sorted(folder.rglob("*.zip")):
            if path.is_file() and zipfile.is_zipfile(path):
                path.write_bytes(_pin_zip(path.read_bytes()))
        for path in [*folder.rglob("*"), folder]:
            os.utime(path, (PINNED_EPOCH, PINNED_EPOCH), follow_symlinks=False)


def _file_hashes(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def run_demo(cli: list[str], builder: Path, work: Path) -> tuple[dict[str, Any], float, float]:
    """Run the demo steps in ``work``; return the raw documents and the run's start/end time."""
    env = dict(os.environ, TZ="UTC", COLUMNS="120", NO_COLOR="1")
    env.pop("CONSENTRY_KEY", None)
    started = time.time()
    _run([sys.executable, str(builder), str(work / "evidence")], work, env)
    _pin_inputs(work / "evidence", work / "references")
    docs: dict[str, Any] = {
        "evidence_sha256": _file_hashes(work / "evidence"),
        "references_sha256": _file_hashes(work / "references"),
    }

    def cli_json(*args: str) -> Any:
        return json.loads(_run([*cli, *args], work, env))

    case = ["--case", "case"]
    docs["scan"] = cli_json(
        "scan", "evidence", *case, "--examiner", EXAMINER, "--workers", WORKERS, "--json", "-q"
    )
    for ref in sorted((work / "references").glob("*.jpg")):
        consent = ref.with_name(f"{ref.stem}.consent.json")
        name = ref.stem.replace("_", " ")
        photo, record = str(ref.relative_to(work)), str(consent.relative_to(work))
        enroll = ["person", "add", *case, "--name", name, "--consent", record, photo]
        _run([*cli, *enroll, "--examiner", EXAMINER], work, env)
    _run([*cli, "persons", *case], work, env)
    docs["links"] = cli_json("links", *case, "--json", "--workers", WORKERS)
    _run([*cli, "audit", "verify", *case], work, env)
    docs["summary"] = cli_json("case", "summary", *case, "--json")
    docs["persons"] = cli_json("persons", *case, "--json")
    request = ["--examiner", EXAMINER, "--requested-by", REQUESTED_BY, "--purpose", PURPOSE]
    _run([*cli, "report", *case, "--format", "html", "--out", "report.html", "--force", *request],
         work, env)  # fmt: skip
    _run([*cli, "report", *case, "--format", "json", "--out", "report.json", "--force", *request],
         work, env)  # fmt: skip
    docs["report"] = json.loads((work / "report.json").read_text(encoding="utf-8"))
    return docs, started, time.time()


# --- normalising ------------------------------------------------------------------------------


def _walk_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {fn(k): _walk_strings(value[k], fn) for k in sorted(value)}
    if isinstance(value, list):
        return [_walk_strings(v, fn) for v in value]
    return value


def _walk_keys(value: Any, fn: Callable[[str, Any], Any]) -> Any:
    if isinstance(value, dict):
        return {k: fn(k, _walk_keys(v, fn)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk_keys(v, fn) for v in value]
    return value


class _Tokens:
    """Replace each distinct match with ``<prefix-N>``, N in first-seen order."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.seen: dict[str, str] = {}

    def __call__(self, match: re.Match[str]) -> str:
        key = match.group(0).lower()
        if key not in self.seen:
            self.seen[key] = f"<{self.prefix}-{len(self.seen) + 1}>"
        return self.seen[key]


def _parse_ts(text: str) -> float | None:
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def normalise(docs: dict[str, Any], tmp_roots: list[str], started: float, ended: float) -> Any:
    roots = sorted(set(tmp_roots), key=len, reverse=True)

    # audit-chain hashes -> <audit-SEQ> (they cover timestamps); written reports' digests
    audit_tokens: dict[str, str] = {}
    written: set[str] = set()
    for event in docs.get("report", {}).get("audit", []) or []:
        if isinstance(event, dict) and isinstance(event.get("hash"), str):
            audit_tokens[event["hash"].lower()] = f"<audit-{event.get('seq')}>"
        if isinstance(event, dict) and event.get("action") == "report_written":
            written.update(SHA256_RE.findall(json.dumps(event.get("payload"))))
    written -= set(audit_tokens)
    for name in ("evidence_sha256", "references_sha256"):
        written -= set(docs.get(name, {}).values())

    uuids, report_ids = _Tokens("uuid"), _Tokens("report-id")

    def timestamp(match: re.Match[str]) -> str:
        when = _parse_ts(match.group(0))
        if when is not None and started - RUN_SLACK_S <= when <= ended + RUN_SLACK_S:
            return "<run-time>"
        return match.group(0)

    def sha(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in audit_tokens:
            return audit_tokens[text]
        return "<written-report-sha256>" if text in written else text

    def strings(text: str) -> str:
        for root in roots:
            text = text.replace(root, "<tmp>")
        text = UUID_RE.sub(uuids, text)
        text = REPORT_ID_RE.sub(report_ids, text)
        text = TIMESTAMP_RE.sub(timestamp, text)
        return SHA256_RE.sub(sha, text)

    def keys(key: str, value: Any) -> Any:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and (key.endswith("_s") or key in DURATION_KEYS):
            return "<duration>"
        if key in HOST_KEYS and isinstance(value, str):
            return "<host>"
        if key in VERSION_KEYS and isinstance(value, str):
            return "<tool-version>"
        return value

    ordered = {name: docs[name] for name in DOC_ORDER if name in docs}
    out = _walk_keys(_walk_strings(ordered, strings), keys)
    return {"fingerprint_version": FINGERPRINT_VERSION, **out}


DOC_ORDER = [
    "evidence_sha256",
    "references_sha256",
    "scan",
    "links",
    "summary",
    "persons",
    "report",
]


# --- comparing --------------------------------------------------------------------------------


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Readable differences, in document order: ``~`` changed, ``-`` gone, ``+`` new."""
    where = path or "/"
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}/{key}"
            if key not in actual:
                out.append(f"- {sub}: {_short(expected[key])} (missing now)")
            elif key not in expected:
                out.append(f"+ {sub}: {_short(actual[key])} (new)")
            else:
                out.extend(differences(expected[key], actual[key], sub))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        out = []
        if len(expected) != len(actual):
            out.append(f"~ {where}: {len(expected)} items -> {len(actual)} items")
        for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
            out.extend(differences(want, got, f"{path}[{index}]"))
        for index in range(len(actual), len(expected)):
            out.append(f"- {path}[{index}]: {_short(expected[index])} (missing now)")
        for index in range(len(expected), len(actual)):
            out.append(f"+ {path}[{index}]: {_short(actual[index])} (new)")
        return out
    if _close_floats(expected, actual):
        return []
    if expected != actual or type(expected) is not type(actual):
        return [f"~ {where}: {_short(expected)} -> {_short(actual)}"]
    return []


# A model runtime or OpenCV release moves a similarity or a matrix entry by one unit in its
# last printed digit (0.517 -> 0.5169, 510.690126 -> 510.690125); that is not a change in
# what the demo shows. Anything larger still fails.
FLOAT_ABS_TOLERANCE = 2e-4
FLOAT_REL_TOLERANCE = 1e-6


def _close_floats(expected: Any, actual: Any) -> bool:
    if not (isinstance(expected, float) and isinstance(actual, float)):
        return False
    gap = abs(expected - actual)
    return gap <= FLOAT_ABS_TOLERANCE or gap <= FLOAT_REL_TOLERANCE * max(
        abs(expected), abs(actual)
    )


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dumps(fingerprint: Any) -> str:
    return json.dumps(fingerprint, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, metavar="FILE", help="write the fingerprint")
    action.add_argument("--check", type=Path, metavar="FILE", help="compare with FILE")
    action.add_argument("--print", action="store_true", help="print the fingerprint")
    parser.add_argument(
        "--cli",
        default=None,
        help="command that runs consentry (shell-quoted; default: this Python -m consentry)",
    )
    parser.add_argument("--builder", type=Path, default=DEFAULT_BUILDER, help="evidence builder")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="run in DIR (kept) instead")
    parser.add_argument("--max-diffs", type=int, default=40, help="differences shown by --check")
    args = parser.parse_args(argv)

    cli = shlex.split(args.cli) if args.cli else [sys.executable, "-m", "consentry"]
    if args.keep:
        if args.keep.exists():
            shutil.rmtree(args.keep)
        args.keep.mkdir(parents=True)
        work = args.keep
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="consentry-fingerprint-")
        work = Path(cleanup.name)
    try:
        docs, started, ended = run_demo(cli, args.builder.resolve(), work)
        roots = [str(work.resolve()), str(work.absolute()), str(work)]
        fingerprint = normalise(docs, [r for r in roots if r not in ("", ".")], started, ended)
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    print(f"demo ran in {ended - started:.1f} s", file=sys.stderr)

    if args.print:
        sys.stdout.write(dumps(fingerprint))
        return 0
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(dumps(fingerprint), encoding="utf-8")
        print(f"fingerprint written to {args.write}", file=sys.stderr)
        return 0
    expected = json.loads(args.check.read_text(encoding="utf-8"))
    diffs = differences(expected, fingerprint)
    if not diffs:
        print(f"demo fingerprint matches {args.check}")
        return 0
    print(f"demo fingerprint differs from {args.check} at {len(diffs)} JSON path(s):")
    for line in diffs[: args.max_diffs]:
        print("  " + line)
    if len(diffs) > args.max_diffs:
        print(f"  ... and {len(diffs) - args.max_diffs} more (--max-diffs)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
