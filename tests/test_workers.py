"""workers.py: results in order, failures reported, and workers that neither outlive tlsgen nor hold its lock.

The lock tests copy what reconcile/outdir.py does: an exclusive flock on a directory descriptor.
Each hazard is first shown with a plain forked child (the negative control), then shown absent
with the pool's workers.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tlsgen.crypto import workers

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="fork workers are used on Linux only")


def test_cpu_count_is_positive():
    assert workers.cpu_count() >= 1


@linux_only
@pytest.mark.parametrize("processes", [1, 2, 5])
def test_map_forked_keeps_the_order(processes):
    items = list(range(23))
    assert workers.map_forked(lambda i: str(i * i).encode() * (i % 4), items, processes) == \
        [str(i * i).encode() * (i % 4) for i in items]
    assert workers.map_forked(lambda i: b"", [], processes) == []


@linux_only
def test_map_forked_works_in_other_processes():
    pids = workers.map_forked(lambda _: str(os.getpid()).encode(), range(8), 2)
    assert str(os.getpid()).encode() not in pids
    assert 1 <= len(set(pids)) <= 2


@linux_only
def test_map_in_background_leaves_this_process_free_and_keeps_the_order():
    """The children start at once and the `with` body runs while they work; map_forked (the control)
    returns only once the work is done."""
    def slow(i):
        time.sleep(0.3)
        return b"%d:%d" % (i, os.getpid())

    start = time.monotonic()
    with workers.map_in_background(slow, range(6), 2) as results:
        free_after = time.monotonic() - start
        answers = results()
    assert free_after < 0.2 and time.monotonic() - start >= 0.9  # 3 items of 0.3 s per child
    assert [a.split(b":")[0] for a in answers] == [b"%d" % i for i in range(6)]
    assert len({a.split(b":")[1] for a in answers}) == 2 and str(os.getpid()).encode() not in b" ".join(answers)
    start = time.monotonic()
    workers.map_forked(slow, range(6), 2)
    assert time.monotonic() - start >= 0.6


@linux_only
def test_map_in_background_reports_a_failed_child_and_stops_the_others_on_leaving():
    def fails(i):
        if i == 0:
            raise ValueError("no store")
        time.sleep(60)
        return b""

    with pytest.raises(workers.WorkerError, match="no store"):
        with workers.map_in_background(fails, range(4), 2) as results:
            children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
            assert len(children) == 2
            results()
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # the sleeping one killed and reaped


@linux_only
def test_a_worker_collects_no_cyclic_garbage():
    """A collection in a worker would walk, and so copy page by page, every object of the parent."""
    import gc

    assert gc.isenabled()  # the control: this process collects
    assert workers.map_forked(lambda _: str(gc.isenabled()).encode(), range(4), 2) == [b"False"] * 4
    assert gc.isenabled()


@linux_only
def test_a_failing_task_is_a_worker_error():
    def fails(i):
        if i == 3:
            raise ValueError("no leaf certificate")
        return b"ok"

    with pytest.raises(workers.WorkerError, match="no leaf certificate"):
        workers.map_forked(fails, range(6), 2)


@linux_only
def test_in_background_runs_beside_the_parent_and_returns_its_bytes(tmp_path):
    """The child starts at once: the parent sees its mark before asking for its answer. The control
    is a stand-in that only runs the function when asked, whose mark never comes first."""
    marker = tmp_path / "started"

    def child() -> bytes:
        marker.write_text("started")
        return str(os.getpid()).encode() * 50_000  # more than a pipe holds: read while it writes

    def marked_within(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not marker.exists():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    with workers.in_background(child) as result:
        assert marked_within(30)
        answer = result()
    assert answer != str(os.getpid()).encode() * 50_000 and len(answer) >= 50_000

    marker.unlink()
    when_asked = child  # the control: nothing runs until the answer is asked for
    assert not marked_within(0.5)
    when_asked()
    assert marked_within(0)


@linux_only
def test_in_background_failures_are_worker_errors_and_an_unread_child_is_stopped():
    def fails() -> bytes:
        raise ValueError("no store")

    with workers.in_background(fails) as result:
        with pytest.raises(workers.WorkerError, match="no store"):
            result()
    with workers.in_background(lambda: (time.sleep(60), b"")[1]) as result:
        pid_file = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
        children = pid_file.read_text().split()
        assert len(children) == 1
    assert not Path(f"/proc/{children[0]}").exists()  # killed and reaped on leaving the block, not left running


def test_fork_is_not_used_while_another_thread_runs():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not workers.can_fork()
        with pytest.raises(workers.WorkerError):
            workers.map_forked(lambda i: b"", [1], 1)
        with pytest.raises(workers.WorkerError):
            with workers.in_background(lambda: b""):
                pass
    finally:
        stop.set()
        thread.join()
    assert workers.can_fork() == (sys.platform == "linux")


# --- what a worker holds ----------------------------------------------------------------------

def _open_fds() -> bytes:
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return "\n".join(names).encode()


@linux_only
def test_a_worker_holds_none_of_the_parents_descriptors(tmp_path):
    locked = tmp_path / ".tlsgen"
    locked.mkdir()
    fd = os.open(locked, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # The negative control: a plain forked child holds the lock's descriptor.
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write, _open_fds())
            os._exit(0)
        os.close(write)
        seen = os.read(read, 1 << 16).decode()
        os.close(read)
        os.waitpid(pid, 0)
        assert str(locked) in seen.splitlines()

        (in_worker,) = workers.map_forked(lambda _: _open_fds(), [0], 1)
        held = in_worker.decode().splitlines()
        assert str(locked) not in held
        assert len([n for n in held if n.startswith("pipe:")]) >= 2  # its task and result pipes
    finally:
        os.close(fd)


_PARENT = r"""
import fcntl, os, sys, time
from tlsgen.crypto import workers
lock, marks, mode = sys.argv[1:4]
fd = os.open(lock, os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)

def slow(_):
    open(os.path.join(marks, str(os.getpid())), "w").close()
    time.sleep(60)
    return b""

if mode == "pool":
    workers.map_forked(slow, [0, 1], 2)
else:  # the negative control: a plain forked child
    if os.fork() == 0:
        slow(0)
        os._exit(0)
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie holds no descriptor


def _lock_is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        assert exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
        return False
    finally:
        os.close(fd)


def _killed_parent(tmp_path: Path, mode: str) -> tuple[Path, list[int]]:
    """Start a parent that holds the lock and has workers (or a plain child) busy; SIGKILL it."""
    lock, marks = tmp_path / "lock", tmp_path / "marks"
    lock.mkdir()
    marks.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(lock), str(marks), mode], env=ENV)
    expected = 2 if mode == "pool" else 1
    deadline = time.monotonic() + 30
    while len(list(marks.iterdir())) < expected:
        assert time.monotonic() < deadline and parent.poll() is None, "the workers never started"
        time.sleep(0.02)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    return lock, [int(p.name) for p in marks.iterdir()]


@linux_only
def test_a_killed_apply_leaves_no_worker_and_no_lock(tmp_path):
    lock, pids = _killed_parent(tmp_path, "pool")
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(_alive(pid) for pid in pids), "a worker outlived its parent"
    assert _lock_is_free(lock)


@linux_only
def test_negative_control_a_plain_forked_child_keeps_the_lock(tmp_path):
    lock, (orphan,) = _killed_parent(tmp_path, "plain")
    try:
        time.sleep(0.3)
        assert _alive(orphan)
        assert not _lock_is_free(lock)  # the next apply would wait for it
    finally:
        os.kill(orphan, signal.SIGKILL)  # our own test's orphan
