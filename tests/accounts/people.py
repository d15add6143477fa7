"""Users and keys made straight in a test's database, as `storyteller users add` does."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from storyteller.accounts import users
from storyteller.db.session import make_engine

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Person:
    name: str
    key: str
    key_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def add_person(database_url: str, name: str, role: str = "member", **limits: object) -> Person:
    """A user with a password (`PASSWORD`) and an API key; `limits` as `users set` takes."""
    engine = make_engine(database_url)
    try:
        with sessionmaker(engine).begin() as session:
            user = users.add_user(session, name=name, role=role, password=PASSWORD)
            if limits:
                users.set_limits(session, name=name, limits=users.Limits(**limits))  # type: ignore[arg-type]
            row, key = users.create_key(session, user=user)
            return Person(name=name, key=key, key_id=row.id)
    finally:
        engine.dispose()
