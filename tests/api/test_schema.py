"""Requests made from the OpenAPI schema itself (Schemathesis), against a real server:
no answer is a 5xx, every answer's status is one the schema declares, and every body
matches the schema of its status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from storyteller.app import create_app
from storyteller.config import Settings
from storyteller.db.migrate import migrate
from storyteller.db.session import default_database_url
from tests.accounts.people import add_person
from tests.service.server import served_in_thread

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Examples per operation: under a minute for the whole schema on this machine.
EXAMPLES = 100

# tus PATCH bodies are bytes, as any binary body.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, str]]:
    """A fresh data folder with an admin and their API key: every request is made with it,
    as a script would be (the generated requests may add users, which ends the open mode)."""
    data: Path = tmp_path_factory.mktemp("schema") / "data"
    chosen = Settings(_env_file=None, data_dir=data)  # type: ignore[call-arg]
    url = default_database_url(chosen)
    migrate(url)
    return chosen, add_person(url, "schema-admin-7f3a", role="admin").auth


@pytest.fixture(scope="module")
def server(admin_key: tuple[Settings, dict[str, str]]) -> Iterator[str]:
    app = create_app(admin_key[0], start_engine=False)
    with served_in_thread(app) as address:
        yield address


@pytest.fixture(scope="module")
def auth(admin_key: tuple[Settings, dict[str, str]]) -> dict[str, str]:
    return admin_key[1]


# The schema as the app serves it at /openapi.json (making the app starts nothing). The
# live stream never ends: its answers are checked by hand below.
OPENAPI = create_app(
    Settings(_env_file=None, data_dir=Path("unused")), start_engine=False
).openapi()  # type: ignore[call-arg]
schema = schemathesis.openapi.from_dict(OPENAPI).exclude(path="/api/events")


@pytest.mark.timeout(300)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_answer_is_declared_and_matches_the_schema(
    case: schemathesis.Case, server: str, auth: dict[str, str]
) -> None:
    case.call_and_validate(base_url=server, checks=CHECKS, headers=auth)


def test_the_live_stream_s_answers_are_declared(server: str, auth: dict[str, str]) -> None:
    declared = OPENAPI["paths"]["/api/events"]["get"]["responses"]
    unknown = httpx.get(f"{server}/api/events", params={"job": "no-such-job"}, headers=auth)
    assert unknown.status_code == 404 and str(unknown.status_code) in declared
    assert set(unknown.json()) == {"error"}
    with httpx.stream("GET", f"{server}/api/events", headers=auth) as stream:
        assert stream.status_code == 200 and "200" in declared
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "text/event-stream" in declared["200"]["content"]


def test_what_the_first_run_found_is_answered_as_declared(
    server: str, auth: dict[str, str]
) -> None:
    # An offset past SQLite's integers was a 500 (OverflowError): now a bound of the schema.
    huge = httpx.get(f"{server}/api/jobs", params={"offset": 2**63}, headers=auth)
    assert huge.status_code == 422 and "offset" in huge.json()["error"]
    jobs = OPENAPI["paths"]["/api/jobs"]["get"]["parameters"]
    assert next(p for p in jobs if p["name"] == "offset")["schema"]["maximum"] == 1_000_000_000
    # Bad JSON is one answer, whichever way it is bad.
    for body in (b'{"uploads": [', b"\xff\xfe{}"):
        bad = httpx.post(
            f"{server}/api/uploads/batch",
            content=body,
            headers={"Content-Type": "application/json", **auth},
        )
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"].startswith("the body is not valid JSON: ")
    # A priority is one of three, in the schema as at the server.
    fields = OPENAPI["components"]["schemas"]["TusBatch"]["properties"]
    assert fields["priority"]["enum"] == ["high", "normal", "low", None]
    refused = httpx.post(
        f"{server}/api/uploads/batch", json={"uploads": ["x"], "priority": "r"}, headers=auth
    )
    assert refused.status_code == 422 and "priority" in refused.json()["error"]
    # tus operations declare the header they need.
    create = OPENAPI["paths"]["/api/uploads/"]["post"]["parameters"]
    assert {"name": "Tus-Resumable", "required": True} in [
        {"name": p["name"], "required": p["required"]} for p in create
    ]
