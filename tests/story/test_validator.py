"""The validator: every rule of the story contract has a finding, and prose is left alone."""

from __future__ import annotations

from datetime import date

import pytest

from storyteller.config import DEFAULT_DISCLAIMER
from storyteller.story.model import Story
from storyteller.story.rules import StoryRules
from storyteller.story.season import Season
from storyteller.story.validator import Finding, markdown_in, validate

# A fixed window in the past, so no test depends on the clock.
RULES = StoryRules(
    earliest=date(2025, 3, 1), latest=date(2026, 2, 28), disclaimer=DEFAULT_DISCLAIMER
)

GOOD = Story(
    title="Snow Closes the Old Harbour",
    place="Portland",
    region="Maine",
    date=date(2026, 1, 14),
    paragraphs=[
        "Snow fell all night on the old harbour, and by morning the ferries stayed tied up.",
        "Fishermen cleared the decks with brooms. One of them said the drifts reached his knees.",
        "By noon the sun came out, and children slid down the hill behind the fish market.",
    ],
    disclaimer=DEFAULT_DISCLAIMER,
)
TEXT = GOOD.text


def codes(text: str, season: Season = Season.NEUTRAL, rules: StoryRules = RULES) -> list[str]:
    return [finding.rule for finding in validate(text, rules, season)]


def with_line(index: int, line: str, text: str = TEXT) -> str:
    lines = text.split("\n")
    lines[index] = line
    return "\n".join(lines)


TITLE, DATELINE, FIRST, SECOND, THIRD, DISCLAIMER = 0, 2, 4, 6, 8, 10


def test_a_good_story_has_no_findings() -> None:
    assert validate(TEXT, RULES) == []
    assert validate(TEXT, RULES, Season.WINTER) == []


def test_one_final_newline_is_allowed() -> None:
    assert validate(TEXT + "\n", RULES) == []


def test_more_paragraphs_are_fine() -> None:
    story = GOOD.model_copy(update={"paragraphs": [*GOOD.paragraphs, "A fourth one, short."]})
    assert validate(story.text, RULES) == []


@pytest.mark.parametrize("text", ["", "   \n\n  "])
def test_an_empty_story(text: str) -> None:
    assert codes(text) == ["empty"]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (with_line(TITLE, "Snow Closes the Old Harbour"), "title_quotes"),
        (with_line(TITLE, "'Snow Closes the Old Harbour'"), "title_quotes"),
        (with_line(TITLE, "“Snow Closes the Old Harbour”"), "title_curly_quotes"),
        (with_line(TITLE, '"Snow Closes the Old Harbour”'), "title_curly_quotes"),
        (with_line(TITLE, '""'), "title_empty"),
        (with_line(TITLE, '" Snow Closes the Old Harbour"'), "title_whitespace"),
        (with_line(TITLE, '"A' + "b" * 45 + '"'), "title_too_long"),
        (with_line(TITLE, '"The "Big" Snow"'), "title_inner_quotes"),
        (with_line(TITLE, '"The “Big” Snow"'), "title_inner_quotes"),
        ("\n".join(TEXT.split("\n")[2:]), "title_missing"),
        (TEXT.replace('Harbour"\n\n', 'Harbour"\n', 1), "missing_blank_line"),
        (TEXT.replace("2026\n\n", "2026\n", 1), "missing_blank_line"),
        (
            TEXT.replace("\n\n" + DEFAULT_DISCLAIMER, "\n" + DEFAULT_DISCLAIMER),
            "missing_blank_line",
        ),
        ('"Snow Closes the Old Harbour"', "dateline_missing"),
        (with_line(DATELINE, "Portland, Maine - January 14, 2026"), "dateline_dash"),
        (with_line(DATELINE, "Portland, Maine – January 14, 2026"), "dateline_dash"),
        (with_line(DATELINE, "Portland, Maine—January 14, 2026"), "dateline_dash"),
        (with_line(DATELINE, "Portland, Maine — January 14 2026"), "dateline_format"),
        (with_line(DATELINE, "Portland, Maine — 14 January 2026"), "dateline_format"),
        (with_line(DATELINE, "It was a cold day in the harbour."), "dateline_format"),
        (with_line(DATELINE, "Portland — January 14, 2026"), "dateline_place"),
        (with_line(DATELINE, "Portland, Maine, USA — January 14, 2026"), "dateline_place"),
        (with_line(DATELINE, "Portland,  Maine — January 14, 2026"), "dateline_place"),
        (with_line(DATELINE, "Portland, Maine — Jan. 14, 2026"), "dateline_month"),
        (with_line(DATELINE, "Portland, Maine — january 14, 2026"), "dateline_month"),
        (with_line(DATELINE, "Portland, Maine — February 30, 2026"), "dateline_day"),
        (with_line(DATELINE, "Portland, Maine — February 29, 2025"), "dateline_day"),
        (with_line(DATELINE, "Portland, Maine — January 04, 2026"), "dateline_day"),
        (with_line(DATELINE, "Portland, Maine — January 14th, 2026"), "dateline_day"),
        (with_line(DATELINE, "Portland, Maine — January 14, 26"), "dateline_year"),
        (with_line(DATELINE, "Portland, Maine — January 14, 0000"), "dateline_year"),
        (with_line(DATELINE, "Portland, Maine — December 31, 9999"), "date_in_future"),
        (with_line(DATELINE, "Portland, Maine — January 14, 2025"), "date_out_of_range"),
        (TEXT.replace(GOOD.paragraphs[2] + "\n\n", ""), "too_few_paragraphs"),
        (
            TEXT.replace("\n\n" + GOOD.paragraphs[1], "\n\n\n" + GOOD.paragraphs[1]),
            "double_blank_line",
        ),
        (
            TEXT.replace("\n\n" + GOOD.paragraphs[1], "\n  \n" + GOOD.paragraphs[1]),
            "blank_line_spaces",
        ),
        (with_line(FIRST, GOOD.paragraphs[0] + " "), "stray_whitespace"),
        (with_line(SECOND, "  " + GOOD.paragraphs[1]), "stray_whitespace"),
        ("\n" + TEXT, "leading_blank_line"),
        (TEXT + "\n\n", "trailing_blank_line"),
        (with_line(FIRST, "Snow fell all night\non the old harbour."), "paragraph_line_break"),
        (TEXT.replace("\n", "\r\n"), "line_endings"),
        (with_line(FIRST, "Snow\tfell all night on the old harbour."), "control_characters"),
        (with_line(FIRST, "Snow fell\u2028all night on the old harbour."), "control_characters"),
        (TEXT.removesuffix("\n\n" + DEFAULT_DISCLAIMER), "disclaimer"),
        (with_line(DISCLAIMER, "This story was made by AI, for entertainment."), "disclaimer"),
        (with_line(DISCLAIMER, DEFAULT_DISCLAIMER + " Enjoy!"), "disclaimer"),
        (TEXT + "\n\nThe end.", "disclaimer"),
        (with_line(SECOND, "## The morning after"), "markdown_heading"),
        (with_line(TITLE, '"# Snow Closes the Old Harbour"'), "markdown_heading"),
        (with_line(SECOND, "- Fishermen cleared the decks with brooms."), "markdown_list"),
        (with_line(SECOND, "* Fishermen cleared the decks with brooms."), "markdown_list"),
        (with_line(SECOND, "• Fishermen cleared the decks with brooms."), "markdown_list"),
        (with_line(SECOND, "1. Fishermen cleared the decks with brooms."), "markdown_list"),
        (with_line(SECOND, "2) Fishermen cleared the decks with brooms."), "markdown_list"),
        (with_line(SECOND, "Fishermen cleared the **decks** with brooms."), "markdown_emphasis"),
        (with_line(SECOND, "Fishermen cleared the __decks__ with brooms."), "markdown_emphasis"),
        (with_line(SECOND, "Fishermen cleared the *decks* with brooms."), "markdown_emphasis"),
        (with_line(SECOND, "Fishermen cleared the _decks_ with brooms."), "markdown_emphasis"),
        (with_line(TITLE, '"**Snow Closes the Old Harbour**"'), "markdown_emphasis"),
        (with_line(SECOND, "Fishermen cleared the `decks` with brooms."), "markdown_code"),
        (with_line(SECOND, "See [the harbour](https://example.com) today."), "markdown_link"),
        (with_line(SECOND, "> Fishermen cleared the decks with brooms."), "markdown_quote"),
        (with_line(SECOND, "| Time | Snow |"), "markdown_table"),
        (with_line(SECOND, "---"), "markdown_rule"),
        (with_line(SECOND, "Fishermen cleared the decks.<br>Then they left."), "markdown_html"),
    ],
)
def test_each_broken_rule_has_its_finding(text: str, rule: str) -> None:
    assert rule in codes(text)


def test_the_season_decides_the_month() -> None:
    summer = with_line(DATELINE, "Portland, Maine — July 14, 2025")
    assert codes(summer, Season.SUMMER) == []
    assert codes(summer, Season.WINTER) == ["date_season"]
    assert codes(TEXT, Season.SUMMER) == ["date_season"]
    assert codes(summer, Season.NEUTRAL) == []


def test_the_last_day_of_the_range_is_allowed_and_the_next_is_not() -> None:
    assert codes(with_line(DATELINE, "Portland, Maine — February 28, 2026")) == []
    assert codes(with_line(DATELINE, "Portland, Maine — March 1, 2026")) == ["date_out_of_range"]
    assert codes(with_line(DATELINE, "Portland, Maine — March 1, 2025")) == []
    assert codes(with_line(DATELINE, "Portland, Maine — February 28, 2025")) == [
        "date_out_of_range"
    ]


def test_a_leap_day_exists_in_leap_years() -> None:
    rules = StoryRules(date(2024, 1, 1), date(2024, 12, 31), DEFAULT_DISCLAIMER)
    assert codes(with_line(DATELINE, "Portland, Maine — February 29, 2024"), rules=rules) == []


def test_messages_say_what_to_change() -> None:
    long_title = '"' + "A" * 52 + '"'
    [finding] = validate(with_line(TITLE, long_title), RULES)
    assert finding == Finding(
        "title_too_long",
        "the title has 52 characters inside the quotes; at most 45 are allowed",
    )
    [season] = validate(TEXT, RULES, Season.SUMMER)
    assert season.message == (
        "the dateline month is January, but the video looks like summer: use June, July or August"
    )
    [winter] = validate(
        with_line(DATELINE, "Portland, Maine — July 14, 2025"), RULES, Season.WINTER
    )
    assert "December, January or February" in winter.message
    [missing] = validate(TEXT.removesuffix("\n\n" + DEFAULT_DISCLAIMER), RULES)
    assert DEFAULT_DISCLAIMER in missing.message
    [day] = validate(with_line(DATELINE, "Portland, Maine — February 30, 2026"), RULES)
    assert day.message == "February 2026 has no day 30; it has 28 days"
    [old] = validate(with_line(DATELINE, "Portland, Maine — January 14, 2025"), RULES)
    assert "from March 1, 2025 to February 28, 2026" in old.message


def test_a_story_without_a_disclaimer_still_counts_its_paragraphs() -> None:
    # The last paragraph is not mistaken for the disclaimer: three paragraphs, one finding.
    assert codes(TEXT.removesuffix("\n\n" + DEFAULT_DISCLAIMER)) == ["disclaimer"]


def test_markdown_is_reported_once_per_kind_with_its_lines() -> None:
    text = with_line(FIRST, "- Snow fell.")
    text = with_line(THIRD, "- By noon the sun came out.", text)
    [finding] = validate(text, RULES)
    assert finding.rule == "markdown_list"
    assert "lines 5, 9" in finding.message


@pytest.mark.parametrize(
    "sentence",
    [
        "Snow - about 3.5 metres of it - fell overnight on the harbour.",
        "3.5 metres of snow fell, the most since 1998.",
        "-5 degrees was the low, and the home side won 2-1.",
        "The co-op ran an asterisk-free, plain-text notice board.",
        "He typed snake_case names and the sum 5 * 3 on the board.",
        "They were the #1 team; rock | paper was the game.",
        "Mr. Lee, of the U.S. Coast Guard, said it was 'the big one'.",
        'He called it "the big one" and laughed.',
        "Prices rose 50% (from $5 to $7.50) at 9:30 a.m. on Monday.",
        "A * marks the spot, and another * marks the next one.",
        "The 1990s were warm; in 2024 it snowed twice.",
        "An arrow -> pointed to the 1st, 2nd and 3rd floors.",
        "Twenty-one boats, e.g. the Mary-Ann, left at 5.",
        "Café owners in Île-de-France said ‘non’ to the plan.",
        "2024. That was the year the harbour froze.",
    ],
)
def test_prose_is_not_taken_for_markdown(sentence: str) -> None:
    assert markdown_in(sentence) == []
    assert codes(with_line(SECOND, sentence)) == []


def test_places_with_hyphens_and_apostrophes_are_fine() -> None:
    for dateline in (
        "Winston-Salem, North Carolina — January 14, 2026",
        "St. John's, Newfoundland and Labrador — January 14, 2026",
        "Stratford-upon-Avon, Île-de-France — January 14, 2026",
    ):
        assert codes(with_line(DATELINE, dateline)) == []


def test_a_title_may_hold_single_quotes_colons_and_dashes() -> None:
    for title in ("Rock 'n' Roll at the Harbour", "Snow: Day Two — Still Coming", "O’Brien’s Boat"):
        assert codes(with_line(TITLE, f'"{title}"')) == []


def test_a_title_of_exactly_45_characters_is_allowed() -> None:
    assert codes(with_line(TITLE, '"' + "a" * 45 + '"')) == []
    assert codes(with_line(TITLE, '"' + "a" * 46 + '"')) == ["title_too_long"]


def test_the_disclaimer_is_a_setting() -> None:
    rules = StoryRules(RULES.earliest, RULES.latest, "Made by a machine, for fun.")
    text = GOOD.model_copy(update={"disclaimer": "Made by a machine, for fun."}).text
    assert validate(text, rules) == []
    assert codes(TEXT, rules=rules) == ["disclaimer"]
