"""Every setting is documented, and the README opens with the two commands."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from storyteller.config import Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DOC = (ROOT / "docs" / "configuration.md").read_text()


def env_names(field: str) -> set[str]:
    """The environment variables that set a field."""
    alias = Settings.model_fields[field].validation_alias
    names = {f"STORYTELLER_{field.upper()}"}
    if isinstance(alias, AliasChoices):
        names |= {str(choice) for choice in alias.choices}
    return names


def test_every_setting_is_in_the_configuration_doc() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", CONFIG_DOC))
    missing = [field for field in Settings.model_fields if not env_names(field) & documented]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_configuration_doc_names_no_setting_that_does_not_exist() -> None:
    known = set().union(*(env_names(field) for field in Settings.model_fields))
    table_names = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", CONFIG_DOC, flags=re.MULTILINE))
    table_names |= set(re.findall(r"\(or `([A-Z][A-Z0-9_]+)`\)", CONFIG_DOC))
    assert table_names <= known, f"documented but not a setting: {sorted(table_names - known)}"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    head = readme.split("\n## ", 1)[0]
    assert "make run" in head and "make test" in head


def test_every_endpoint_is_in_the_api_doc() -> None:
    """Each method and path of the OpenAPI schema is named in docs/api.md as `METHOD /path`
    (path parameters may be written as they are, or shortened to `{...}`)."""
    from storyteller.app import create_app

    api_doc = (ROOT / "docs" / "api.md").read_text()
    named = {
        (method, re.sub(r"\{[^}]*\}", "{}", path.split("?")[0].split("[")[0]))
        for method, path in re.findall(
            r"\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/[^\s`]*)", api_doc
        )
    }
    schema = create_app(Settings(_env_file=None, data_dir=ROOT / "build" / "unused")).openapi()  # type: ignore[call-arg]
    missing = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method in operations
        if (method.upper(), re.sub(r"\{[^}]*\}", "{}", path)) not in named
    ]
    assert not missing, f"endpoints missing from docs/api.md: {missing}"
