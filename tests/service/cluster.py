"""Web processes and `storyteller worker`s on one PostgreSQL database, each in its own
process group as if on its own machine: started, SIGKILLed and started again by the chaos
test and by bench/workers.py. Every process logs to `<root>/logs/`; the logs stay there,
and a failure inside `with Cluster(...)` prints their tails."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from storyteller.config import Settings
from storyteller.jobs.attempt import Attempt, Result
from storyteller.jobs.work import JobProgress
from tests.databases import DEFAULT_POSTGRES_URL
from tests.jobs.scripted import scripted
from tests.service.server import free_port

# The scripted job, also touching `pulse/<video id>` in the data folder each time it
# reports progress: a cancelled video's pulse must stop when its worker stops running it.
PULSING = "tests.service.cluster:pulsing"


def pulsing(job: Attempt, settings: Settings, progress: JobProgress) -> Result:
    pulse = settings.data_dir / "pulse" / job.video_id
    pulse.parent.mkdir(parents=True, exist_ok=True)
    pulse.touch()

    def beat(stage: str, fraction: float) -> None:
        pulse.touch()
        progress(stage, fraction)

    return scripted(job, settings, beat)


@contextmanager
def fresh_database(prefix: str = "storyteller_cluster") -> Iterator[str]:
    """A new, empty PostgreSQL database (on STORYTELLER_TEST_POSTGRES_URL's server, default
    the local one), dropped afterwards; its URL. Its own database, not a schema, because
    NOTIFY channels are shared by every schema of a database."""
    server = make_url(os.environ.get("STORYTELLER_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    admin = create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class ClusterProcess:
    """One web process or worker: its command, its own data folder and its log."""

    name: str
    command: list[str]
    data_dir: Path
    log: Path
    health_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    orphans: list[int] = field(default_factory=list)  # process groups that outlived a kill

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def group_alive(self) -> bool:
        """Whether any process of its group (the worker's children) is still there."""
        if self.process is None:
            return False
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True


class Cluster:
    """Web processes and workers sharing one database and one storage folder.

    Each process has its own data folder (its caches, as on its own machine); uploaded
    videos go to `<root>/storage`, which every process reaches both as
    STORYTELLER_STORAGE_DIR and as the `uploads` folder of its data folder (a link, as a
    shared mount would be)."""

    def __init__(self, root: Path, database_url: str, **env: str) -> None:
        self.root = root
        self.logs = root / "logs"
        self.storage = root / "storage"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "STORYTELLER_DATABASE_URL": database_url,
            "STORYTELLER_JOB_ENGINE": "workers",
            "STORYTELLER_STORAGE_DIR": str(self.storage),
            **env,
        }
        self.webs: list[ClusterProcess] = []
        self.workers: list[ClusterProcess] = []

    # --- members ----------------------------------------------------------------

    def _member(self, name: str, command: list[str], health_url: str) -> ClusterProcess:
        data_dir = self.root / name
        data_dir.mkdir(parents=True, exist_ok=True)
        uploads = data_dir / "uploads"
        if not uploads.exists():
            uploads.symlink_to(self.storage, target_is_directory=True)
        return ClusterProcess(
            name=name,
            command=command,
            data_dir=data_dir,
            log=self.logs / f"{name}.log",
            health_url=health_url,
            env={**self.env, "STORYTELLER_DATA_DIR": str(data_dir)},
        )

    def add_web(self) -> ClusterProcess:
        """A `storyteller serve` (not started)."""
        port = free_port()
        web = self._member(
            f"web-{len(self.webs) + 1}",
            [sys.executable, "-m", "storyteller", "serve", "--port", str(port)],
            f"http://127.0.0.1:{port}/health",
        )
        self.webs.append(web)
        return web

    def add_worker(
        self, *, job: str, concurrency: int = 1, host: str | None = None
    ) -> ClusterProcess:
        """A `storyteller worker` running `job` (not started). With `host`, it runs under
        that host name (its own UTS namespace: `unshare -u`, as root), so that the others
        take it for a worker of another machine."""
        port = free_port()
        command = [sys.executable, "-m", "storyteller", "worker", "--concurrency", str(concurrency)]
        if host is not None:
            rename = f'hostname {shlex.quote(host)} && exec "$@"'
            command = ["unshare", "--uts", "sh", "-c", rename, "sh", *command]
        worker = self._member(
            f"worker-{len(self.workers) + 1}",
            [*command, "--health-port", str(port), "--job", job],
            f"http://127.0.0.1:{port}/health",
        )
        self.workers.append(worker)
        return worker

    def url(self, web: ClusterProcess) -> str:
        return web.health_url.removesuffix("/health")

    # --- life and death ---------------------------------------------------------

    def start(self, member: ClusterProcess, *, wait: bool = True, timeout: float = 60) -> None:
        """Start it in its own process group; with `wait`, until its health check answers."""
        with member.log.open("ab") as log:
            log.write(f"\n--- start {member.starts + 1}: {' '.join(member.command)}\n".encode())
            log.flush()
            member.process = subprocess.Popen(
                member.command,
                env=member.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        member.starts += 1
        if wait:
            self.wait_healthy(member, timeout=timeout)

    def wait_healthy(self, member: ClusterProcess, *, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not member.running():
                break
            try:
                if httpx.get(member.health_url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{member.name} did not become healthy:\n{self.tail(member)}")

    def health(self, member: ClusterProcess) -> dict[str, Any]:
        """Its health answer (a worker's lists the videos it runs); {} when it does not answer."""
        try:
            answer: dict[str, Any] = httpx.get(member.health_url, timeout=1).json()
        except (httpx.TransportError, ValueError):
            return {}
        return answer

    def start_all(self) -> None:
        """The first web process alone (it migrates the database), then every other
        process at once, waiting for all of them to answer their health checks."""
        members = [*self.webs, *self.workers]
        if not members:
            return
        self.start(members[0])
        for member in members[1:]:
            self.start(member, wait=False)
        for member in members[1:]:
            self.wait_healthy(member)

    def kill(self, member: ClusterProcess, *, orphan_wait_s: float = 5.0) -> None:
        """SIGKILL the process itself, as the OOM killer would; its children (job
        processes) must then go by themselves. Those still there after `orphan_wait_s`
        are recorded in `member.orphans` and killed."""
        assert member.process is not None
        member.process.send_signal(signal.SIGKILL)
        member.process.wait(timeout=10)
        deadline = time.monotonic() + orphan_wait_s
        while member.group_alive():
            if time.monotonic() > deadline:
                member.orphans.append(member.pid)
                _killpg(member.pid)
                break
            time.sleep(0.05)

    def restart(self, member: ClusterProcess, *, wait: bool = True) -> None:
        if member.running():
            self.kill(member)
        self.start(member, wait=wait)

    def terminate(self, member: ClusterProcess, timeout: float = 30) -> int:
        """SIGTERM, as a service manager stops it; its exit status."""
        assert member.process is not None
        member.process.send_signal(signal.SIGTERM)
        return member.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Kill whatever is left of every process group."""
        for member in [*self.webs, *self.workers]:
            if member.process is not None:
                _killpg(member.pid)
                with suppress(subprocess.TimeoutExpired):
                    member.process.wait(timeout=10)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
        if error is not None:
            print(f"\n=== cluster logs (kept in {self.logs}) ===\n{self.tails()}", file=sys.stderr)

    # --- what happened ----------------------------------------------------------

    def runs(self) -> Counter[str]:
        """Runs of the scripted job per video id, over every worker's `runs.log`."""
        counts: Counter[str] = Counter()
        for worker in self.workers:
            log = worker.data_dir / "runs.log"
            if log.exists():
                counts.update(log.read_text().split())
        return counts

    def pulse(self, video_id: str) -> float | None:
        """When the pulsing job last reported progress on the video (time.time()), on
        whichever worker ran it."""
        times = [
            (w.data_dir / "pulse" / video_id).stat().st_mtime
            for w in self.workers
            if (w.data_dir / "pulse" / video_id).exists()
        ]
        return max(times) if times else None

    def tail(self, member: ClusterProcess, chars: int = 3000) -> str:
        return member.log.read_text(errors="replace")[-chars:] if member.log.exists() else ""

    def tails(self, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {m.name} ---\n{self.tail(m, chars)}" for m in [*self.webs, *self.workers]
        )


def _killpg(pgid: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
