"""Benchmark: time and memory of `storyteller tell` on 720p clips, beside a plain baseline.

The baseline is the straightforward way to get the same evidence: PySceneDetect's own
`detect()` decoding every frame at full size, then Whisper on the whole sound track
without the voice filter, one after the other. Ours is the `storyteller tell` command.
Each run is a fresh process, so model loading and start-up are counted.

    .venv/bin/python bench/pipeline.py            # the 60-second clip
    .venv/bin/python bench/pipeline.py --long     # also the 10-minute clip
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.media import build_benchmark_clip, word_error_rate  # noqa: E402

BASELINE = r"""
import sys, time
from scenedetect import ContentDetector, detect
from faster_whisper import WhisperModel
from storyteller.pipeline.whisper_models import tiny_model_dir
started = time.perf_counter()
scenes = detect(sys.argv[1], ContentDetector())
model = WhisperModel(str(tiny_model_dir()), device="cpu", compute_type="float32")
segments, _ = model.transcribe(sys.argv[1], beam_size=5, word_timestamps=True)
text = " ".join(s.text for s in segments)
print(len(scenes), len(text.split()), time.perf_counter() - started)
"""


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, peak RSS in MB of the child, and its output."""
    wrapper = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "w = time.perf_counter() - t;"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
        "sys.stderr.write(p.stderr); print(w, u.ru_utime + u.ru_stime, u.ru_maxrss // 1024);"
        "print(p.stdout, end='');"
        "sys.exit(p.returncode)"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env
    )
    if out.returncode not in (0, 1):  # `tell` exits 1 when a video failed: reported below
        raise SystemExit(f"{cmd[0]} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    first, _, rest = out.stdout.partition("\n")
    wall, cpu, rss = first.split()
    return float(wall), float(cpu), int(rss), rest


QUALITY: list[dict[str, object]] = []


def bench_clip(seconds: int, workdir: Path) -> list[dict[str, object]]:
    facts = build_benchmark_clip(
        workdir / f"clip-{seconds}s.mp4", seconds=seconds, size=(1280, 720)
    )
    clip = facts.path
    data = workdir / f"data-{seconds}"
    shutil.rmtree(data, ignore_errors=True)  # the first run must not find cached evidence
    env = {**os.environ, "STORYTELLER_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    tell = [str(ROOT / ".venv/bin/storyteller"), "tell", "--json", str(clip)]
    cold_s, cold_cpu, cold_rss, out = _run(tell, env)
    line = json.loads(out.splitlines()[-1])
    if line["status"] != "completed":
        raise SystemExit(f"tell failed: {line['error']}")
    cached_s, cached_cpu, _, _ = _run(tell, env)
    base_s, base_cpu, base_rss, _ = _run([sys.executable, "-c", BASELINE, str(clip)], env)
    timings = line["evidence"]["timings"]
    found = [scene["start_s"] for scene in line["evidence"]["scenes"][1:]]
    QUALITY.append(
        {
            "clip": f"{seconds}s",
            "cuts": f"{len(found)} of {len(facts.cut_times)}",
            "worst_cut_error_s": max(
                (min(abs(f - c) for f in found) for c in facts.cut_times), default=0.0
            )
            if found
            else float("nan"),
            "wer": word_error_rate(facts.transcript, line["evidence"]["transcript"]),
        }
    )
    return [
        {
            "clip": f"{seconds}s 1280x720",
            "run": "storyteller tell",
            "seconds": cold_s,
            "cpu": cold_cpu,
            "peak_mb": cold_rss,
            "x_realtime": cold_s / seconds,
            "vs_baseline": cold_s / base_s,
            "timings": timings,
        },
        {
            "clip": f"{seconds}s 1280x720",
            "run": "tell, evidence cached",
            "seconds": cached_s,
            "cpu": cached_cpu,
            "peak_mb": None,
            "x_realtime": cached_s / seconds,
            "vs_baseline": cached_s / base_s,
            "timings": {},
        },
        {
            "clip": f"{seconds}s 1280x720",
            "run": "baseline",
            "seconds": base_s,
            "cpu": base_cpu,
            "peak_mb": base_rss,
            "x_realtime": base_s / seconds,
            "vs_baseline": 1.0,
            "timings": {},
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--long", action="store_true", help="also run the 10-minute clip")
    parser.add_argument("--workdir", type=Path, default=None, help="keep clips here between runs")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="storyteller-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = bench_clip(60, workdir)
    if args.long:
        rows += bench_clip(600, workdir)
    print(
        f"# pipeline benchmark — {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print()
    print("| clip | run | seconds | CPU seconds | x real time | vs baseline | peak MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        peak = "" if r["peak_mb"] is None else r["peak_mb"]
        print(
            f"| {r['clip']} | {r['run']} | {r['seconds']:.2f} | {r['cpu']:.2f} | {r['x_realtime']:.3f} "
            f"| {r['vs_baseline']:.2f} | {peak} |"
        )
    print()
    print("What the evidence holds against what the clip was made to show:")
    print()
    print("| clip | cuts found | worst cut error (s) | word error rate (tiny.en) |")
    print("|---|---|---:|---:|")
    for q in QUALITY:
        print(f"| {q['clip']} | {q['cuts']} | {q['worst_cut_error_s']:.3f} | {q['wer']:.3f} |")
    print()
    print("Seconds per stage inside `tell` (speech runs beside the picture stages):")
    print()
    for r in rows:
        if r["timings"]:
            stages = ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items())  # type: ignore[union-attr]
            print(f"- {r['clip']}: {stages}")


if __name__ == "__main__":
    main()
