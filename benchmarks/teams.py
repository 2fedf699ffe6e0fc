"""What teams cost a list: GET /api/v1/files?limit=20 through the gateway for a user in no team (the baseline: the
owner test it always was), a user in 5 teams (their teams are read first, then one query over their files and the
teams'), and a key bound to one team; interleaved one by one, in the same run. The table holds --rows files of
other users beside each caller's 200, so a plan that scanned it would show.

    python -m benchmarks.teams [--requests 1000] [--rows 100000]
"""

import argparse
import asyncio
import time
import uuid

import httpx
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.common import backends, percentile
from benchmarks.gateway import gateway_over_tool_runner, login
from database.models import StoredFile

TEAMS = 5
OWN_FILES = 200


def file_rows(owner: uuid.UUID, count: int, team: uuid.UUID | None = None) -> list[dict[str, object]]:
    return [
        {
            "id": uuid.uuid4(),
            "owner_id": owner,
            "team_id": team,
            "name": f"f{i}.txt",
            "media_type": "text/plain",
            "size": 10,
            "sha256": "0" * 64,
            "kind": "input",
        }
        for i in range(count)
    ]


async def seed(database_url: str, *, users: dict[str, uuid.UUID], teams: list[uuid.UUID], rows: int) -> None:
    """Files of each caller and of the teams, and `rows` of other users."""
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        strangers = [uuid.uuid4() for _ in range(100)]
        for stranger in strangers:
            await connection.execute(
                text("INSERT INTO users (id, username, email, password_hash) VALUES (:i, :u, :e, 'x')"),
                {"i": stranger, "u": f"s_{stranger.hex[:12]}", "e": f"{stranger.hex}@example.com"},
            )
        batch: list[dict[str, object]] = []
        for stranger in strangers:
            batch += file_rows(stranger, rows // len(strangers))
        for owner in users.values():
            batch += file_rows(owner, OWN_FILES)
        for team in teams:
            batch += file_rows(users["in 5 teams"], OWN_FILES, team)
        for start in range(0, len(batch), 5000):
            await connection.execute(insert(StoredFile), batch[start : start + 5000])
        await connection.execute(text("ANALYZE files"))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with backends() as urls, gateway_over_tool_runner(urls) as gateway_url:
        tokens = {name: login(gateway_url, name.replace(" ", "_")) for name in ("no team", "in 5 teams")}
        bearer = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
        with httpx.Client(base_url=gateway_url, timeout=60) as client:
            users = {n: uuid.UUID(client.get("/api/v1/auth/me", headers=h).json()["id"]) for n, h in bearer.items()}
            teams = [
                uuid.UUID(
                    client.post("/api/v1/teams", headers=bearer["in 5 teams"], json={"name": f"t{i}"}).json()["id"]
                )
                for i in range(TEAMS)
            ]
            key = client.post(
                "/api/v1/auth/api-keys", headers=bearer["in 5 teams"], json={"name": "k", "team_id": str(teams[0])}
            ).json()["key"]
            asyncio.run(seed(urls["DATABASE_URL"], users=users, teams=teams, rows=args.rows))
            callers = {**bearer, "team key": {"X-API-Key": key}}
            samples: dict[str, list[float]] = {name: [] for name in callers}
            for turn in range(args.requests + 50):
                for name, headers in callers.items():
                    started = time.perf_counter()
                    answer = client.get("/api/v1/files", params={"limit": 20}, headers=headers)
                    answer.raise_for_status()
                    if turn >= 50:  # the first ones warm connections and caches
                        samples[name].append((time.perf_counter() - started) * 1000)
    base = percentile(samples["no team"], 50)
    print(f"benchmark: GET /api/v1/files?limit=20 through the gateway, {args.requests} each, interleaved,")
    print(f"           {args.rows} other users' files in the table")
    for name, got in samples.items():
        p50, p99 = percentile(got, 50), percentile(got, 99)
        print(f"   {name:<11} p50={p50:.3f} ms  p99={p99:.3f} ms  x{p50 / base:.2f} of no team at P50")


if __name__ == "__main__":
    main()
