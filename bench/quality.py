"""Benchmark: how true and how well told the local teller's stories of real footage are.

Runs the pipeline and the local teller (seeds 1, 2 and 3) over the real clips of
tests/assets/real and scores each story against the clip's written truth (truth.json):

    .venv/bin/python bench/quality.py            # the table
    .venv/bin/python bench/quality.py --stories  # and every story
    .venv/bin/python bench/quality.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storyteller.config import Settings  # noqa: E402
from storyteller.story.rules import StoryRules  # noqa: E402
from tests.real_footage import SEEDS, evidence_of, score, stories_of, truths  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stories", action="store_true", help="print every story too")
    parser.add_argument("--json", type=Path, help="write the figures and stories here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(data_dir=Path(data))
        rules = StoryRules.from_settings(settings)
        rows = []
        all_sentences: list[str] = []
        contradictions = absences = 0
        speech = speech_quoted = people = people_told = same_city = valid = stories = 0
        for name, truth in truths().items():
            evidence = evidence_of(name, settings)
            told = stories_of(evidence, rules)
            scores = {seed: score(story, evidence, truth, rules) for seed, story in told.items()}
            found = [c for s in scores.values() for c in s.contradictions]
            contradictions += len(found)
            for s in scores.values():
                all_sentences += s.sentences
                absences += s.absences
                valid += s.valid
                stories += 1
            if truth["has_speech"]:
                speech += 1
                speech_quoted += all(s.quoted_speech for s in scores.values())
            if truth["people"]:
                people += 1
                people_told += all(s.mentions_people for s in scores.values())
            same = told[1].place == told[2].place and told[1].region == told[2].region
            same_city += same
            rows.append(
                {
                    "clip": name,
                    "contradictions": found,
                    "stories": {seed: story.text for seed, story in told.items()},
                }
            )
            if args.stories:
                for seed, story in told.items():
                    print(f"=== {name} seed {seed}\n{story.text}\n")
            for c in found:
                print(f"  contradicted: {name}: {c}")
        figures = {
            "clips": len(rows),
            "stories": stories,
            "contradicted claims": contradictions,
            "clips with speech quoted (all seeds) / with speech": f"{speech_quoted}/{speech}",
            "clips with people mentioned (all seeds) / with people": f"{people_told}/{people}",
            "sentences stating an absence": f"{absences / max(1, len(all_sentences)):.0%}",
            "distinct sentences across the set": (
                f"{len(set(all_sentences)) / max(1, len(all_sentences)):.0%}"
                f" ({len(set(all_sentences))}/{len(all_sentences)})"
            ),
            "same city for seeds 1 and 2": f"{same_city}/{len(rows)}",
            "stories passing the validator": f"{valid}/{stories}",
        }
        print(f"\nReal footage, {len(rows)} clips x seeds {', '.join(map(str, SEEDS))}\n")
        print("| measure | value |\n|---|---|")
        for key, value in figures.items():
            print(f"| {key} | {value} |")
        if args.json:
            args.json.write_text(json.dumps({"figures": figures, "clips": rows}, indent=1))


if __name__ == "__main__":
    main()
