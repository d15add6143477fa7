"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Enum, SmallInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

# JSON on SQLite (stored as text), JSONB on PostgreSQL (indexable, compact).
JSONDocument: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC: the only kind of time the store keeps."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, always timezone-aware UTC when read back.

    PostgreSQL keeps it as `timestamptz`. SQLite has no time zones, so the value is
    stored as naive UTC text (which also sorts correctly) and marked UTC on the way
    out. Naive datetimes are refused when written: their zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give times with a time zone (UTC)")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def str_enum(enum_class: type[StrEnum], length: int = 16) -> Enum:
    """A StrEnum stored as its plain string value (VARCHAR, no database enum type), so
    adding a member later needs no migration of a PostgreSQL enum type."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class RankedEnum(TypeDecorator[StrEnum]):
    """A StrEnum stored as the position of its member in the class (0 for the first),
    so that an index on the column sorts in the order the members are declared.
    Used for `Priority`: `ORDER BY priority` puts high before normal before low."""

    impl = SmallInteger()
    cache_ok = True

    def __init__(self, enum_class: type[StrEnum]) -> None:
        super().__init__()
        self.enum_class = enum_class
        self._members = tuple(enum_class)
        self._ranks = {member: rank for rank, member in enumerate(self._members)}

    def process_bind_param(self, value: StrEnum | str | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return self._ranks[self.enum_class(value)]

    def process_result_value(self, value: int | None, dialect: Dialect) -> StrEnum | None:
        if value is None:
            return None
        return self._members[value]
