"""Seasons seen in a video and the dateline months that agree with each."""

from __future__ import annotations

from enum import StrEnum


class Season(StrEnum):
    WINTER = "winter"  # snow, ice, cold
    SPRING = "spring"  # flowers, rain, mild
    SUMMER = "summer"  # beach, heat, summer outdoors
    AUTUMN = "autumn"  # autumn leaves, harvest
    NEUTRAL = "neutral"  # indoor or nothing telling: any month


# The contract names these months; places are picked so the season is true there
# (northern-hemisphere cities, see the local teller's gazetteer).
SEASON_MONTHS: dict[Season, frozenset[int]] = {
    Season.WINTER: frozenset({12, 1, 2}),
    Season.SPRING: frozenset({3, 4, 5}),
    Season.SUMMER: frozenset({6, 7, 8}),
    Season.AUTUMN: frozenset({9, 10, 11}),
    Season.NEUTRAL: frozenset(range(1, 13)),
}


def months_for(season: Season | str | None) -> frozenset[int]:
    """Months a dateline may use for this season (all of them when unknown)."""
    if season is None:
        return SEASON_MONTHS[Season.NEUTRAL]
    return SEASON_MONTHS[Season(season)]
