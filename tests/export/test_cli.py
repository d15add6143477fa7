"""`storyteller export` against a running server (uvicorn on a loopback port), and straight
from the data folder with --local."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import docx
import pypdf
import pytest
from typer.testing import CliRunner

from storyteller.app import create_app
from storyteller.cli import app
from storyteller.config import Settings
from tests.export.conftest import BATCH, SNOW, StoredBatch, squeeze, store_batch
from tests.service.server import free_port, served_in_thread

pytestmark = pytest.mark.timeout(120)

runner = CliRunner()


@pytest.fixture
def stored(settings: Settings, database_url: str) -> StoredBatch:
    from storyteller.db.migrate import migrate

    migrate(database_url)
    return store_batch(database_url, settings, BATCH)


@pytest.fixture
def server(settings: Settings, database_url: str, stored: StoredBatch) -> Iterator[str]:
    service = create_app(
        settings.model_copy(update={"database_url": database_url}), start_engine=False
    )
    with served_in_thread(service) as address:
        yield address


def test_export_writes_the_file_the_service_made(
    server: str, stored: StoredBatch, tmp_path: Path
) -> None:
    target = tmp_path / "batch.pdf"
    result = runner.invoke(
        app, ["export", stored.id, "--format", "pdf", "-o", str(target), "--server", server]
    )
    assert result.exit_code == 0, result.output
    text = squeeze("".join(p.extract_text() for p in pypdf.PdfReader(target).pages))
    assert squeeze(SNOW.title) in text and squeeze(BATCH[3].stories[-1].title) in text


def test_export_names_the_file_as_the_service_suggests(
    server: str, stored: StoredBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    video = stored.video_ids[1]  # Новости.mp4
    result = runner.invoke(app, ["export", video, "--video", "-f", "docx", "--server", server])
    assert result.exit_code == 0, result.output
    document = docx.Document(str(tmp_path / "Новости.docx"))
    assert f'"{BATCH[1].stories[-1].title}"' in [p.text for p in document.paragraphs]


def test_export_says_what_is_wrong(server: str, stored: StoredBatch, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", stored.id, "-f", "rtf", "--server", server])
    assert result.exit_code == 1 and "unknown format 'rtf'" in result.output
    result = runner.invoke(app, ["export", "no-such-job", "-f", "pdf", "--server", server])
    assert result.exit_code == 1 and "no job with that id (404)" in result.output
    result = runner.invoke(
        app, ["export", stored.id, "--server", f"http://127.0.0.1:{free_port()}"]
    )
    assert result.exit_code == 2 and "cannot reach the server" in result.output


def test_export_reads_the_data_folder_with_local(
    stored: StoredBatch, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    env = {"STORYTELLER_DATA_DIR": str(settings.data_dir), "STORYTELLER_DATABASE_URL": database_url}
    target = tmp_path / "stories.csv"
    result = runner.invoke(
        app, ["export", stored.id, "--local", "-f", "csv", "-o", str(target)], env=env
    )
    assert result.exit_code == 0, result.output
    assert SNOW.title in target.read_text(encoding="utf-8-sig")
    result = runner.invoke(app, ["export", stored.id, "--local", "-f", "md", "-o", "-"], env=env)
    assert result.exit_code == 0 and "Road Closed, on Camera" in result.stdout
    result = runner.invoke(app, ["export", "no-such-job", "--local"], env=env)
    assert result.exit_code == 1 and "no job with that id" in result.output
    pdf = runner.invoke(
        app,
        ["export", stored.id, "--local", "-f", "pdf", "--appendix", "-o", str(tmp_path / "a.pdf")],
        env=env,
    )
    assert pdf.exit_code == 0, pdf.output
    reader = pypdf.PdfReader(io.BytesIO((tmp_path / "a.pdf").read_bytes()))
    assert "What the stories stand on" in "".join(p.extract_text() for p in reader.pages)
