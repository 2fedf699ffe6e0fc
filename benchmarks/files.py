"""Files through the gateway: a large upload and download against a plain copy on the same disk, the memory the
gateway and the tool-runner hold while one passes (it must not grow with the file), and what mounting input files
adds to a sandbox call.

Reported, for each size: upload and download MB/s through the gateway (auth, proxy, multipart parsing, SHA-256,
storage) and their ratio to `shutil.copyfile` of the same file on the same disk in the same run; the peak RSS
growth of the gateway and tool-runner processes during each transfer (sampled every 10 ms). Then P50/P99 of an
execute_python call with 10 input files against the same call with none, interleaved.

    python -m benchmarks.files [--sizes 10,100] [--calls 30]
"""

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from benchmarks.common import backends, percentile, process_id, service_process
from benchmarks.gateway import SECRETS, login

MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def peak_rss_growth(pids: dict[str, int]) -> Iterator[dict[str, int]]:
    """Each process's highest RSS above where it started, sampled every 10 ms while the block runs."""
    start = {name: rss_bytes(pid) for name, pid in pids.items()}
    peak = dict(start)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            for name, pid in pids.items():
                peak[name] = max(peak[name], rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    growth: dict[str, int] = {}
    try:
        yield growth
    finally:
        stop.set()
        sampler.join()
        growth.update({name: peak[name] - start[name] for name in pids})


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for _ in range(size // MB):
            out.write(os.urandom(MB))


def timed_copy(source: Path, folder: Path) -> float:
    target = folder / "copy.bin"
    started = time.perf_counter()
    shutil.copyfile(source, target)
    took = time.perf_counter() - started
    target.unlink()
    return took


def upload(client: httpx.Client, source: Path) -> tuple[float, str]:
    with source.open("rb") as stream:
        started = time.perf_counter()
        response = client.post("/api/v1/files", files={"file": (source.name, stream, "application/octet-stream")})
        took = time.perf_counter() - started
    response.raise_for_status()
    return took, str(response.json()["id"])


def download(client: httpx.Client, file_id: str, target: Path) -> float:
    started = time.perf_counter()
    with client.stream("GET", f"/api/v1/files/{file_id}/content") as response, target.open("wb") as out:
        response.raise_for_status()
        for chunk in response.iter_bytes(MB):
            out.write(chunk)
    took = time.perf_counter() - started
    target.unlink()
    return took


def code_call(client: httpx.Client, files: list[str]) -> float:
    body = {"tool_name": "execute_python", "parameters": {"code": "print(1)"}, "files": files}
    started = time.perf_counter()
    response = client.post("/api/v1/tools/execute", json=body)
    took = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    assert response.json()["status"] == "succeeded", response.text
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100", help="File sizes in MB, comma-separated")
    parser.add_argument("--calls", type=int, default=30, help="execute_python calls with and without 10 inputs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with (
        backends() as urls,
        tempfile.TemporaryDirectory(prefix="cognitionos-bench-files-") as tmp,
        ExitStack() as stack,
    ):
        folder = Path(tmp)
        env = {
            **urls,
            **SECRETS,
            "FILES_DIR": str(folder / "store"),
            "FILES_MAX_BYTES": str(max(sizes) * MB + MB),
            "FILES_QUOTA_BYTES": str(4 * sum(sizes) * MB + 64 * MB),
            "MAX_UPLOAD_BYTES": str(max(sizes) * MB + 2 * MB),
        }
        auth = stack.enter_context(service_process("auth_service", env))
        tools = stack.enter_context(service_process("tool_runner", env))
        gateway = stack.enter_context(
            service_process("api_gateway", {**env, "AUTH_SERVICE_URL": auth, "TOOL_RUNNER_URL": tools})
        )
        pids = {"gateway": process_id(gateway), "tool-runner": process_id(tools)}
        token = login(gateway)
        client = stack.enter_context(
            httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {token}"}, timeout=600)
        )
        print(
            "benchmark: a file through the gateway (upload: multipart parsed as it arrives, hashed, stored; download "
            "streamed) vs shutil.copyfile on the same disk; peak RSS growth during each transfer"
        )
        warm = folder / "warm.bin"
        make_file(warm, MB)
        client.delete(f"/api/v1/files/{upload(client, warm)[1]}")  # the first connection and store, not measured
        for size in sizes:
            source = folder / f"source-{size}.bin"
            make_file(source, size * MB)
            copy = statistics.median(timed_copy(source, folder) for _ in range(3))
            with peak_rss_growth(pids) as up_growth:
                up, file_id = upload(client, source)
            with peak_rss_growth(pids) as down_growth:
                down = download(client, file_id, folder / "downloaded.bin")
            client.delete(f"/api/v1/files/{file_id}").raise_for_status()
            source.unlink()
            print(
                f"  {size:>4} MB  copy {size / copy:7.0f} MB/s | upload {size / up:6.0f} MB/s (x{copy / up:.3f} of "
                f"copy)  download {size / down:6.0f} MB/s (x{copy / down:.3f})"
            )
            for name in pids:
                print(
                    f"           peak RSS growth {name:<11} upload {up_growth[name] / MB:5.1f} MB  "
                    f"download {down_growth[name] / MB:5.1f} MB"
                )

        inputs = []
        for i in range(10):
            small = folder / f"input-{i}.csv"
            small.write_text("n,value\n" + "".join(f"{j},{j * i}\n" for j in range(500)))
            inputs.append(upload(client, small)[1])
        code_call(client, [])  # warm: the sandbox pool, the first connection
        bare, mounted = [], []
        for _ in range(args.calls):
            bare.append(code_call(client, []))
            mounted.append(code_call(client, inputs))
        added = percentile(mounted, 50) - percentile(bare, 50)
        print(
            f"benchmark: execute_python through the gateway, {args.calls} calls each, interleaved\n"
            f"  no inputs       p50={percentile(bare, 50):.1f} ms  p99={percentile(bare, 99):.1f} ms\n"
            f"  10 input files  p50={percentile(mounted, 50):.1f} ms  p99={percentile(mounted, 99):.1f} ms\n"
            f"  mounting 10 files adds {added:.1f} ms at P50 (x{percentile(mounted, 50) / percentile(bare, 50):.2f})"
        )


if __name__ == "__main__":
    main()
