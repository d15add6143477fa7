"""A process that delivers the outbox of the database at argv[1] until it is empty (or
argv[2] seconds pass): one of the processes of the draining test."""

from __future__ import annotations

import sys
import time

from storyteller.config import Settings
from storyteller.db.session import make_engine
from storyteller.notifications.delivery import Deliverer


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    engine = make_engine(url)
    deliverer = Deliverer(settings, engine)
    deliverer.start()
    deadline = time.monotonic() + seconds
    idle_since = None
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if deliverer.outbox.next_due_in() is None:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 1.0:
                break
        else:
            idle_since = None
    deliverer.stop()
    engine.dispose()


if __name__ == "__main__":
    main()
