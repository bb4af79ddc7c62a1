"""CASE/UCO JSON-LD export (CASE 1.5.0 / UCO 1.4.0): files, hashes, the investigative actions
with the tool configuration, and the classifications — for tools that exchange forensic
results in the Cyber-investigation Analysis Standard Expression.

The graph:

- ``investigation:Investigation`` — the case, grouping the actions;
- ``tool:Tool`` consentry, and one ``tool:ConfiguredTool`` per analyzer (explicit, faces,
  provenance, …) whose ``configuration:Configuration`` lists the model files' SHA-256 and the
  thresholds in force, as ``ConfigurationEntry`` name/value pairs;
- one ``investigation:InvestigativeAction`` per scan (performer: the examiner; object: the
  sources; result: the files found);
- ``observable:File`` per place an image was found, with ``FileFacet`` (name, path as recorded,
  size, modified time), ``ContentDataFacet`` (MD5, SHA1, SHA256 and PDQ hashes, MIME type) and
  ``RasterPictureFacet`` (width, height);
- per image content and analyzer one ``analysis:Analysis`` action (object: the files with those
  bytes; instrument: the configured tool) whose result is an ``analysis:AnalyticResult`` with an
  ``ArtifactClassificationResultFacet``: ``explicit:<label>`` with the score as confidence,
  ``provenance:<verdict>``, ``person:<code>`` for each person matched (codes only, no names),
  and for any other analyzer (a plug-in) the classes its ``Analyzer.uco_classes`` names
  (by default ``<analyzer>:<label>`` with its score).

A video is an ``observable:File`` like an image (UCO 1.4 has no video facet): its
``ContentDataFacet`` holds MD5, SHA1 and SHA256 and one ``hashMethod "VPDQ"`` hash per vPDQ
feature (the PDQ of one sampled frame, in frame order, as Meta's ``vpdq`` computes them; frame
number, time and quality are in the hash node's ``core:description``), and ``core:description``
on the file says codec, frame size, length and frames decoded. Its classifications are the
video's (the worst frame's label).

PDQ is written as ``hashMethod "PDQ"``: UCO's hash-name vocabulary is open and lacks it, so
``case_validate`` reports one *Info* per PDQ hash (not a violation). Identifiers are stable
UUIDv5 IRIs derived from the case id, so exporting a case twice names each node the same.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from consentry.analyzers import registry
from consentry.records.items import VideoFrameHash

if TYPE_CHECKING:
    from consentry.reports.collect import CaseReport, MethodInfo, ReportItem
    from consentry.reports.options import ReportOptions

CASE_VERSION = "case-1.5.0"  # the ontology release these terms were checked against
CONTEXT = {
    "action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "analysis": "https://ontology.unifiedcyberontology.org/uco/analysis/",
    "configuration": "https://ontology.unifiedcyberontology.org/uco/configuration/",
    "core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "investigation": "https://ontology.caseontology.org/case/investigation/",
    "observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
# scan status -> UCO's ActionStatusTypeVocab (a running scan was interrupted or is going on)
_ACTION_STATUS = {"completed": "Complete/Finish", "running": "Ongoing"}
_NAMESPACE = uuid.UUID("5f6b1c1e-4f1e-4d43-9a53-636f6e73656e")  # fixed: stable IRIs


def write_case_uco(report: CaseReport, out: Path, options: ReportOptions) -> list[Path]:
    """Write the report as one CASE/UCO JSON-LD document to ``out``."""
    doc = case_graph(report, options)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return [out]


def _typed(datatype: str, value: object) -> dict[str, str]:
    return {"@type": f"xsd:{datatype}", "@value": str(value)}


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


@dataclass
class _Graph:
    case_id: str
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def iri(self, kind: str, key: str) -> str:
        return f"kb:{kind}-{uuid.uuid5(_NAMESPACE, f'{self.case_id}/{kind}/{key}')}"

    def add(self, node: dict[str, Any]) -> str:
        self.nodes.append(node)
        return str(node["@id"])


def case_graph(report: CaseReport, options: ReportOptions) -> dict[str, Any]:
    g = _Graph(report.case_id)
    consentry = g.add(
        {
            "@id": g.iri("Tool", "consentry"),
            "@type": "tool:Tool",
            "core:name": "consentry",
            "tool:version": report.tool_version,
            "tool:toolType": "forensic image triage",
        }
    )
    tools = {m.analyzer: _configured_tool(g, m, consentry) for m in report.methods}

    from consentry.reports.hashpack import video_features

    features = video_features(report)
    files_of: dict[str, list[str]] = {}
    first_of: dict[str, ReportItem] = {}
    for item in report.items:
        if not item.sha256:
            continue  # unreadable: nothing was hashed, the report's problems list says why
        file_node = _file(g, item, features.get(item.sha256, ()))
        files_of.setdefault(item.sha256, []).append(g.add(file_node))
        first_of.setdefault(item.sha256, item)

    examiners = [
        g.add({"@id": g.iri("Identity", e), "@type": "identity:Identity", "core:name": e})
        for e in report.examiners
    ]
    scan_actions: list[str] = []
    all_files = [f for files in files_of.values() for f in files]
    for scan in report.scans:
        sources = [
            g.add(
                {
                    "@id": g.iri("Source", s),
                    "@type": "observable:ObservableObject",
                    "core:name": s,
                    "core:hasFacet": [
                        {
                            "@id": g.iri("SourceFacet", s),
                            "@type": "observable:FileFacet",
                            "observable:filePath": s,
                        }
                    ],
                }
            )
            for s in scan.sources
        ]
        node: dict[str, Any] = {
            "@id": g.iri("Scan", str(scan.scan_id)),
            "@type": "investigation:InvestigativeAction",
            "core:name": f"scan {scan.scan_id}",
            "core:description": (
                "inventory of every file (archives included) with SHA-256, MD5, SHA-1 and PDQ, "
                "evidence opened read-only"
            ),
            "action:actionStatus": _ACTION_STATUS.get(scan.status, "Unknown"),
            "action:startTime": _typed("dateTime", scan.started_at),
            "action:instrument": [_ref(consentry)],
            "action:object": [_ref(s) for s in sources],
            "action:result": [_ref(f) for f in all_files],
        }
        if scan.finished_at:
            node["action:endTime"] = _typed("dateTime", scan.finished_at)
        if scan.examiner and scan.examiner in report.examiners:
            node["action:performer"] = _ref(examiners[report.examiners.index(scan.examiner)])
        scan_actions.append(g.add(node))

    scope = options.person
    actions = list(scan_actions)
    for sha, item in sorted(first_of.items()):
        for analyzer, classes in _classifications(item, scope):
            actions.append(
                _analysis(
                    g, sha, analyzer, classes, files_of[sha], tools.get(analyzer), scan_actions
                )
            )

    g.add(
        {
            "@id": g.iri("Investigation", report.case_id),
            "@type": "investigation:Investigation",
            "core:name": report.case_name,
            "core:description": (
                f"consentry report {report.report_id} of case {report.case_id}"
                + (f", limited to person {scope}" if scope else "")
            ),
            "investigation:focus": "non-consensual intimate images, including digital forgeries",
            "core:object": [_ref(a) for a in actions],
        }
    )
    return {"@context": {"kb": f"urn:consentry:{report.case_id}:", **CONTEXT}, "@graph": g.nodes}


def _configured_tool(g: _Graph, method: MethodInfo, consentry: str) -> str:
    entries = [("model_sha256", sha) for sha in method.model_sha256]
    entries += [(str(k), _value(v)) for k, v in sorted(method.thresholds.items())]
    config = g.add(
        {
            "@id": g.iri("Configuration", method.analyzer),
            "@type": "configuration:Configuration",
            "configuration:configurationEntry": [
                {
                    "@id": g.iri("ConfigurationEntry", f"{method.analyzer}/{n}/{name}"),
                    "@type": "configuration:ConfigurationEntry",
                    "configuration:itemName": name,
                    "configuration:itemValue": value,
                }
                for n, (name, value) in enumerate(entries)
            ],
        }
    )
    return g.add(
        {
            "@id": g.iri("ConfiguredTool", method.analyzer),
            "@type": "tool:ConfiguredTool",
            "core:name": f"consentry {method.analyzer} analyzer",
            "core:description": method.description,
            "tool:version": method.version,
            "configuration:isConfigurationOf": _ref(consentry),
            "configuration:usesConfiguration": _ref(config),
        }
    )


def _value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _is_video(item: ReportItem) -> bool:
    return bool(item.mime and item.mime.startswith("video/"))


def _vpdq_hashes(g: _Graph, key: str, features: Sequence[VideoFrameHash]) -> list[dict[str, Any]]:
    return [
        {
            "@id": g.iri("Hash", f"{key}/VPDQ/{f.frame_number}"),
            "@type": "types:Hash",
            "types:hashMethod": "VPDQ",
            "types:hashValue": _typed("hexBinary", f.pdq.upper()),
            "core:description": (
                f"vPDQ frame {f.frame_number} at {f.timestamp_s:.3f} s, quality {f.quality}"
            ),
        }
        for f in features
    ]


def _video_description(item: ReportItem, features: int) -> str:
    video = getattr(item, "video", None)
    parts = ["video"]
    codec = getattr(video, "codec", None)
    if codec:
        parts.append(str(codec))
    if item.width and item.height:
        parts.append(f"{item.width}x{item.height}")
    duration = getattr(video, "duration_s", None)
    if duration is not None:
        parts.append(f"{duration:g} s")
    frames = getattr(video, "frame_count", None)
    if frames is not None:
        parts.append(f"{frames} frames")
    return " ".join(parts) + f"; {features} vPDQ features (one frame a second)"


def _file(g: _Graph, item: ReportItem, features: Sequence[VideoFrameHash] = ()) -> dict[str, Any]:
    key = item.location
    name = PurePosixPath(item.location.replace("!/", "/")).name
    file_facet: dict[str, Any] = {
        "@id": g.iri("FileFacet", key),
        "@type": "observable:FileFacet",
        "observable:fileName": name,
        "observable:filePath": item.location,
    }
    if item.size is not None:
        file_facet["observable:sizeInBytes"] = _typed("integer", item.size)
    if item.mtime:
        file_facet["observable:modifiedTime"] = _typed("dateTime", item.mtime)
    hashes = [("MD5", item.md5), ("SHA1", item.sha1), ("SHA256", item.sha256), ("PDQ", item.pdq)]
    content: dict[str, Any] = {
        "@id": g.iri("ContentDataFacet", key),
        "@type": "observable:ContentDataFacet",
        "observable:hash": [
            {
                "@id": g.iri("Hash", f"{key}/{method}"),
                "@type": "types:Hash",
                "types:hashMethod": method,
                "types:hashValue": _typed("hexBinary", value.upper()),
            }
            for method, value in hashes
            if value
        ]
        + _vpdq_hashes(g, key, features),
    }
    if item.mime:
        content["observable:mimeType"] = item.mime
    if item.size is not None:
        content["observable:sizeInBytes"] = _typed("integer", item.size)
    facets = [file_facet, content]
    if _is_video(item):
        return {
            "@id": g.iri("File", key),
            "@type": "observable:File",
            "core:description": _video_description(item, len(features)),
            "core:hasFacet": facets,
        }
    if item.width and item.height:
        facets.append(
            {
                "@id": g.iri("RasterPictureFacet", key),
                "@type": "observable:RasterPictureFacet",
                "observable:pictureWidth": _typed("integer", item.width),
                "observable:pictureHeight": _typed("integer", item.height),
            }
        )
    return {"@id": g.iri("File", key), "@type": "observable:File", "core:hasFacet": facets}


def _classifications(
    item: ReportItem, scope: str | None
) -> Iterable[tuple[str, list[tuple[str, float | None]]]]:
    if item.explicit_label:
        yield "explicit", [(f"explicit:{item.explicit_label}", item.explicit_score)]
    if item.provenance_verdict:
        yield "provenance", [(f"provenance:{item.provenance_verdict}", None)]
    codes = [c for c in item.person_codes if scope is None or c == scope]
    if codes:
        yield "faces", [(f"person:{c}", None) for c in codes]
    for f in item.findings:  # the other analyzers' (plug-ins), each naming its own classes
        try:
            classes = registry.get(f.analyzer).uco_classes(f.label, f.score)
        except registry.UnknownAnalyzer:  # no longer installed: its label as recorded
            classes = [(f"{f.analyzer}:{f.label}", f.score)] if f.label else []
        if classes:
            yield f.analyzer, classes


def _analysis(
    g: _Graph,
    sha: str,
    analyzer: str,
    classes: list[tuple[str, float | None]],
    files: list[str],
    tool: str | None,
    scans: list[str],
) -> str:
    key = f"{sha}/{analyzer}"
    classifications = []
    for name, confidence in classes:
        node: dict[str, Any] = {
            "@id": g.iri("ArtifactClassification", f"{key}/{name}"),
            "@type": "analysis:ArtifactClassification",
            "analysis:class": name,
        }
        if confidence is not None:
            node["analysis:classificationConfidence"] = _typed("decimal", f"{confidence:.4f}")
        classifications.append(node)
    result = g.add(
        {
            "@id": g.iri("AnalyticResult", key),
            "@type": "analysis:AnalyticResult",
            "core:hasFacet": [
                {
                    "@id": g.iri("ArtifactClassificationResultFacet", key),
                    "@type": "analysis:ArtifactClassificationResultFacet",
                    "analysis:classification": classifications,
                }
            ],
            "analysis:originatingAnalysis": _ref(g.iri("Analysis", key)),
        }
    )
    node = {
        "@id": g.iri("Analysis", key),
        "@type": ["analysis:Analysis", "investigation:InvestigativeAction"],
        "core:name": f"{analyzer} analysis of SHA-256 {sha[:16]}…",
        "action:object": [_ref(f) for f in files],
        "action:result": [_ref(result)],
        "investigation:wasInformedBy": [_ref(s) for s in scans],
    }
    if tool is not None:
        node["action:instrument"] = [_ref(tool)]
    return g.add(node)


__all__ = ["CASE_VERSION", "case_graph", "write_case_uco"]
