"""`GET /metrics` in-process on SQLite and PostgreSQL, parsed with prometheus-client's own
parser: for a seeded mix of states every figure matches the database."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from storyteller.db.session import make_engine
from tests.admin.seed import seed
from tests.api.conftest import MakeClient

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def test_the_metrics_count_what_the_database_holds(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client()
    db = make_engine(database_url)
    try:
        seeded = seed(db, videos=150, per_batch=25)
    finally:
        db.dispose()
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(answer.text)}

    by_state: dict[str, float] = {}
    waiting: dict[str, float] = {}
    for sample in families["storyteller_videos"].samples:
        state, priority = sample.labels["state"], sample.labels["priority"]
        by_state[state] = by_state.get(state, 0) + sample.value
        if state == "pending" and sample.value:
            waiting[priority] = sample.value
    assert {k: v for k, v in by_state.items() if v} == seeded.by_status
    assert waiting == seeded.waiting_by_priority

    failed = {s.labels["code"]: s.value for s in families["storyteller_failed_videos"].samples}
    assert failed == seeded.failed_by_code

    tokens: dict[str, float] = {}
    for sample in families["storyteller_tokens"].samples:
        tokens[sample.labels["model"]] = tokens.get(sample.labels["model"], 0) + sample.value
    assert tokens == seeded.tokens_by_model

    uploaded = families["storyteller_upload_bytes"].samples[0]
    assert uploaded.name == "storyteller_upload_bytes_total"
    assert uploaded.value == seeded.upload_bytes

    stages = families["storyteller_stage_seconds"].samples
    counts = {s.labels["stage"]: s.value for s in stages if s.name.endswith("_count")}
    assert set(counts) == {"probe", "scenes", "speech"}
    infinite = {
        s.labels["stage"]: s.value
        for s in stages
        if s.name.endswith("_bucket") and s.labels["le"] == "+Inf"
    }
    assert infinite == counts
    assert families["storyteller_paused"].samples[0].value == 0.0
