"""The first page of a batch's PDF as a picture (Debian's poppler-utils `pdftoppm`): what
docs/screenshots/export-pdf.png shows, made again by `make screenshots`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.export.test_api import Exported, _get

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

SCREENSHOTS = os.environ.get("STORYTELLER_SCREENSHOTS")


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="needs poppler-utils (pdftoppm)")
async def test_the_first_page_prints_a_masthead_contents_and_the_lead_story(
    exported: Exported, tmp_path: Path, database_url: str
) -> None:
    client, batch = exported
    answer = await _get(client, f"/api/job/{batch.id}/export", format="pdf")
    (tmp_path / "batch.pdf").write_bytes(answer.content)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
         str(tmp_path / "batch.pdf"), str(tmp_path / "page")],
        check=True,
    )  # fmt: skip
    picture = Image.open(tmp_path / "page.png").convert("RGB")
    assert picture.size == (662, 936)  # A4 at 80 dpi
    pixels = np.asarray(picture)
    # The keyframe's red sign is on the first page (the lead story's picture)...
    red = (pixels[:, :, 0] > 150) & (pixels[:, :, 1] < 80) & (pixels[:, :, 2] < 80)
    assert red.sum() > 1000
    # ...and ink (text, rules) over the upper page, which is no blank sheet.
    dark = (pixels.sum(axis=2) < 200).reshape(picture.size[1], -1).any(axis=1)
    assert dark[: picture.size[1] // 2].sum() > 100
    if SCREENSHOTS and database_url.startswith("sqlite"):
        shutil.copy(tmp_path / "page.png", Path(SCREENSHOTS) / "export-pdf.png")
