"""Benchmark: an AI teller through the service against a fake Gemini, beside the ideal.

    .venv/bin/python bench/tellers.py                 # every part, in one run
    .venv/bin/python bench/tellers.py --workdir DIR   # keep the generated clips in DIR

One `storyteller serve` (MAX_CONCURRENT_JOBS=5, STORYTELLER_GEMINI_MAX_CONCURRENCY=5) with
the gemini teller pointed at tests/fakes/gemini.py's FakeGemini, a real HTTP server speaking
Gemini's wire protocol in this process, and 20 different small clips (4-6 s, 640x360, H.264
and AAC speech). A first pass over the 20 (the fake answering at once) fills the evidence
cache and warms the workers, so analysis is not what is measured. The requests-a-minute
limit is off (STORYTELLER_GEMINI_REQUESTS_PER_MINUTE=0): the three batches send some 70
requests within a minute, and the default 60 would hold the last ones back. Then (issue 6's targets
in brackets):

- clean: the 20 as one batch, the fake answering every generateContent after 2 s: time from
  the upload's start to the last video completed, beside the ideal 20 / 5 x 2 s = 8 s
  [<= 1.15x], and where the rest goes, per stage, from the videos' records (GET
  /api/videos/{id}) and the fake's request log.
- faults: the same with 30 % of calls (seeded) answered 429 with a 0.5 s RetryInfo delay or
  503: every video completes [time <= 2x the clean run's].
- estimate: POST /api/estimate for the 20 lengths beside the tokens the fake counted
  (tests/fakes/tokens.py) in the clean run [within 10 %].
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.service import Row, print_report  # noqa: E402
from tests.fakes.gemini import API_KEY, Answer, FakeGemini, story_json  # noqa: E402
from tests.media import SceneSpec, build_clip  # noqa: E402
from tests.service.server import ServeProcess  # noqa: E402

VIDEOS = 20
AT_ONCE = 5
MODEL_S = 2.0
FAULT_RATE = 0.3
RETRY_DELAY = "0.5s"
SEED = 6
SPEECH = ["marathon", "snow_road", "lifeguards", "apple_trees", "fireworks", "kitten",
          "pumpkins", "museum"]  # fmt: skip
LOOKS = ["plain", "indoor", "night"]  # no season to argue with: one ask a video
# A story of the length a model writes (four paragraphs of about 45 words), so the tokens
# out the fake counts are a story's, not a stub's.
PARAGRAPHS = [
    "Residents gathered along the main street on Saturday morning as a small crowd watched "
    "the scene unfold, with several people stopping to film on their phones while others "
    "talked quietly among themselves about what they had seen earlier in the week.",
    "A woman who lives nearby said the street had been busier than usual for most of the "
    "day, and that neighbours had come out to see what was happening. Some stayed for only "
    "a few minutes, while others waited until the end, chatting with friends and strangers.",
    "Local officials did not comment on the gathering, but a spokesperson for the town said "
    "that events of this kind were common at this time of year and that no problems had been "
    "reported. Traffic moved slowly through the area for about an hour before clearing.",
    "By early afternoon the crowd had thinned and the street returned to its usual pace. "
    "Shop owners said they were pleased with the extra visitors, and several said they hoped "
    "to see similar turnouts in the coming weeks as the season goes on.",
]


# --- the fake, with a log of when each call came and was answered --------------------------


@dataclasses.dataclass
class Call:
    video: str  # the file name the prompt names
    arrived: float  # time.time() when the request had been read
    answered: float  # when the answer went out (after its delay)
    status: int
    tokens: tuple[int, int] = (0, 0)  # usage reported (in, out); none for a fault


class TimedGemini(FakeGemini):
    """FakeGemini answering stories after `delay_s`, or a seeded share of 429s and 503s,
    and logging every generateContent call."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[Call] = []
        self.delay_s = 0.0
        self.fault_rate = 0.0
        self.rng = random.Random(SEED)
        self._current = threading.local()
        self.story = story_json(
            title="Crowd Gathers on Main Street",
            place="Springfield",
            region="Illinois",
            when=dt.date.today() - dt.timedelta(days=20),
            paragraphs=PARAGRAPHS,
        )

    def reset(self, *, delay_s: float, fault_rate: float = 0.0) -> None:
        with self._lock:
            self.log, self.reported = [], []
            self.delay_s, self.fault_rate = delay_s, fault_rate
            self.rng = random.Random(SEED)

    def next_answer(self, model: str, request: dict[str, Any]) -> Answer:
        super().next_answer(model, request)  # counts and keeps the request
        with self._lock:
            draw = self.rng.random()
            fault = draw < self.fault_rate
            rate_limited = draw < self.fault_rate / 2
        if not fault:
            answer = Answer.story(self.story)
            answer.delay_s = self.delay_s
        elif rate_limited:
            answer = Answer.rate_limited(RETRY_DELAY)
        else:
            answer = Answer.unavailable()
        now = time.time()
        call = Call(_video_named(request), now, now, answer.status)
        with self._lock:
            self.log.append(call)
        self._current.call = call
        return answer

    def count_usage(self, answer: Answer, model: str, request: dict[str, Any]) -> tuple[int, int]:
        usage = super().count_usage(answer, model, request)
        self._current.call.tokens = usage  # the same handler thread as next_answer's
        return usage

    def wait(self, seconds: float) -> None:
        super().wait(seconds)
        self._current.call.answered = time.time()


def _video_named(request: dict[str, Any]) -> str:
    for content in request.get("contents", []):
        for part in content.get("parts", []):
            text = part.get("text", "")
            if "Video: " in text:
                return str(text.split("Video: ", 1)[1].split(",", 1)[0])
    return ""


# --- the clips and the service ----------------------------------------------------------


def make_clips(workdir: Path) -> list[Path]:
    """20 different small clips with speech (built once per work folder)."""
    clips = []
    for i in range(VIDEOS):
        seconds = 4.0 + (i % 5) * 0.5
        look = LOOKS[i % len(LOOKS)]
        scenes = [
            SceneSpec(seconds / 2, look, caption=f"CLIP {i + 1}"),
            SceneSpec(seconds / 2, LOOKS[(i + 1) % len(LOOKS)]),
        ]
        path = workdir / f"clip-{i + 1:02d}.mp4"
        clips.append(build_clip(path, scenes, speech=[SPEECH[i % len(SPEECH)]], reuse=True).path)
    return clips


def upload(server: ServeProcess, clips: list[Path]) -> tuple[str, float, float]:
    """The batch's id, and time.time() when the upload started and was answered."""
    with ExitStack() as files:
        form = [
            ("videos", (path.name, files.enter_context(path.open("rb")), "video/mp4"))
            for path in clips
        ]
        started = time.time()
        answer = httpx.post(
            f"{server.url}/api/upload", files=form, data={"teller": "gemini"}, timeout=60
        )
        answered = time.time()
    answer.raise_for_status()
    return answer.json()["jobId"], started, answered


def wait_for(server: ServeProcess, job_id: str, timeout_s: float = 600) -> list[dict[str, Any]]:
    """Every video's record once the batch has ended."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=10) as client:
        while True:
            job = client.get(f"{server.url}/api/job/{job_id}").json()
            if job["status"] == "completed":
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"batch {job_id} did not end in {timeout_s:.0f} s")
            time.sleep(0.05)
        records = [client.get(f"{server.url}/api/videos/{v['id']}").json() for v in job["videos"]]
    failed = [r for r in records if r["status"] != "completed"]
    if failed:
        raise SystemExit(f"{len(failed)} videos did not complete, e.g. {failed[0]['error']}")
    return records


def when(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclasses.dataclass
class Run:
    wall_s: float
    upload_s: float
    uploaded_at: float  # time.time() when the upload was answered
    records: list[dict[str, Any]]
    calls: list[Call]
    reported: list[tuple[int, int]]


def run_batch(server: ServeProcess, fake: TimedGemini, clips: list[Path]) -> Run:
    job_id, started, uploaded = upload(server, clips)
    records = wait_for(server, job_id)
    ended = max(when(r["completedAt"]) for r in records)
    with fake._lock:
        calls, reported = list(fake.log), list(fake.reported)
    return Run(ended - started, uploaded - started, uploaded, records, calls, reported)


# --- the parts -------------------------------------------------------------------------


def stages(run: Run) -> dict[str, list[float]]:
    """Seconds each video spent in each stage: waiting to be claimed once a slot was free,
    from its start to its request reaching the fake (the cached evidence, the teller, the
    request), the model's answer, and from the answer to the video recorded as completed."""
    first: dict[str, Call] = {}
    last: dict[str, Call] = {}
    for call in run.calls:
        first.setdefault(call.video, call)
        last[call.video] = call
    started = sorted(when(r["startedAt"]) for r in run.records)
    completed = sorted(when(r["completedAt"]) for r in run.records)
    upload_end = run.uploaded_at
    out: dict[str, list[float]] = {"claim": [], "evidence": [], "model": [], "record": []}
    # The k-th video to start had a slot free from the upload (k < 5) or from the
    # (k-5)-th completion.
    for k, start in enumerate(started):
        free = upload_end if k < AT_ONCE else completed[k - AT_ONCE]
        out["claim"].append(max(0.0, start - free))
    for record in run.records:
        name = record["originalName"]
        out["evidence"].append(first[name].arrived - when(record["startedAt"]))
        out["model"].append(last[name].answered - first[name].arrived)
        out["record"].append(when(record["completedAt"]) - last[name].answered)
    return out


def clean_rows(run: Run) -> list[Row]:
    ideal = VIDEOS / AT_ONCE * MODEL_S
    per = stages(run)
    waves = VIDEOS / AT_ONCE
    calls = len(run.calls)

    def ms(values: list[float]) -> str:
        return f"{statistics.mean(values) * 1000:.0f} (max {max(values) * 1000:.0f})"

    rows: list[Row] = [
        (
            f"clean: {VIDEOS} videos, {AT_ONCE} at once, model answers in {MODEL_S:g} s (s)",
            f"{run.wall_s:.2f} ({calls} calls)",
            f"{ideal:.2f} (ideal: model time)",
            f"{run.wall_s / ideal:.3f}",
            "<= 1.15",
        ),
        (
            "clean: upload of the batch (ms)",
            f"{run.upload_s * 1000:.0f}",
            "",
            f"{run.upload_s / ideal:.3f} of ideal",
            "",
        ),
    ]
    for stage, label in (
        ("claim", "queue/claim wait once a slot is free"),
        ("evidence", "start to request at the fake (cached evidence, teller, request)"),
        ("model", f"model call (the fake's {MODEL_S:g} s included)"),
        ("record", "answer to completed (parse, validate, record)"),
    ):
        rows.append(
            (
                f"clean: {label}, per video (ms)",
                ms(per[stage]),
                f"{MODEL_S * 1000:.0f}" if stage == "model" else "",
                f"x{waves:g} waves: {statistics.mean(per[stage]) * waves:.2f} s",
                "",
            )
        )
    return rows


def fault_rows(run: Run, clean: Run) -> list[Row]:
    faults = [c for c in run.calls if c.status != 200]
    limited = sum(1 for c in faults if c.status == 429)
    return [
        (
            f"faults: {FAULT_RATE:.0%} of calls 429 (RetryInfo {RETRY_DELAY}) or 503 (s)",
            f"{run.wall_s:.2f} ({len(run.calls)} calls: {limited} x 429, "
            f"{len(faults) - limited} x 503; {len(run.records)} of {VIDEOS} completed)",
            f"{clean.wall_s:.2f} (clean run)",
            f"{run.wall_s / clean.wall_s:.2f}",
            "<= 2",
        )
    ]


def estimate_rows(server: ServeProcess, run: Run) -> list[Row]:
    lengths = [
        {"name": r["originalName"], "durationS": r["evidence"]["media"]["duration_s"]}
        for r in run.records
    ]
    estimate = httpx.post(
        f"{server.url}/api/estimate", json={"teller": "gemini", "videos": lengths}, timeout=30
    ).json()
    counted_in = sum(i for i, _ in run.reported)
    counted_out = sum(o for _, o in run.reported)
    kept_in = sum(r["stories"][-1]["tokensIn"] for r in run.records)
    if kept_in != counted_in:
        note = f"note: stories record {kept_in} tokens in, the fake counted {counted_in}"
        print(note, file=sys.stderr)
    by_name = {v["name"]: v["tokensIn"] for v in estimate["videos"]}
    counted_by_name: dict[str, int] = {}
    for call in run.calls:
        counted_by_name[call.video] = counted_by_name.get(call.video, 0) + call.tokens[0]
    worst = max((by_name[name] / counted - 1 for name, counted in counted_by_name.items()), key=abs)
    return [
        (
            f"estimate: tokens in, {VIDEOS} clips (POST /api/estimate)",
            f"{estimate['tokensIn']} (worst clip {worst:+.1%})",
            f"{counted_in} (counted by the fake)",
            f"{estimate['tokensIn'] / counted_in:.3f}",
            "0.90-1.10",
        ),
        (
            "estimate: tokens out (the fake's answer is scripted: 180 words)",
            f"{estimate['tokensOut']}",
            f"{counted_out} (counted by the fake)",
            f"{estimate['tokensOut'] / counted_out:.3f}",
            "",
        ),
    ]


def print_videos(run: Run) -> None:
    """Each video's stages in the clean run, in the order they started (seconds)."""
    per = stages(run)
    order = sorted(range(len(run.records)), key=lambda i: run.records[i]["startedAt"])
    print("video | started | evidence | model | record", file=sys.stderr)
    for i in order:
        record = run.records[i]
        print(
            f"{record['originalName']} | {when(record['startedAt']) - run.uploaded_at:6.2f}"
            f" | {per['evidence'][i]:.3f} | {per['model'][i]:.3f} | {per['record'][i]:.3f}",
            file=sys.stderr,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--workdir", type=Path, help="folder for clips and data (kept)")
    parser.add_argument("--verbose", action="store_true", help="each video's stages too")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="storyteller-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"building {VIDEOS} small clips (once per work folder)...", file=sys.stderr)
    clips = make_clips(workdir / "clips")
    data = workdir / "tellers"
    if not args.workdir:
        shutil.rmtree(data, ignore_errors=True)
    fake = TimedGemini().start()
    server = ServeProcess(
        data,
        MAX_CONCURRENT_JOBS=str(AT_ONCE),
        STORYTELLER_MAX_BATCH_VIDEOS=str(VIDEOS),
        STORYTELLER_GEMINI_MAX_CONCURRENCY=str(AT_ONCE),
        STORYTELLER_GEMINI_REQUESTS_PER_MINUTE="0",
        STORYTELLER_GEMINI_BASE_URL=fake.base_url,
        GEMINI_API_KEY=API_KEY,
        HF_HUB_OFFLINE="1",
    )
    server.start()
    try:
        print("first pass: analysing the clips (fills the evidence cache)...", file=sys.stderr)
        fake.reset(delay_s=0.0)
        run_batch(server, fake, clips)
        print("clean run...", file=sys.stderr)
        fake.reset(delay_s=MODEL_S)
        clean = run_batch(server, fake, clips)
        rows = clean_rows(clean) + estimate_rows(server, clean)
        if args.verbose:
            print_videos(clean)
        print(f"run with {FAULT_RATE:.0%} of calls failing...", file=sys.stderr)
        fake.reset(delay_s=MODEL_S, fault_rate=FAULT_RATE)
        faults = run_batch(server, fake, clips)
        rows[1:1] = fault_rows(faults, clean)
    finally:
        server.terminate()
        fake.stop()
    print_report("AI teller benchmark (fake Gemini)", rows)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
