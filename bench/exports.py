"""Documents out: a 100-story batch exported in every format, beside two baselines (the
ZIP of plain text the page always offered, and the same PDF made with fpdf2 and, when it
is installed, WeasyPrint). Prints one table; `--stories N` changes the batch's size.

The batch is real rows in a SQLite database (tests/export's stories: English, Russian,
Greek, Japanese and one full of markup, each with a keyframe of its own in the cache);
the times are reading it (`load_batch`) plus rendering, as the API does, without HTTP.

    .venv/bin/python bench/exports.py
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storyteller.config import Settings
from storyteller.db.migrate import migrate
from storyteller.db.models import VideoStatus
from storyteller.db.session import make_engine, make_session_factory
from storyteller.export import archive, markdown, pdf, record, table, word
from storyteller.export.document import BatchDocument, load_batch
from tests.export.conftest import (
    GREEK,
    JAPANESE,
    MARKUP,
    RUSSIAN,
    SNOW,
    StoredVideo,
    store_batch,
)

STORIES = (SNOW, RUSSIAN, GREEK, JAPANESE, MARKUP)
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def fpdf2_pdf(batch: BatchDocument) -> bytes:
    """The same news items with fpdf2: DejaVu Serif (Debian's fonts-dejavu-core, fpdf2 ships
    no Unicode font) with Noto Sans CJK as fallback, the keyframe, no contents page."""
    import noto_cjk_sans_otc
    from fpdf import FPDF

    document = FPDF(format="A4")
    document.set_margins(21, 23, 21)
    document.add_font("serif", fname=str(DEJAVU / "DejaVuSerif.ttf"))
    document.add_font("serif", style="B", fname=str(DEJAVU / "DejaVuSerif-Bold.ttf"))
    document.add_font("cjk", fname=str(noto_cjk_sans_otc.FONT_PATH))
    document.set_fallback_fonts(["cjk"])
    for video in batch.videos:
        document.add_page()
        document.set_font("serif", size=8)
        document.cell(text=video.name, new_x="LMARGIN", new_y="NEXT")
        story = video.story
        document.set_font("serif", style="B", size=20)
        document.multi_cell(
            0, 9, f"“{story.title}”" if story else video.name, new_x="LMARGIN", new_y="NEXT"
        )
        if video.keyframe:
            document.image(io.BytesIO(video.keyframe.jpeg), w=document.epw)
        if story:
            document.set_font("serif", style="B", size=10)
            document.multi_cell(0, 6, story.dateline, new_x="LMARGIN", new_y="NEXT")
            document.set_font("serif", size=10)
            for paragraph in story.paragraphs:
                document.multi_cell(0, 5, paragraph, align="J", new_x="LMARGIN", new_y="NEXT")
                document.ln(2)
            document.set_font("serif", size=8)
            document.multi_cell(0, 4, story.disclaimer, new_x="LMARGIN", new_y="NEXT")
        if video.reason:
            document.multi_cell(
                0, 5, f"{video.status}: {video.reason}", new_x="LMARGIN", new_y="NEXT"
            )
    return bytes(document.output())


def weasyprint_pdf(batch: BatchDocument) -> bytes:
    """The same with WeasyPrint (HTML and CSS; needs Pango from the system)."""
    import base64
    import html

    import noto_cjk_sans_otc
    from weasyprint import HTML

    parts = [
        f"<style>@font-face{{font-family:cjk;src:url(file://{noto_cjk_sans_otc.FONT_PATH})}}"
        "body{font:10.5pt 'DejaVu Serif',cjk}h1{font-size:20pt}img{width:100%}"
        "section{break-before:page}.cols{columns:2}</style>"
    ]
    for video in batch.videos:
        story = video.story
        parts.append(f"<section><small>{html.escape(video.name)}</small>")
        parts.append(f"<h1>{html.escape(story.title if story else video.name)}</h1>")
        if video.keyframe:
            data = base64.b64encode(video.keyframe.jpeg).decode()
            parts.append(f'<img src="data:image/jpeg;base64,{data}">')
        if story:
            body = "".join(f"<p>{html.escape(p)}</p>" for p in story.paragraphs)
            parts.append(f"<div class=cols><b>{html.escape(story.dateline)}</b>{body}</div>")
            parts.append(f"<p><i>{html.escape(story.disclaimer)}</i></p>")
        parts.append("</section>")
    return bytes(HTML(string="".join(parts)).write_pdf())


def unlike_the_last(document: BatchDocument, run: int) -> BatchDocument:
    videos = tuple(
        dataclasses.replace(
            video,
            stories=tuple(
                dataclasses.replace(
                    story, paragraphs=tuple(f"({run}) {p}" for p in story.paragraphs)
                )
                for story in video.stories
            ),
        )
        for video in document.videos
    )
    return dataclasses.replace(document, videos=videos)


def timed(runs: int, make: Callable[[], bytes]) -> tuple[float, float, int]:
    """Median and best seconds of `runs` runs, and the size of what it made."""
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        size = len(make())
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-exports-") as folder:
        settings = Settings(_env_file=None, data_dir=Path(folder) / "data")  # type: ignore[call-arg]
        settings.data_dir.mkdir(parents=True)
        url = f"sqlite:///{settings.data_dir / 'store.db'}"
        migrate(url)
        videos = tuple(
            StoredVideo(
                f"clip-{n:03d}.mp4", VideoStatus.COMPLETED, (STORIES[n % 5],), evidence=True
            )
            for n in range(options.stories)
        )
        batch_id = store_batch(url, settings, videos).id
        engine = make_engine(url)
        sessions = make_session_factory(engine)

        def load() -> BatchDocument:
            with sessions() as session:
                document = load_batch(session, batch_id, settings)
            assert document is not None
            return document

        runs = itertools.count()

        def loaded(render: Callable[[BatchDocument], bytes]) -> Callable[[], bytes]:
            # Each run's stories differ (a run number in front of every paragraph): Typst
            # memoises layout within a process, and a server rarely exports one batch twice.
            return lambda: render(unlike_the_last(load(), next(runs)))

        cold_started = time.perf_counter()
        pdf.render(unlike_the_last(load(), -1))  # the first PDF of a process reads the fonts
        cold = time.perf_counter() - cold_started
        rows: list[tuple[str, Callable[[], bytes] | None]] = [
            ("ZIP of .txt + md + json (baseline)", loaded(
                lambda d: archive.render(d, stories_json=record.render(d)))),
            ("PDF, Typst", loaded(pdf.render)),
            ("PDF, Typst, with appendix", loaded(lambda d: pdf.render(d, appendix=True))),
            ("PDF, fpdf2 (compared)", loaded(fpdf2_pdf)),
            ("PDF, WeasyPrint (compared)", loaded(weasyprint_pdf)),
            ("Word (.docx)", loaded(word.render)),
            ("Markdown", loaded(markdown.render)),
            ("JSON", loaded(record.render)),
            ("CSV", loaded(table.render)),
        ]  # fmt: skip
        results = []
        for name, make in rows:
            try:
                results.append((name, *timed(options.runs, make)))  # type: ignore[arg-type]
            except ImportError as exc:
                results.append((name, float("nan"), float("nan"), 0))
                print(f"{name}: not measured ({exc.name} is not installed)", file=sys.stderr)
        engine.dispose()

    baseline = results[0][1]
    typst_pdf = results[1][1]
    print(
        f"{options.stories} stories, median of {options.runs} runs; "
        f"{platform.python_version()}, {os.cpu_count()} cores; "
        f"first Typst PDF of the process (fonts read): {cold:.2f} s\n"
    )
    print("| export | seconds (median) | best | MB | vs ZIP | vs Typst PDF |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, median, best, size in results:
        print(
            f"| {name} | {median:.3f} | {best:.3f} | {size / 1e6:.2f} | "
            f"{median / baseline:.1f} | {median / typst_pdf:.2f} |"
        )


if __name__ == "__main__":
    main()
