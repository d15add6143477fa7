"""Provider request gates: concurrency and requests per minute, across threads and processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import pytest

from storyteller.tellers.gate import RequestGate, gate_for

# Real processes, started by fork as a worker forked from the service would be.
FORK = multiprocessing.get_context("fork")


# --- threads of one process -------------------------------------------------------------


def run_in_threads(gate: RequestGate, count: int, hold_s: float) -> tuple[int, list[float]]:
    """Start `count` requests at once through the gate; the most seen at once, start times."""
    lock = threading.Lock()
    state = {"now": 0, "most": 0}
    starts: list[float] = []

    def request() -> None:
        with gate.slot():
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
                starts.append(time.monotonic())
            time.sleep(hold_s)
            with lock:
                state["now"] -= 1

    threads = [threading.Thread(target=request) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return state["most"], sorted(starts)


def test_the_gate_holds_concurrency_to_its_limit(tmp_path: Path) -> None:
    most, starts = run_in_threads(RequestGate(3, folder=tmp_path), count=9, hold_s=0.05)
    assert most == 3
    assert len(starts) == 9


def test_the_gate_spreads_requests_over_the_window(tmp_path: Path) -> None:
    gate = RequestGate(10, per_minute=3, window_s=0.3, folder=tmp_path)
    began = time.monotonic()
    _, starts = run_in_threads(gate, count=7, hold_s=0.0)
    # Three start at once, three more a window later, the seventh two windows later.
    assert starts[2] - began < 0.15
    assert starts[3] - began >= 0.29
    assert starts[6] - began >= 0.59


def test_no_rate_limit_at_zero_per_minute(tmp_path: Path) -> None:
    gate = RequestGate(1, per_minute=0, window_s=60, folder=tmp_path)
    began = time.monotonic()
    for _ in range(100):
        with gate.slot():
            pass
    assert time.monotonic() - began < 0.5
    assert not (tmp_path / "starts").exists()


def test_new_limits_apply_to_the_next_request(tmp_path: Path) -> None:
    gate = RequestGate(1, per_minute=0, window_s=0.2, folder=tmp_path)
    most, _ = run_in_threads(gate, count=4, hold_s=0.05)
    assert most == 1
    gate.configure(3, per_minute=2)
    began = time.monotonic()
    most, starts = run_in_threads(gate, count=3, hold_s=0.05)
    assert most == 2  # the third waits for the window, not for a place
    assert starts[1] - began < 0.15
    assert starts[2] - began >= 0.19


def test_two_gates_on_one_folder_share_the_limit(tmp_path: Path) -> None:
    # As two processes would: each object has its own files open.
    first, second = RequestGate(1, folder=tmp_path), RequestGate(1, folder=tmp_path)
    entered = threading.Event()

    def enter_second() -> None:
        with second.slot():
            entered.set()

    with first.slot():
        thread = threading.Thread(target=enter_second)
        thread.start()
        assert not entered.wait(0.1)
    assert entered.wait(1)
    thread.join(1)


def test_one_gate_per_provider_and_data_folder_takes_the_latest_limits(tmp_path: Path) -> None:
    first = gate_for("test-provider", tmp_path, concurrency=2, per_minute=10)
    again = gate_for("test-provider", tmp_path, concurrency=5, per_minute=0)
    assert again is first
    assert (first.concurrency, first.per_minute) == (5, 0)
    assert first.folder == tmp_path / "gates" / "test-provider"
    assert gate_for("other-provider", tmp_path, concurrency=1, per_minute=1) is not first
    assert gate_for("test-provider", tmp_path / "b", concurrency=1, per_minute=1) is not first
    with pytest.raises(ValueError, match="plain name"):
        gate_for("../up", tmp_path, concurrency=1, per_minute=1)


# --- processes ---------------------------------------------------------------------------


def hammer(
    gate: RequestGate, inside: Synchronized[int], most: Synchronized[int], times: int
) -> None:
    """Go through the gate `times` times, counting who is inside at once."""
    for _ in range(times):
        with gate.slot():
            with inside.get_lock():
                inside.value += 1
                most.value = max(most.value, inside.value)
            time.sleep(0.01)
            with inside.get_lock():
                inside.value -= 1


def start(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    process = FORK.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def test_processes_stay_within_the_concurrency_limit(tmp_path: Path) -> None:
    gate = RequestGate(2, folder=tmp_path)
    inside, most = FORK.Value("i", 0), FORK.Value("i", 0)
    # The parent's files are open when it forks: each child must open its own, as a lock
    # belongs to the open file and would otherwise be shared with the parent.
    hammer(gate, inside, most, 1)
    processes = [start(hammer, gate, inside, most, 10) for _ in range(3)]
    hammer(gate, inside, most, 10)
    for process in processes:
        process.join(10)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert most.value == 2


def test_a_process_forked_inside_the_gate_does_not_get_its_parents_place(tmp_path: Path) -> None:
    gate = RequestGate(2, folder=tmp_path)
    inside, most = FORK.Value("i", 1), FORK.Value("i", 1)
    with gate.slot():  # counted as the 1 already inside
        child = start(hammer, gate, inside, most, 5)
        child.join(10)
    assert child.exitcode == 0
    assert most.value == 2


def record_starts(gate: RequestGate, starts: Any, times: int) -> None:
    for _ in range(times):
        with gate.slot(), starts.get_lock():
            starts[int(starts[0]) + 1] = time.monotonic()
            starts[0] += 1


def test_processes_share_the_requests_per_minute(tmp_path: Path) -> None:
    window_s = 0.2
    gate = RequestGate(10, per_minute=3, window_s=window_s, folder=tmp_path)
    starts = FORK.Array("d", 1 + 9)  # a count, then the start times
    processes = [start(record_starts, gate, starts, 3) for _ in range(3)]
    for process in processes:
        process.join(10)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    times = sorted(starts[1:])
    assert starts[0] == 9
    # Never four starts in one window (the monotonic clock is the machine's, not a process's);
    # times are taken just after the gate's own, hence a little slack for a busy machine.
    assert min(times[i + 3] - times[i] for i in range(len(times) - 3)) >= window_s - 0.03
    assert times[-1] - times[0] >= 2 * window_s - 0.03


def sit_inside(gate: RequestGate, ready: Any) -> None:
    with gate.slot():
        ready.set()
        time.sleep(60)


def test_a_process_killed_inside_the_gate_frees_its_place(tmp_path: Path) -> None:
    gate = RequestGate(1, folder=tmp_path)
    ready = FORK.Event()
    child = start(sit_inside, gate, ready)
    assert ready.wait(5)
    entered = threading.Event()

    def enter() -> None:
        with gate.slot():
            entered.set()

    thread = threading.Thread(target=enter, daemon=True)
    thread.start()
    assert not entered.wait(0.1)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(5)
    assert child.exitcode == -signal.SIGKILL
    assert entered.wait(5)
    thread.join(1)
