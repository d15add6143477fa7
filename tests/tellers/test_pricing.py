"""Story costs from the prices file: the bundled one, or the user's own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from storyteller.config import Settings
from storyteller.tellers.pricing import cost_usd, price_of


def test_bundled_prices_cost_a_story(settings: Settings) -> None:
    assert cost_usd(settings, "gemini", "gemini-2.5-pro", 1_000_000, 100_000) == pytest.approx(
        1.25 + 1.0
    )
    batch = price_of(settings, "gemini", "gemini-3.1-pro-preview", batch=True)
    assert batch is not None and (batch.tokens_in, batch.tokens_out) == (1.0, 6.0)


def test_an_unknown_model_has_no_cost(settings: Settings) -> None:
    assert cost_usd(settings, "gemini", "gemini-99-ultra", 1000, 1000) is None
    assert cost_usd(settings, "nobody", "any", 1000, 1000) is None


def test_users_can_bring_their_own_prices(settings: Settings, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai": {"local-llama": {"in": 0.0, "out": 0.0}}}))
    own = settings.model_copy(update={"prices_file": prices})
    assert cost_usd(own, "openai", "local-llama", 5000, 500) == 0.0
    assert cost_usd(own, "gemini", "gemini-2.5-pro", 5000, 500) is None
    # An updated file is read again.
    prices.write_text(json.dumps({"openai": {"local-llama": {"in": 1.0, "out": 1.0}}}))
    os.utime(prices, (prices.stat().st_atime, prices.stat().st_mtime + 5))
    assert cost_usd(own, "openai", "local-llama", 1_000_000, 0) == 1.0
