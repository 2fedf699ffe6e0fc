"""Bulk import vs incremental inserts of the same memories, in one run, on the same database.

1. incremental: POST /memories/batch (batches of 1,000, 4 loaders, one user each: benchmarks/memory.py's load);
2. the table is emptied, then the same rows go through one import (POST /memories/imports, uploads of 2,000 JSON
   lines, commit, poll until done: staging, dedup, load and the bulk HNSW build all included);
3. after each: retrieval P50 for one user among ten (k=10, query_embedding, direct) and recall@10 against an exact
   scan, which must not change;
4. then a single POST /memories through the gateway, its text embedded by the ai-runtime, P50/P99 (the original
   design's figure: 80 ms P50).

Target: the import >= 3x the incremental rate, with retrieval P50 and recall unchanged afterwards.

    python -m benchmarks.memory_import [--memories 100000]
"""

import argparse
import asyncio
import json
import time
from typing import Any

import httpx
import numpy as np

from benchmarks.common import backends, memory_services, summary
from benchmarks.gateway import SECRETS
from benchmarks.memory import (
    USERS,
    build_vectors,
    connect,
    headers_for,
    load_batches,
    register_users,
    service_env,
    vacuum_analyze,
)
from cognitionos_sdk import calls
from shared.identity import Identity, sign_identity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--loaders", type=int, default=4)
    parser.add_argument("--single-posts", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    secret = SECRETS["INTERNAL_SECRET"]
    vectors, texts = build_vectors(args.memories, rng)
    owner = [i % USERS for i in range(args.memories)]
    rows = [
        {"content": texts[i], "embedding": v.tolist(), "memory_type": "fact"}
        for i, v in enumerate(np.round(vectors.astype(np.float64), 6))
    ]
    mine = np.array([i for i in range(args.memories) if owner[i] == 0])
    query_rows = rng.choice(mine, args.queries, replace=False)
    queries = vectors[query_rows] + rng.normal(0, 0.03, (args.queries, vectors.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = [set(mine[np.argsort(-(vectors[mine] @ q))[:10]]) for q in queries]

    with (
        backends() as urls,
        memory_services(service_env(urls)) as (memory_url, gateway_url),
        httpx.Client(timeout=600) as client,
    ):
        user_ids, tokens = register_users(client, gateway_url)

        started = time.perf_counter()
        ids = incremental_load(memory_url, secret, user_ids=user_ids, owner=owner, rows=rows, loaders=args.loaders)
        incremental_seconds = time.perf_counter() - started
        asyncio.run(vacuum_analyze(urls["DATABASE_URL"]))
        before = search(client, memory_url, headers_for(user_ids[0], secret), queries)
        recall_before = recall(before[1], ids, exact)

        asyncio.run(empty_memories(urls["DATABASE_URL"]))
        by_content = {}
        job = bulk_import(client, memory_url, secret, user_ids=user_ids, owner=owner, rows=rows)
        import_seconds = sum(job["phases"].values())
        for memory in listed(client, memory_url, secret, user_ids):
            by_content[memory["content"]] = memory["id"]
        asyncio.run(vacuum_analyze(urls["DATABASE_URL"]))
        after = search(client, memory_url, headers_for(user_ids[0], secret), queries)
        recall_after = recall(after[1], [by_content[t] for t in texts], exact)

        single = single_posts(client, gateway_url, tokens[0], args.single_posts)

    incremental_rate = args.memories / incremental_seconds
    import_rate = args.memories / import_seconds
    ratio = import_rate / incremental_rate
    print(f"{args.memories:,} memories over {USERS} users, precomputed 384-d vectors")
    print(
        f"   incremental /memories/batch ({args.loaders} loaders): {incremental_seconds:.1f} s = "
        f"{incremental_rate:.0f}/s"
    )
    print(
        f"   import (the SDK's uploads, commit, dedup, load, bulk HNSW build): {import_seconds:.1f} s = "
        f"{import_rate:.0f}/s; {job['imported']} imported, {job['deduplicated']} merged, "
        f"index rebuilt: {job['index_rebuilt']}"
    )
    print("      " + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in job["phases"].items()))
    print(f"   ratio {ratio:.2f}x (target >= 3x: {'met' if ratio >= 3 else 'NOT met'})")
    print(f"retrieval, direct, k=10, excluding embedding, after the incremental load: {summary(before[0])}")
    print(f"retrieval, direct, k=10, excluding embedding, after the import:           {summary(after[0])}")
    print(
        f"recall@10 vs exact scan: {recall_before:.4f} after the incremental load, {recall_after:.4f} after the import"
    )
    print(
        f"single POST /memories through the gateway, text embedded by the ai-runtime, at {args.memories:,} memories: "
        f"{summary(single)} (the original design's figure: 80 ms P50)"
    )


def incremental_load(
    memory_url: str,
    secret: str,
    *,
    user_ids: list[str],
    owner: list[int],
    rows: list[dict[str, Any]],
    loaders: int,
) -> list[str]:
    ids = [""] * len(rows)
    batches = {
        user: [
            (chunk, json.dumps({"memories": [rows[i] for i in chunk]}).encode())
            for chunk in np.array_split(np.array([i for i in range(len(rows)) if owner[i] == user]), 10)
        ]
        for user in range(USERS)
    }

    load_batches(memory_url, secret, user_ids, batches, loaders=loaders, ids=ids)
    return ids


def admin_headers(user_id: str, secret: str) -> dict[str, str]:
    """An admin may import for every user (each row names its owner)."""
    return sign_identity(Identity(user_id=user_id, username="bench", role="admin", auth_method="jwt"), secret)


def bulk_import(
    client: httpx.Client,
    memory_url: str,
    secret: str,
    *,
    user_ids: list[str],
    owner: list[int],
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    lines = [json.dumps({**row, "user_id": user_ids[owner[i]]}) for i, row in enumerate(rows)]
    chunks = list(calls.import_chunks(lines))  # the SDK's uploads, encoded before the clock starts (as above)
    headers = admin_headers(user_ids[0], secret)
    started = time.perf_counter()
    job = client.post(f"{memory_url}/memories/imports", headers=headers).json()
    for first_line, chunk in chunks:
        client.post(
            f"{memory_url}/memories/imports/{job['id']}/rows",
            params={"first_line": first_line},
            content=chunk,
            headers=headers,
        ).raise_for_status()
    uploaded = time.perf_counter()
    client.post(f"{memory_url}/memories/imports/{job['id']}/commit", headers=headers).raise_for_status()
    loaded = None
    while job["status"] not in ("done", "failed"):
        time.sleep(0.05)
        job = client.get(f"{memory_url}/memories/imports/{job['id']}", headers=headers).json()
        if loaded is None and job["status"] in ("indexing", "done"):
            loaded = time.perf_counter()
    finished = time.perf_counter()
    job["phases"] = {
        "upload": uploaded - started,
        "load": (loaded or finished) - uploaded,
        "index": finished - (loaded or finished),
    }
    if job["status"] == "failed":
        raise RuntimeError(job["error"])
    return job


def listed(client: httpx.Client, memory_url: str, secret: str, user_ids: list[str]) -> list[dict[str, Any]]:
    out = []
    for user_id in user_ids:
        cursor = None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"{memory_url}/memories", params=params, headers=headers_for(user_id, secret)).json()
            out += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
    return out


def search(
    client: httpx.Client, memory_url: str, headers: dict[str, str], queries: np.ndarray
) -> tuple[list[float], list[list[str]]]:
    body = lambda q: {"query_embedding": queries[q].tolist(), "k": 10}  # noqa: E731
    for q in range(len(queries)):  # every query once first: the caches warm, as they would be in use
        client.post(f"{memory_url}/memories/retrieve", json=body(q), headers=headers).raise_for_status()
    samples, found = [], []
    for q in range(len(queries)):
        started = time.perf_counter()
        response = client.post(f"{memory_url}/memories/retrieve", json=body(q), headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        found.append([r["id"] for r in response.json()])
    return samples, found


def recall(found: list[list[str]], ids: list[str], exact: list[set[int]]) -> float:
    return float(
        np.mean([len({ids[i] for i in truth} & set(hits)) / 10 for hits, truth in zip(found, exact, strict=True)])
    )


async def empty_memories(database_url: str) -> None:
    connection = await connect(database_url)
    await connection.execute("TRUNCATE memories, memory_history")
    await connection.close()


def single_posts(client: httpx.Client, gateway_url: str, token: str, count: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    for n in range(count + 10):
        started = time.perf_counter()
        response = client.post(
            f"{gateway_url}/api/v1/memories",
            json={"content": f"Single post {n}: the user asked about the release on day {n % 28 + 1}"},
            headers=headers,
        )
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        if n >= 10:  # the first ones warm the connection pools
            samples.append(elapsed)
    return samples


if __name__ == "__main__":
    main()
