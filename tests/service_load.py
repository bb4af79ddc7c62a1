"""A bounded load on a running ``consentry service``, from its own process (what
``tests/test_service_load.py`` runs; usable by hand too):

    python tests/service_load.py --url http://127.0.0.1:8100 --token cs_... --bank LOAD \\
        --seeds seeds.txt --seconds 12 --connections 4 --batch 100 --out load.json

For ``--seconds`` it keeps ``--connections`` keep-alive connections busy (one thread each):
batch lookups of ``--batch`` PDQ hashes (half are stored seeds with 1-8 bits flipped, which
must come back matched to that seed at that distance; half are random, which must not match at
distance <= 31 in a bank of random hashes), and every ``--insert-every``-th request one insert
of a new random hash. It writes a JSON report: requests, hashes looked up, inserts (with their
content ids, so the caller can check every one is there afterwards), errors (non-2xx answers
and transport failures, with a few samples), wrong answers, throughput, and p50 / p99 latency.

Only loopback is expected; nothing here knows the service's internals: it speaks HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LOOKUP_PATH = "/v1/lookup"
INSERT_PATH = "/v1/banks/{bank}/content"
NEAR_MAX_FLIPS = 8


def random_pdq(rng: random.Random) -> str:
    while True:
        value = rng.getrandbits(256)
        if value not in (0, (1 << 256) - 1):
            return f"{value:064x}"


def flipped(hex_hash: str, bits: int, rng: random.Random) -> str:
    value = int(hex_hash, 16)
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return f"{value:064x}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass
class Tally:
    lookup_ms: list[float] = field(default_factory=list)
    insert_ms: list[float] = field(default_factory=list)
    hashes: int = 0
    errors: int = 0
    wrong: int = 0
    samples: list[str] = field(default_factory=list)
    inserted: list[tuple[str, int]] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(what[:300])


def check_lookup(body: dict[str, object], expected: list[tuple[str, str | None, int]]) -> str:
    """'' when every near seed came back as that seed at its distance and no random hash
    matched; else what was wrong."""
    results = body.get("results")
    if not isinstance(results, list) or len(results) != len(expected):
        return f"{len(results) if isinstance(results, list) else results!r} results"
    for result, (query, seed, flips) in zip(results, expected, strict=True):
        matches = result.get("matches", [])
        if result.get("query") != query:
            return f"answer for {result.get('query')} where {query} was asked"
        if seed is None:
            if matches:
                return f"a random hash matched: {matches[0]}"
            continue
        hits = [m for m in matches if m.get("matched_value") == seed]
        if not hits or hits[0].get("distance") != flips:
            return f"seed {seed[:12]}… at {flips} bits: got {matches[:2]}"
    return ""


def connection(
    args: argparse.Namespace, seeds: list[str], deadline: float, n: int, tally: Tally
) -> None:
    rng = random.Random(1000 + n)
    headers = {"Authorization": f"Bearer {args.token}"}
    insert_path = INSERT_PATH.format(bank=args.bank)
    with httpx.Client(base_url=args.url, headers=headers, timeout=30.0) as client:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            if i % args.insert_every == 0:
                value = random_pdq(rng)
                body = {"signals": [{"signal_type": "pdq", "value": value}], "note": "load"}
                start = time.perf_counter()
                try:
                    answer = client.post(insert_path, json=body)
                except httpx.HTTPError as exc:
                    tally.error(f"insert: {type(exc).__name__}: {exc}")
                    continue
                tally.insert_ms.append((time.perf_counter() - start) * 1000)
                if answer.status_code // 100 != 2:
                    tally.error(f"insert {answer.status_code}: {answer.text}")
                    continue
                tally.inserted.append((value, int(answer.json()["id"])))
                continue
            expected: list[tuple[str, str | None, int]] = []
            for k in range(args.batch):
                if k % 2 == 0:
                    seed = rng.choice(seeds)
                    flips = rng.randint(1, NEAR_MAX_FLIPS)
                    expected.append((flipped(seed, flips, rng), seed, flips))
                else:
                    expected.append((random_pdq(rng), None, 0))
            body = {
                "signals": [{"signal_type": "pdq", "value": q} for q, _, _ in expected],
                "threshold": 31,
            }
            start = time.perf_counter()
            try:
                answer = client.post(LOOKUP_PATH, json=body)
            except httpx.HTTPError as exc:
                tally.error(f"lookup: {type(exc).__name__}: {exc}")
                continue
            tally.lookup_ms.append((time.perf_counter() - start) * 1000)
            if answer.status_code != 200:
                tally.error(f"lookup {answer.status_code}: {answer.text}")
                continue
            tally.hashes += args.batch
            problem = check_lookup(answer.json(), expected)
            if problem:
                tally.wrong += 1
                if len(tally.samples) < 5:
                    tally.samples.append(f"wrong: {problem}"[:300])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--bank", required=True)
    parser.add_argument("--seeds", required=True, type=Path, help="stored PDQ hex, one a line")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--insert-every", type=int, default=10)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    seeds = [s.strip() for s in args.seeds.read_text().splitlines() if s.strip()]
    tallies = [Tally() for _ in range(args.connections)]
    started = time.monotonic()
    deadline = started + args.seconds
    threads = [
        threading.Thread(target=connection, args=(args, seeds, deadline, n, tallies[n]))
        for n in range(args.connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    lookup_ms = [v for t in tallies for v in t.lookup_ms]
    insert_ms = [v for t in tallies for v in t.insert_ms]
    requests = len(lookup_ms) + len(insert_ms)
    report = {
        "seconds": round(elapsed, 2),
        "connections": args.connections,
        "batch": args.batch,
        "requests": requests,
        "lookup_requests": len(lookup_ms),
        "hashes_looked_up": sum(t.hashes for t in tallies),
        "inserts": sum(len(t.inserted) for t in tallies),
        "errors": sum(t.errors for t in tallies),
        "wrong": sum(t.wrong for t in tallies),
        "samples": [s for t in tallies for s in t.samples][:10],
        "requests_per_s": round(requests / elapsed, 1),
        "hashes_per_s": round(sum(t.hashes for t in tallies) / elapsed, 1),
        "lookup_p50_ms": round(percentile(lookup_ms, 0.50), 1),
        "lookup_p99_ms": round(percentile(lookup_ms, 0.99), 1),
        "lookup_mean_ms": round(statistics.fmean(lookup_ms), 1) if lookup_ms else 0.0,
        "insert_p50_ms": round(percentile(insert_ms, 0.50), 1),
        "insert_p99_ms": round(percentile(insert_ms, 0.99), 1),
        "pid": os.getpid(),
        "inserted": [[v, i] for t in tallies for v, i in t.inserted],
    }
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
