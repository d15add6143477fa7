"""Parse: a story written as text, however loosely, read back into its parts."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storyteller.config import DEFAULT_DISCLAIMER
from storyteller.story.model import Story
from storyteller.story.parse import StoryParseError, parse, strip_markdown
from storyteller.story.season import Season
from storyteller.story.validator import markdown_in
from tests.story.test_repair import valid_stories

BODY = (
    "Snow fell all night on the old harbour.\n\n"
    "Fishermen cleared the decks with brooms.\n\n"
    "By noon the sun came out over the market."
)
PARAGRAPHS = [
    "Snow fell all night on the old harbour.",
    "Fishermen cleared the decks with brooms.",
    "By noon the sun came out over the market.",
]
DATELINE = "Portland, Maine — January 14, 2026"


@settings(max_examples=80, deadline=None)
@given(found=valid_stories())
def test_a_valid_story_round_trips(found: tuple[Story, Season]) -> None:
    story, _ = found
    assert parse(story.text) == story
    assert parse(story.text + "\n") == story


@settings(max_examples=300, deadline=None)
@given(line=st.text(max_size=80))
def test_plain_text_passes_strip_markdown_unchanged(line: str) -> None:
    line = line.replace("\n", " ")
    if not markdown_in(line):
        assert strip_markdown(line) == line.strip()


def test_a_well_formed_story() -> None:
    story = parse(f'"Snow Closes the Harbour"\n\n{DATELINE}\n\n{BODY}\n\n{DEFAULT_DISCLAIMER}')
    assert story == Story(
        title="Snow Closes the Harbour",
        place="Portland",
        region="Maine",
        date=date(2026, 1, 14),
        paragraphs=PARAGRAPHS,
        disclaimer=DEFAULT_DISCLAIMER,
    )


@pytest.mark.parametrize(
    "first_line",
    [
        "# Snow Closes the Harbour",
        "## **Snow Closes the Harbour**",
        "**Snow Closes the Harbour**",
        "*Snow Closes the Harbour*",
        "Title: Snow Closes the Harbour",
        "**Title:** Snow Closes the Harbour",
        "Headline - Snow Closes the Harbour",
        "“Snow Closes the Harbour”",
        "«Snow Closes the Harbour»",
        "'Snow Closes the Harbour'",
        '# "Snow Closes the Harbour"',
        "   Snow Closes the Harbour   ",
    ],
)
def test_titles_in_many_dresses(first_line: str) -> None:
    assert parse(f"{first_line}\n\n{DATELINE}\n\n{BODY}").title == "Snow Closes the Harbour"


def test_a_title_label_above_a_preamble_wins() -> None:
    text = f"Sure! Here is your story.\n\nTitle: Snow Closes the Harbour\n\n{DATELINE}\n\n{BODY}"
    assert parse(text).title == "Snow Closes the Harbour"
    text = f"Sure! Here is your story:\n\n# Snow Closes the Harbour\n\n{DATELINE}\n\n{BODY}"
    assert parse(text).title == "Snow Closes the Harbour"


def test_a_preamble_is_not_a_title() -> None:
    assert parse(f"Here is your story:\n\n{DATELINE}\n\n{BODY}").title == ""
    text = f"**Title:**\nSnow Closes the Harbour\n\n{DATELINE}\n\n{BODY}"
    assert parse(text).title == "Snow Closes the Harbour"


def test_a_quoted_title_ending_in_a_colon_is_a_title() -> None:
    # As the contract writes titles: found by the repair property test (title "0:").
    assert parse(f'"Why:"\n\n{DATELINE}\n\n{BODY}').title == "Why:"
    assert parse(f"**Here is your story:**\n\n{DATELINE}\n\n{BODY}").title == ""


def test_a_setext_heading_is_a_title() -> None:
    assert parse(f"Snow Closes the Harbour\n=======\n{DATELINE}\n{BODY}").title == (
        "Snow Closes the Harbour"
    )


def test_no_title_leaves_it_empty() -> None:
    assert parse(f"{DATELINE}\n\n{BODY}").title == ""


@pytest.mark.parametrize(
    ("dateline", "place", "region", "when"),
    [
        ("Portland, Maine - January 14, 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("Portland, Maine – January 14, 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("Portland, Maine -- January 14, 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("Portland, Maine—January 14, 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("Portland, Maine — Jan. 5, 2026", "Portland", "Maine", date(2026, 1, 5)),
        ("Portland, Maine — Sept. 5, 2025", "Portland", "Maine", date(2025, 9, 5)),
        ("Portland, Maine — Dec 25 2025", "Portland", "Maine", date(2025, 12, 25)),
        ("Portland, Maine — January 14th, 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("Portland, Maine — 14 January 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("Portland, Maine — Wednesday, January 14, 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("Portland, Maine — 2026-01-14", "Portland", "Maine", date(2026, 1, 14)),
        ("PORTLAND, Maine: JANUARY 14, 2026", "PORTLAND", "Maine", date(2026, 1, 14)),
        ("Portland, Maine, January 14, 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("*Portland, Maine — January 14, 2026*", "Portland", "Maine", date(2026, 1, 14)),
        ("**Dateline:** Portland, Maine — January 14, 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("Portland , Maine  —  January 14, 2026", "Portland", "Maine", date(2026, 1, 14)),
        ("Winston-Salem, North Carolina - May 3, 2025", "Winston-Salem", "North Carolina", date(2025, 5, 3)),
        ("Portland, Maine, USA — March 4, 2025", "Portland", "Maine, USA", date(2025, 3, 4)),
        ("Portland, Maine — February 30, 2025", "Portland", "Maine", date(2025, 2, 28)),
        ("Portland, Maine — February 30, 2024", "Portland", "Maine", date(2024, 2, 29)),
        ("Portland, Maine — April 31, 2025", "Portland", "Maine", date(2025, 4, 30)),
        ("Portland, Maine — June 0, 2025", "Portland", "Maine", date(2025, 6, 1)),
    ],
)  # fmt: skip
def test_datelines_in_many_dresses(dateline: str, place: str, region: str, when: date) -> None:
    story = parse(f'"Snow"\n\n{dateline}\n\n{BODY}')
    assert (story.place, story.region, story.date) == (place, region, when)
    assert story.paragraphs == PARAGRAPHS


def test_an_inline_dateline_starts_the_first_paragraph() -> None:
    story = parse('"Snow"\n\nPORTLAND, Maine — January 14, 2026 — Snow fell all night.\n\nMore.')
    assert (story.place, story.date) == ("PORTLAND", date(2026, 1, 14))
    assert story.paragraphs == ["Snow fell all night.", "More."]


def test_a_sentence_with_a_date_is_not_a_dateline() -> None:
    with pytest.raises(StoryParseError, match="no dateline"):
        parse('"Snow"\n\nWe went to Portland, Maine on January 14, 2026 and it snowed.')


@pytest.mark.parametrize("text", ["", "   \n\n ", "\r\n"])
def test_an_empty_answer(text: str) -> None:
    with pytest.raises(StoryParseError, match="empty"):
        parse(text)


def test_no_dateline_says_so() -> None:
    with pytest.raises(StoryParseError) as caught:
        parse('"Snow Closes the Harbour"\n\nSnow fell. It was cold. Kids played.')
    assert caught.value.reason.startswith("no dateline")
    assert "City" in caught.value.reason or "Portland, Maine" in caught.value.reason


def test_crlf_extra_whitespace_and_a_bom() -> None:
    text = f'\ufeff  "Snow"  \r\n\r\n\r\n  {DATELINE}  \r\n\r\n{BODY}\r\n\r\n{DEFAULT_DISCLAIMER}   \r\n\r\n'
    story = parse(text.replace("\n\n", "\r\n\r\n"))
    assert story.title == "Snow"
    assert story.paragraphs == PARAGRAPHS
    assert story.disclaimer == DEFAULT_DISCLAIMER


def test_paragraphs_without_blank_lines() -> None:
    text = f'"Snow"\n{DATELINE}\n' + "\n".join(PARAGRAPHS)
    assert parse(text).paragraphs == PARAGRAPHS


def test_lines_wrapped_mid_sentence_are_joined() -> None:
    text = f'"Snow"\n\n{DATELINE}\n\nSnow fell all night\non the old harbour.\n\nMore came.'
    assert parse(text).paragraphs == ["Snow fell all night on the old harbour.", "More came."]


def test_list_items_become_paragraphs_and_headings_go() -> None:
    text = (
        f"# Snow\n\n{DATELINE}\n\n## What happened\n\n- Snow fell\n- Ferries stopped\n"
        "**Afterwards**\nKids played."
    )
    story = parse(text)
    assert story.paragraphs == ["- Snow fell", "- Ferries stopped", "Kids played."]


def test_code_fences_and_rules_are_not_text() -> None:
    text = f"```\n# Snow\n\n{DATELINE}\n\n{BODY}\n\n---\n\n{DEFAULT_DISCLAIMER}\n```"
    story = parse(text)
    assert (story.title, story.paragraphs, story.disclaimer) == (
        "Snow",
        PARAGRAPHS,
        DEFAULT_DISCLAIMER,
    )


def test_a_missing_disclaimer_is_empty() -> None:
    assert parse(f'"Snow"\n\n{DATELINE}\n\n{BODY}').disclaimer == ""


def test_a_model_written_disclaimer_is_found() -> None:
    note = "*Disclaimer: This story is AI-generated and for entertainment purposes only.*"
    story = parse(f'"Snow"\n\n{DATELINE}\n\n{BODY}\n\n{note}')
    assert story.disclaimer == note
    assert story.paragraphs == PARAGRAPHS


def test_a_custom_disclaimer_is_recognised_when_named() -> None:
    text = f'"Snow"\n\n{DATELINE}\n\n{BODY}\n\nMade with care.'
    assert parse(text).paragraphs[-1] == "Made with care."
    story = parse(text, disclaimer="Made with care.")
    assert (story.paragraphs, story.disclaimer) == (PARAGRAPHS, "Made with care.")


def test_a_quoted_title_holding_a_date_is_still_the_title() -> None:
    story = parse(f'"Portland, Maine - May 5, 2025"\n\n{DATELINE}\n\n{BODY}')
    assert story.title == "Portland, Maine - May 5, 2025"
    assert story.date == date(2026, 1, 14)


@pytest.mark.parametrize(
    ("line", "plain"),
    [
        ("## Snow", "Snow"),
        ("- **Snow** fell", "Snow fell"),
        ("> 1. *Snow* fell", "Snow fell"),
        ("See [the harbour](https://example.com).", "See the harbour."),
        ("| Snow | 3.5 m |", "Snow, 3.5 m"),
        ("|---|---|", ""),
        ("Use `code` here", "Use code here"),
        ("Snow<br>fell", "Snow fell"),
        ("***", ""),
        ("Snow - about 3.5 metres - fell; -5 degrees, 2-1.", "Snow - about 3.5 metres - fell; -5 degrees, 2-1."),
    ],
)  # fmt: skip
def test_strip_markdown(line: str, plain: str) -> None:
    assert strip_markdown(line).replace("  ", " ") == plain
