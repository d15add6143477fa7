"""Every setting is documented, and the README opens with the two commands."""

from __future__ import annotations

from pathlib import Path

from storyteller.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_configuration_doc() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`STORYTELLER_{name.upper()}`" not in doc]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_configuration_doc_names_no_setting_that_does_not_exist() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    known = {f"STORYTELLER_{name.upper()}" for name in Settings.model_fields}
    named = {
        word.strip("`|") for word in doc.split() if word.strip("`|").startswith("STORYTELLER_")
    }
    assert named <= known, f"documented but not a setting: {sorted(named - known)}"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.find("##", 10)] if "##" in readme[10:] else readme
    assert "make run" in head and "make test" in head
