"""Priorities from what people type: a batch's priority, the queues a worker takes."""

from __future__ import annotations

from collections.abc import Iterable

from storyteller.db.models import Priority


def parse_priority(value: str | None) -> Priority:
    """A priority from user input (`high`, `normal`, `low`), or ValueError saying which."""
    if value is None or value == "":
        return Priority.NORMAL
    try:
        return Priority(value.strip().lower())
    except ValueError:
        raise ValueError(
            f"unknown priority {value!r}; choose one of: {', '.join(p.value for p in Priority)}"
        ) from None


def parse_queues(values: Iterable[str]) -> list[Priority]:
    """The priorities a worker's `--queue` options name (each may list several, comma-
    separated): ValueError saying which is unknown. Empty: every priority."""
    found: list[Priority] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                priority = parse_priority(part)
                if priority not in found:
                    found.append(priority)
    return found
