"""Names in Markdown are text: whatever markup or control characters a file name held,
the rendered document shows the name and nothing else."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from storyteller.export.markdown import escape
from storyteller.storage.names import clean_name


@pytest.mark.parametrize(
    "name",
    [
        "<img src=x onerror=alert(1)>.mp4",
        "[click](javascript:alert(1)).mp4",
        "# heading.mp4",
        "- item.mp4",
        "1. first.mp4",
        "**bold** _it_ `code`.mp4",
        "a &amp; b.mp4",
        "\x1b]0;pwned\x07<b>x</b>\u202e.mp4",
    ],
)
def test_a_name_renders_as_itself(name: str) -> None:
    kept = clean_name(name)  # as it came in
    assert kept is not None
    html = MarkdownIt("commonmark").render(f"## {escape(kept)}\n")
    assert "<img" not in html and "<a " not in html and "<b>" not in html
    inline = [t for t in MarkdownIt("commonmark").parse(f"{escape(kept)}\n") if t.type == "inline"]
    text = "".join(child.content for child in inline[0].children or [] if child.type == "text")
    assert text == kept
