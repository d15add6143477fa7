"""Benchmark: `GET /api/videos/{id}/media` serving a ~200 MB video, beside the disk itself
and beside Starlette's `FileResponse` serving the same file.

    .venv/bin/python bench/media.py                # 200 MB
    .venv/bin/python bench/media.py --mb 50        # a smaller file

Both servers run uvicorn in processes of their own (`storyteller serve`, and a bare
Starlette app with one `FileResponse` route); `curl` reads over loopback (a client that
costs next to nothing, so the figure is the server's), httpx for the latencies.
- whole, cold: the whole file in one GET right after the kernel was told to drop it from
  the page cache (`posix_fadvise(DONTNEED)`), beside reading it cold from disk in 1 MB
  pieces: "the speed of the disk".
- whole, warm: the same with the file in the page cache (best of 3), beside reading it
  from the page cache.
- ranges: the file in 8 MB range requests one after another, as a player fetches, MB/s.
- small range: 300 requests of 64 KB at random offsets, latency p50 and p99.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.service.server import ServeProcess, free_port  # noqa: E402

MB = 1024 * 1024
RANGE = 8 * MB
SMALL = 64 * 1024
SMALL_COUNT = 300

FILE_SERVER = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route
path = sys.argv[1]
async def media(request):
    return FileResponse(path, media_type="video/mp4")
uvicorn.run(Starlette(routes=[Route("/media", media)]), host="127.0.0.1",
            port=int(sys.argv[2]), log_level="warning")
"""


def make_video(path: Path, size: int) -> None:
    """An MP4's opening (so the upload is taken) and random bytes after it."""
    with path.open("wb") as out:
        out.write(b"\x00\x00\x00\x18ftypmp42" + bytes(12))
        left = size - 24
        while left > 0:
            piece = os.urandom(min(8 * MB, left))
            out.write(piece)
            left -= len(piece)


def drop_from_cache(path: Path) -> None:
    """Ask the kernel to forget the file's cached pages: the next read is from disk."""
    with path.open("rb") as source:
        os.fsync(source.fileno())
        os.posix_fadvise(source.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def read_disk(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as source:
        while source.read(MB):
            pass
    return time.perf_counter() - started


def whole(url: str, size: int) -> float:
    """Seconds for curl to GET the whole file (and check its length)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(done.stdout) == size, (done.stdout, size)
    return time.perf_counter() - started


def in_ranges(client: httpx.Client, url: str, size: int) -> float:
    started = time.perf_counter()
    for start in range(0, size, RANGE):
        end = min(size, start + RANGE) - 1
        answer = client.get(url, headers={"Range": f"bytes={start}-{end}"})
        assert answer.status_code == 206 and len(answer.content) == end - start + 1
    return time.perf_counter() - started


def small_ranges(client: httpx.Client, url: str, size: int) -> list[float]:
    rng = random.Random(7)
    times = []
    for _ in range(SMALL_COUNT):
        start = rng.randrange(0, size - SMALL)
        began = time.perf_counter()
        answer = client.get(url, headers={"Range": f"bytes={start}-{start + SMALL - 1}"})
        times.append(time.perf_counter() - began)
        assert answer.status_code == 206 and len(answer.content) == SMALL
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(url: str, size: int, stored: Path) -> dict[str, float]:
    drop_from_cache(stored)
    cold = whole(url, size)
    warm = min(whole(url, size) for _ in range(3))
    with httpx.Client(timeout=120) as client:
        ranged = in_ranges(client, url, size)
        small = small_ranges(client, url, size)
    return {
        "cold": size / MB / cold,
        "warm": size / MB / warm,
        "ranges": size / MB / ranged,
        "p50": statistics.median(small) * 1000,
        "p99": percentile(small, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    options = parser.parse_args()
    size = options.mb * MB
    with tempfile.TemporaryDirectory(prefix="bench-media-") as folder:
        work = Path(folder)
        video = work / "big.mp4"
        make_video(video, size)
        server = ServeProcess(work / "data", MAX_CONCURRENT_JOBS="1")
        server.start()
        file_server = None
        try:
            with video.open("rb") as data:
                made = httpx.post(
                    f"{server.url}/api/upload?priority=low",
                    files={"videos": ("big.mp4", data, "video/mp4")},
                    timeout=600,
                )
            made.raise_for_status()
            video_id = made.json()["videos"][0]["id"]
            # Cancelled: the worker must not take the CPU from the server being measured.
            httpx.post(f"{server.url}/api/job/{made.json()['jobId']}/cancel", timeout=30)
            stored = next(p for p in (work / "data" / "uploads").rglob("*") if p.is_file())
            drop_from_cache(stored)
            disk = {"cold": read_disk(stored), "warm": min(read_disk(stored) for _ in range(3))}
            port = free_port()
            file_server = subprocess.Popen(
                [sys.executable, "-c", FILE_SERVER, str(stored), str(port)]
            )
            file_url = f"http://127.0.0.1:{port}/media"
            for _ in range(100):
                try:
                    httpx.head(file_url, timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            ours = measure(f"{server.url}/api/videos/{video_id}/media", size, stored)
            theirs = measure(file_url, size, stored)
        finally:
            server.kill()
            if file_server is not None:
                file_server.terminate()
                file_server.wait()
    disk_mb_s = {name: size / MB / seconds for name, seconds in disk.items()}
    disk_mb_s["ranges"] = disk_mb_s["warm"]
    print(f"# GET /api/videos/{{id}}/media, {options.mb} MB, {platform.node()}, {time.ctime()}")
    print()
    print("| measure | ours | FileResponse | disk | ours / disk | ours / FileResponse |")
    print("|---|---|---|---|---|---|")
    for name, label in (
        ("cold", "whole file from disk, MB/s"),
        ("warm", "whole file from the page cache, MB/s"),
        ("ranges", "8 MB ranges (httpx), MB/s"),
    ):
        print(
            f"| {label} | {ours[name]:.0f} | {theirs[name]:.0f} | {disk_mb_s[name]:.0f} "
            f"| {ours[name] / disk_mb_s[name]:.2f} | {ours[name] / theirs[name]:.2f} |"
        )
    for name in ("p50", "p99"):
        print(
            f"| 64 KB range, {name} ms | {ours[name]:.1f} | {theirs[name]:.1f} | – | – "
            f"| {ours[name] / theirs[name]:.2f} |"
        )


if __name__ == "__main__":
    main()
