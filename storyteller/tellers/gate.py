"""Provider request gates: at most so many requests at once, and so many started a minute,
across every process of this machine that shares the data folder.

The limits are the provider's (an account's rate limit, one GPU behind a local server), so
they must hold for the whole service, not for each process: the embedded engine runs
videos in `MAX_CONCURRENT_JOBS` separate worker processes, and a gate kept in memory would
let through that many times the setting. The gate therefore lives in files, in
`data_dir/gates/<provider>/`, which every worker of the machine sees:

- concurrency: one lock file per place (`slot-0`, `slot-1`, ...). A request takes the first
  free one with a non-blocking `flock` and holds it until it ends; when all are held it
  looks again after a short, growing sleep (a place freed in this process wakes its waiters
  at once). The kernel drops a process's `flock` locks when it dies, so a worker killed
  mid-request (a cancel, the OOM killer) frees its place with no clean-up.
- requests per minute: `starts`, the start times of the last window as packed doubles of
  the system-wide monotonic clock, read and rewritten under an `flock` held for a few
  microseconds. A request waits until the oldest start leaves the window.

Taking a free gate costs a few `flock` calls and, with a rate limit, one small read and
write: microseconds, nothing beside a model's answer. Limits are re-read on every request,
so a settings reload applies to the next one; places taken under a higher concurrency are
given back as their requests end.

The limit of this design is one machine: workers of several machines sharing a database
each have their own folder. Limits across machines are the distributed engine's to keep,
in PostgreSQL (issue 7).
"""

from __future__ import annotations

import bisect
import fcntl
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Looking again for a place freed by another process: from 1 ms, doubling up to 50 ms.
_FIRST_WAIT_S = 0.001
_LONGEST_WAIT_S = 0.05
# A request waiting for the rate window re-reads the limits at least this often.
_LONGEST_RATE_WAIT_S = 1.0
_STARTS = "starts"


class RequestGate:
    """At most `concurrency` requests at once and `per_minute` started in any `window_s`
    (sliding window; 0: no rate limit), across the threads of this process and every
    process using the same `folder`. The limits may be changed while in use.

    Without a folder the gate gets a temporary one of its own: it then holds for this
    process and the processes it forks, and the folder goes when the gate does."""

    def __init__(
        self,
        concurrency: int,
        per_minute: int = 0,
        *,
        folder: Path | None = None,
        window_s: float = 60.0,
    ) -> None:
        own = folder is None
        if folder is None:
            folder = Path(tempfile.mkdtemp(prefix="storyteller-gate-"))
        self.folder = Path(folder)
        self.window_s = window_s
        # Open files by name; the same dict for the gate's life, so the finalizer closes them.
        self._files: dict[str, int] = {}
        self._reset()
        self.configure(concurrency, per_minute)
        weakref.finalize(self, _close, self._files, self.folder if own else None, os.getpid())
        _every_gate.add(self)

    def _reset(self) -> None:
        """State of a process that holds no place and has no file open: at creation, and in
        a forked child (its parent's open files would be the parent's locks)."""
        for fd in self._files.values():
            os.close(fd)  # the parent keeps its own reference: its locks stay held
        self._files.clear()
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._rate_lock = threading.Lock()
        self._files_lock = threading.Lock()
        self._held: set[int] = set()
        self._pid = os.getpid()

    def configure(self, concurrency: int, per_minute: int) -> None:
        """Change the limits; requests inside keep their place."""
        if concurrency < 1 or per_minute < 0:
            raise ValueError("concurrency must be at least 1 and per_minute at least 0")
        with self._lock:
            self.concurrency = concurrency
            self.per_minute = per_minute
            self._freed.notify_all()

    @property
    def active(self) -> int:
        """Requests inside the gate from this process."""
        return len(self._held)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Wait for room, then hold one request's place until the block ends."""
        owner = self._pid
        index = self._take_place()
        try:
            self._take_start()
            yield
        finally:
            self._give_back(index, owner)

    # --- concurrency -----------------------------------------------------------------

    def _take_place(self) -> int:
        wait = _FIRST_WAIT_S
        with self._lock:
            while True:
                if len(self._held) < self.concurrency:
                    for index in range(self.concurrency):
                        if index not in self._held and self._try_lock(index):
                            self._held.add(index)
                            return index
                # All taken: a place freed here notifies; one freed elsewhere is looked for.
                self._freed.wait(wait)
                wait = min(wait * 2, _LONGEST_WAIT_S)

    def _try_lock(self, index: int) -> bool:
        try:
            fcntl.flock(self._fd(f"slot-{index}"), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _give_back(self, index: int, owner: int) -> None:
        with self._lock:
            if owner != self._pid:
                return  # taken before a fork: the place is the parent's to give back
            fcntl.flock(self._fd(f"slot-{index}"), fcntl.LOCK_UN)
            self._held.discard(index)
            self._freed.notify()

    # --- requests per minute -------------------------------------------------------------

    def _take_start(self) -> None:
        while self.per_minute:
            wait = self._record_start(self.per_minute, self.window_s)
            if wait <= 0:
                return
            time.sleep(min(wait, _LONGEST_RATE_WAIT_S))

    def _record_start(self, per_minute: int, window_s: float) -> float:
        """Record a start now when the window has room (0.0), or the seconds until it has."""
        # Threads share the file's lock (it belongs to the open file), hence the thread lock.
        with self._rate_lock:
            fd = self._fd(_STARTS)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                starts = array("d", os.pread(fd, size - size % 8, 0))
                # Read under the lock, the clock only grows from one start to the next, so
                # the file is in order and the window is its tail.
                now = time.monotonic()
                if starts and not starts[-1] <= now:
                    starts = array("d")  # written before a reboot, or torn: start afresh
                del starts[: bisect.bisect_right(starts, now - window_s)]
                if len(starts) >= per_minute:
                    return starts[-per_minute] + window_s - now
                starts.append(now)
                os.pwrite(fd, starts.tobytes(), 0)
                if size > 8 * len(starts):
                    os.ftruncate(fd, 8 * len(starts))
                return 0.0
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    # --- files -------------------------------------------------------------------------------

    def _fd(self, name: str) -> int:
        with self._files_lock:
            fd = self._files.get(name)
            if fd is None:
                path = self.folder / name
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                except FileNotFoundError:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                self._files[name] = fd
            return fd


def _close(files: dict[str, int], own_folder: Path | None, pid: int) -> None:
    for fd in files.values():
        os.close(fd)
    files.clear()
    if own_folder is not None and os.getpid() == pid:
        shutil.rmtree(own_folder, ignore_errors=True)


_every_gate: weakref.WeakSet[RequestGate] = weakref.WeakSet()
_gates: dict[Path, RequestGate] = {}
_gates_lock = threading.Lock()


def gate_for(provider: str, data_dir: Path, *, concurrency: int, per_minute: int) -> RequestGate:
    """The gate of a provider for every process using `data_dir` (one object per process),
    set to the latest limits asked for."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", provider):
        raise ValueError(f"a provider's gate needs a plain name, not {provider!r}")
    folder = Path(data_dir) / "gates" / provider
    with _gates_lock:
        gate = _gates.get(folder)
        if gate is None:
            gate = _gates[folder] = RequestGate(concurrency, per_minute, folder=folder)
        elif (gate.concurrency, gate.per_minute) != (concurrency, per_minute):
            gate.configure(concurrency, per_minute)
        return gate


def _after_fork() -> None:
    global _gates_lock
    _gates_lock = threading.Lock()
    for gate in list(_every_gate):
        gate._reset()


os.register_at_fork(after_in_child=_after_fork)
