"""Tellers by name: the one place that knows which tellers exist."""

from __future__ import annotations

from collections.abc import Callable

from storyteller.config import Settings
from storyteller.tellers.base import Teller, TellerError


def _local(settings: Settings) -> Teller:
    from storyteller.tellers.local.teller import LocalTeller

    return LocalTeller()


def _gemini(settings: Settings) -> Teller:
    from storyteller.tellers.gemini import GeminiTeller

    return GeminiTeller(settings)


def _openai(settings: Settings) -> Teller:
    from storyteller.tellers.openai_compat import OpenAITeller

    return OpenAITeller(settings)


# Factories import their teller lazily so an unused backend costs nothing at start.
TELLERS: dict[str, Callable[[Settings], Teller]] = {
    "local": _local,
    "gemini": _gemini,
    "openai": _openai,
}


def teller_names() -> list[str]:
    return sorted(TELLERS)


# The setting that names each AI teller's model.
MODEL_SETTINGS = {"gemini": "gemini_model", "openai": "openai_model"}


def has_models(name: str) -> bool:
    return name in MODEL_SETTINGS


def configured_model(name: str, settings: Settings) -> str | None:
    """The model a teller uses when none is chosen (None for a teller without models)."""
    setting = MODEL_SETTINGS.get(name)
    return getattr(settings, setting) if setting else None


def with_model(settings: Settings, name: str, model: str) -> Settings:
    """`settings` with teller `name` using `model` (a batch's or a video's choice)."""
    setting = MODEL_SETTINGS.get(name)
    if setting is None:
        raise TellerError(f"the {name} teller has no models to choose from", code="no_models")
    return settings.model_copy(update={setting: model})


def get_teller(name: str, settings: Settings) -> Teller:
    factory = TELLERS.get(name)
    if factory is None:
        known = ", ".join(teller_names())
        raise TellerError(f"unknown teller {name!r}; choose one of: {known}", code="unknown_teller")
    return factory(settings)


def needs(name: str, settings: Settings) -> str | None:
    """What must be set before teller `name` can write a story, or None when it can:
    the words the page shows beside a teller it cannot offer, and the 422 of an upload
    that asks for it (rather than a failure of every video later)."""
    if name == "gemini":
        key = settings.gemini_api_key
        if key is None or not key.get_secret_value():
            return "Set GEMINI_API_KEY to use Gemini."
    if name == "openai":
        key = settings.openai_api_key
        if (key is None or not key.get_secret_value()) and not settings.openai_base_url:
            return (
                "Set OPENAI_API_KEY to use OpenAI, or STORYTELLER_OPENAI_BASE_URL for a "
                "local OpenAI-compatible server."
            )
    return None


def models_of(name: str, settings: Settings) -> list[str]:
    """The models one may choose for teller `name`: its configured one first, then those
    the prices file knows (empty for a teller without models)."""
    configured = configured_model(name, settings)
    if configured is None:
        return []
    from storyteller.tellers.pricing import priced_models

    return [configured, *(model for model in priced_models(settings, name) if model != configured)]
