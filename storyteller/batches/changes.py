"""Who is told that videos changed, once the change has committed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class LiveChanges(Protocol):
    """The job engine (so that it claims at once) and the browsers (live updates): in
    this process, or in every process through PostgreSQL (`db.notify.Notifier`)."""

    def changed(self, video_ids: Iterable[str]) -> None:
        """These videos changed: the queue may have work, the browsers a new state."""

    def deleted(self, batch_id: str) -> None:
        """This batch is gone."""

    def wake(self) -> None:
        """The queue changed: look for work now."""
