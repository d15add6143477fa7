"""The web process names a file's type without PyAV: importing the app and taking an
upload load no decoder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.media import Clip

pytestmark = pytest.mark.timeout(120)

SCRIPT = """
import sys, anyio, httpx
from storyteller.app import create_app
from storyteller.config import Settings

async def main():
    app = create_app(Settings(_env_file=None, data_dir=sys.argv[1]), start_engine=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://localhost") as client:
            with open(sys.argv[2], "rb") as video:
                answer = await client.post("/api/upload", files={"videos": ("a.mp4", video)})
            assert answer.status_code == 200, answer.text
            assert (await client.get(f"/api/job/{answer.json()['jobId']}")).status_code == 200
            refused = await client.post("/api/upload", files={"videos": ("b.mp4", b"%PDF-1.7")})
            assert refused.status_code == 415, refused.text
    loaded = sorted({"av", "cv2"} & set(sys.modules))
    assert not loaded, f"the web process loaded {loaded}"

anyio.run(main)
"""


def test_an_upload_loads_no_decoder(tmp_path: Path, speech_clip: Clip) -> None:
    ran = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data"), str(speech_clip.path)],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
