"""Real northern-hemisphere cities for datelines, each tagged by what its seasons are like."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

from storyteller.story.season import Season


class Climate(StrEnum):
    """What a place is known for in some season: what makes a video's season true there."""

    SNOW = "snow"  # snowy winters
    BEACH = "beach"  # beaches or coast with summer heat
    FOLIAGE = "foliage"  # strong autumn colour
    BLOOM = "bloom"  # spring blossom and flowers
    CITY = "city"  # a big city: indoor or neutral footage fits any month


# The climate a place needs for each season; a neutral video fits any place.
CLIMATE_FOR_SEASON: dict[Season, Climate | None] = {
    Season.WINTER: Climate.SNOW,
    Season.SUMMER: Climate.BEACH,
    Season.AUTUMN: Climate.FOLIAGE,
    Season.SPRING: Climate.BLOOM,
    Season.NEUTRAL: None,
}


@dataclass(frozen=True)
class City:
    """A dateline place: `name, region` as a dateline writes it ("Bergen, Norway")."""

    name: str
    region: str
    climates: frozenset[Climate]

    def fits(self, season: Season | str) -> bool:
        """Whether a video of this season could plausibly have been shot here."""
        needed = CLIMATE_FOR_SEASON[Season(season)]
        return needed is None or needed in self.climates


@cache
def cities() -> tuple[City, ...]:
    """Every city of the gazetteer, in the order of its data file (cities.csv)."""
    text = resources.files(__package__).joinpath("cities.csv").read_text(encoding="utf-8")
    return tuple(
        City(
            name=row["city"].strip(),
            region=row["region"].strip(),
            climates=frozenset(Climate(tag) for tag in row["climate"].split()),
        )
        for row in csv.DictReader(text.splitlines())
    )


def cities_for(season: Season | str) -> list[City]:
    """The cities where a video of this season fits, in gazetteer order."""
    return [city for city in cities() if city.fits(season)]


def find_city(name: str, region: str) -> City | None:
    """The gazetteer entry for a dateline place, if there is one."""
    return next((c for c in cities() if (c.name, c.region) == (name, region)), None)


def pick_city(season: Season | str, rng: random.Random) -> City:
    """A city where the season is true, chosen by `rng` (the same rng state gives the same city)."""
    return rng.choice(cities_for(season) or list(cities()))
