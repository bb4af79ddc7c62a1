"""Same results on Ray: one evidence folder scanned (with the derivation pass) by the local
process pool, by a local Ray instance (``ray.init(num_cpus=2)``) and by a simulated two-node
Ray cluster (``ray.cluster_utils.Cluster``) gives stores that are equal row for row - items,
problems, findings, faces, thumbnails, persons (clusters), derivation features, pairs and links.

The folder holds what a scan meets: photos of two people (clusters), pictures derived from
them (a crop, a mirror, a pasted patch: derivation links), a zip with members, a broken JPEG,
an empty file and a text file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from .ray_support import local_ray, ray_cluster
from .store_dump import differences, dump_items

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "lfw"
PEOPLE = ("Colin_Powell", "Donald_Rumsfeld")


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not LFW.is_dir():
        pytest.skip("../shared/data/faces/lfw (harmless labelled faces) is absent")
    root = tmp_path_factory.mktemp("ray-evidence")
    photos = []
    for person in PEOPLE:
        for path in sorted((LFW / person).glob("*.jpg"))[:6]:
            target = root / "Pictures" / person / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            photos.append(target)
    assert len(photos) >= 8, "too few LFW photos of the two people"
    base = Image.open(photos[0]).convert("RGB")
    w, h = base.size
    made = root / "Downloads"
    made.mkdir()
    (made / "crop.jpg").write_bytes(_jpeg(base.crop((20, 20, w - 10, h - 30)).resize((300, 300))))
    (made / "mirror.jpg").write_bytes(_jpeg(ImageOps.mirror(base)))
    edited = base.copy()
    edited.paste((200, 60, 60), (90, 150, 160, 190))  # a changed region, the rest kept
    (made / "edited.png").write_bytes(_png(edited))
    with zipfile.ZipFile(root / "export.zip", "w") as z:
        z.writestr("chat/a.jpg", photos[1].read_bytes())
        z.writestr("chat/b.jpg", _jpeg(Image.open(photos[7]).rotate(3)))
    (root / "broken.jpg").write_bytes(photos[2].read_bytes()[:300])
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("harmless text\n")
    return root


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _scan(evidence: Path, case: Path, executor: str, address: str | None = None) -> int:
    from consentry.services.case import CaseRef
    from consentry.services.scan import ScanRequest, scan

    result = scan(
        ScanRequest(
            CaseRef(case),
            (str(evidence),),
            examiner="Test Examiner",
            workers=2,
            executor=executor,
            ray_address=address,
        )
    )
    return result.workers


@pytest.fixture(scope="module")
def pool_case(evidence: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = tmp_path_factory.mktemp("pool") / "case"
    _scan(evidence, case, "local")
    return case


@pytest.fixture(scope="module")
def pool_store(pool_case: Path) -> dict:
    dump = dump_items(pool_case)
    # the folder exercises what it should: links found, problems recorded, members analysed
    assert dump["derivation_links"], "no derivation link: the comparison would miss the pass"
    assert dump["faces"] and dump["face_clusters"]
    codes = {row[1] for row in dump["location_problems"] + dump["content_problems"]}
    assert "empty_file" in codes and codes & {"corrupt_image", "truncated_image"}, codes
    assert sum(1 for row in dump["locations"] if row[3] != "[]") == 2, "the zip's two members"
    return dump


def test_local_ray_gives_the_process_pools_store(
    evidence: Path, pool_store: dict, tmp_path: Path
) -> None:
    with local_ray(2):
        workers = _scan(evidence, tmp_path / "case", "ray")
    assert workers == 2
    assert differences(pool_store, dump_items(tmp_path / "case")) == []


def test_two_node_cluster_gives_the_process_pools_store(
    evidence: Path, pool_store: dict, tmp_path: Path
) -> None:
    with ray_cluster(nodes=2, cpus_per_node=1) as cluster:
        workers = _scan(evidence, tmp_path / "case", "ray", cluster.address)
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert workers == 2 and len(nodes) == 2
    assert differences(pool_store, dump_items(tmp_path / "case")) == []


def test_two_node_cluster_into_postgresql_gives_the_same_case(
    evidence: Path, pool_case: Path, pool_store: dict, tmp_path: Path
) -> None:
    """Multi-node cases keep their store in PostgreSQL: the cluster's results, written by the
    driver alone, give the case summary, the findings and the links of the local SQLite scan."""
    from .pg import POSTGRES_SKIP, POSTGRES_URL, postgres_database

    if not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP)
    import sqlalchemy as sa

    from consentry.services.case import CaseRef
    from consentry.services.scan import ScanRequest, scan
    from consentry.services.summary import summarize

    with postgres_database("ray_equality") as url, ray_cluster(nodes=2, cpus_per_node=1) as c:
        pg_case = CaseRef(tmp_path / "pg-case", url)
        scan(ScanRequest(pg_case, (str(evidence),), "Test Examiner", 2, executor="ray",
                         ray_address=c.address))  # fmt: skip
        pg_summary = summarize(pg_case).counts.as_dict()
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            pg_links = sorted(
                conn.execute(
                    sa.text("SELECT derived_sha256, source_sha256, face_swap FROM derivation_links")
                ).all()
            )
            pg_findings = sorted(conn.execute(sa.text(
                "SELECT sha256, analyzer, status, label FROM findings")).all())  # fmt: skip
        engine.dispose()
    assert pg_summary == summarize(CaseRef(pool_case)).counts.as_dict()
    assert [tuple(r) for r in pg_links] == sorted(
        (r[0], r[1], r[6]) for r in pool_store["derivation_links"]
    )
    assert [tuple(r) for r in pg_findings] == sorted(
        r[:1] + r[1:2] + r[4:6] for r in pool_store["findings"]
    )
