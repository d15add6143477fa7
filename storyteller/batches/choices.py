"""What a batch may be asked for: its teller, the teller's model, its priority.

The upload, the resumable batch, a regeneration and the estimate all check these here,
so a bad value reads the same wherever it is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic.json_schema import JsonDict

from storyteller.config import Settings
from storyteller.db.models import Priority
from storyteller.errors import StorytellerError
from storyteller.jobs.priorities import parse_priority
from storyteller.tellers.registry import has_models, needs, teller_names

# What a provider's model name looks like ("gemini-2.5-flash", "llama3.1:8b", "org/model").
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}")


# The priorities as the OpenAPI schema lists them, for a query parameter and a JSON field
# (which may be null); reading them is lenient ("High " is high).
PRIORITIES = [priority.value for priority in Priority]
PRIORITY_SCHEMA: JsonDict = {"enum": [*PRIORITIES, None]}


class InvalidChoice(StorytellerError):
    """A field has a value that cannot be used (HTTP 422); `reason` names the field."""

    code = "invalid_choice"


def choose_teller(value: str | None, default: str) -> str:
    teller = value or default
    if teller not in teller_names():
        raise InvalidChoice(
            f"teller: unknown teller {teller!r}; choose one of: {', '.join(teller_names())}"
        )
    return teller


def require_ready(teller: str, settings: Settings) -> None:
    """Refuse a teller that cannot write a story as the settings stand (no key set)."""
    missing = needs(teller, settings)
    if missing is not None:
        raise InvalidChoice(f"teller: the {teller} teller is not ready. {missing}")


def choose_model(value: str | None, teller: str) -> str | None:
    """The model chosen for `teller`, or None for its configured one."""
    if not value:
        return None
    if not has_models(teller):
        raise InvalidChoice(f"model: the {teller} teller has no models to choose from")
    if not MODEL_NAME.fullmatch(value):
        raise InvalidChoice(f"model: {value[:140]!r} is not a model name")
    return value


def choose_priority(value: str | None) -> Priority:
    try:
        return parse_priority(value)
    except ValueError as exc:
        raise InvalidChoice(f"priority: {exc}") from None


@dataclass(frozen=True)
class Choice:
    """Who tells a batch's stories, with which model, and how soon."""

    priority: Priority
    teller: str
    model: str | None  # None: the teller's configured model

    @classmethod
    def of(
        cls,
        settings: Settings,
        *,
        priority: str | None = None,
        teller: str | None = None,
        model: str | None = None,
        highest: Priority | None = None,
        usable: bool = True,
    ) -> Choice:
        """The choice from what a user sent (each may be missing); `InvalidChoice`.
        `highest` is the user's own priority: the default, and the most a batch gets
        (asking for more gets it, not a refusal, so the original front end carries on);
        None: no user (normal by default, any allowed). `usable`: the teller must be
        ready to write now (its key set), as for an upload; an estimate need not."""
        chosen_priority = choose_priority(priority)
        if highest is not None:
            ranks = list(Priority)
            if not priority or ranks.index(chosen_priority) < ranks.index(highest):
                chosen_priority = highest
        chosen_teller = choose_teller(teller, settings.default_teller)
        chosen_model = choose_model(model, chosen_teller)
        if usable:
            require_ready(chosen_teller, settings)
        return cls(chosen_priority, chosen_teller, chosen_model)
