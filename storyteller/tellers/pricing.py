"""What a story cost: tokens times the price of the model, from a data file users update."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from storyteller.config import Settings

BUNDLED_PRICES = Path(__file__).with_name("prices.json")
PER_TOKENS = 1_000_000


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    tokens_in: float
    tokens_out: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.tokens_in + tokens_out * self.tokens_out) / PER_TOKENS


@lru_cache(maxsize=8)
def _read(path: Path, modified: float) -> dict[str, dict[str, dict[str, float]]]:
    data: dict[str, dict[str, dict[str, float]]] = json.loads(path.read_text())
    return data


def price_of(settings: Settings, teller: str, model: str, *, batch: bool = False) -> Price | None:
    """The model's price (Batch Mode's when `batch`), or None when the file does not know it."""
    path = settings.prices_file or BUNDLED_PRICES
    table = _read(path, path.stat().st_mtime).get(teller, {})
    entry = table.get(model)
    if entry is None:
        return None
    if batch and "batch_in" in entry:
        return Price(entry["batch_in"], entry["batch_out"])
    return Price(entry["in"], entry["out"])


def cost_usd(
    settings: Settings,
    teller: str,
    model: str,
    tokens_in: int,
    tokens_out: int,
    *,
    batch: bool = False,
) -> float | None:
    """Dollars for these tokens (at Batch Mode's price when `batch`), or None when the
    model's price is not known. Not rounded: a story costs fractions of a cent, and
    budgets add up thousands of them."""
    price = price_of(settings, teller, model, batch=batch)
    return None if price is None else price.cost(tokens_in, tokens_out)


def priced_models(settings: Settings, teller: str) -> list[str]:
    """The models of `teller` the prices file knows, in its order."""
    path = settings.prices_file or BUNDLED_PRICES
    return list(_read(path, path.stat().st_mtime).get(teller, {}))
