"""Forked worker processes for the CPU-bound work that threads cannot spread: a large apply's
signatures (map_forked), its stores while it writes the other files (map_in_background), and
verify's consumer checks beside its drift check (in_background).

Why processes: cryptography (50.0) holds the GIL while it serialises a PKCS12 store, and most of
building and signing a certificate is Python, so two threads build stores or sign leaves no
faster than one (1.0-1.1×, bench/crypto.py). (RSA key generation is different: cryptography 47+
releases the GIL there, and pki.generate_keys uses threads.)

Why fork, and only with a single thread (on Linux): a forked child already holds the parent's
keys and certificates, so a task is a run of indices and only the finished bytes cross a pipe;
starting one costs ~1 ms, where a `spawn` worker of `ProcessPoolExecutor` re-imports the parent's
`__main__` (all of tlsgen, ~0.4 s) before its first task. With other threads (watch mode), fork
could copy a lock another thread holds, so `can_fork()` is false and callers work in-process.

A worker must neither outlive tlsgen nor hold its files: the out/ lock is a flock on a directory
descriptor, and a forked child that kept that descriptor would keep the lock after a killed apply,
so the next apply would wait forever. So a worker closes every inherited descriptor but its own two
pipe ends at once (O_CLOEXEC is no help: there is no exec), asks the kernel for SIGKILL when its
parent dies (PR_SET_PDEATHSIG), and ends anyway when its task pipe reaches end-of-file.

Protocol, length-prefixed both ways: the parent writes a task (4-byte length, payload), one at a
time per worker so that a slow task does not hold up others queued behind it; the worker answers
(1-byte status, 4-byte length, payload), status 1 carrying the repr of an exception.
"""

from __future__ import annotations

import gc
import os
import selectors
import signal
import struct
import sys
import threading
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")
_TASK = struct.Struct(">I")
_RUN = struct.Struct(">II")  # a run of item indices: start, stop
_RESULT = struct.Struct(">BI")


class WorkerError(RuntimeError):
    """A worker failed or ended early; the caller does the work itself instead."""


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Fork is safe here: Linux (for PR_SET_PDEATHSIG) and no other Python thread that could hold a lock."""
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


def map_forked(fn: Callable[[T], bytes], items: Sequence[T], processes: int) -> list[bytes]:
    """[fn(item) for item in items], computed by `processes` forked children; WorkerError on failure.

    Only for `can_fork()`. The children see `items` and `fn` as they were at the fork; each result
    must be bytes. Items go out in runs of consecutive indices, ~4 runs per worker: one round trip
    per item would cost more than a 0.5 ms store or signature, and 4 runs still even out the load.
    """
    if not can_fork():
        raise WorkerError("fork is not safe in this process (not Linux, or several threads)")
    if not items:
        return []
    size = max(1, -(-len(items) // (4 * max(1, processes))))
    runs = [(start, min(start + size, len(items))) for start in range(0, len(items), size)]

    def run(payload: bytes) -> bytes:
        start, stop = _RUN.unpack(payload)
        return _pack(fn(items[i]) for i in range(start, stop))

    return [r for answer in _run(lambda: _fork(run), [_RUN.pack(*r) for r in runs], processes) for r in _unpack(answer)]


@contextmanager
def map_in_background(fn: Callable[[T], bytes], items: Sequence[T],
                      processes: int) -> Iterator[Callable[[], list[bytes]]]:
    """map_forked started at once, while this process goes on: each of `processes` children is given
    an equal run of the items (in_background), and the value of the `with` waits for all the results,
    in order (WorkerError as in_background). Runs fixed in advance cannot even out an uneven load as
    map_forked does; what they buy is this process free for other work meanwhile."""
    size = max(1, -(-len(items) // max(1, processes)))
    runs = [range(start, min(start + size, len(items))) for start in range(0, len(items), size)]
    with ExitStack() as stack:
        answers = [stack.enter_context(in_background(lambda run=run: _pack(fn(items[i]) for i in run)))
                   for run in runs]
        yield lambda: [r for answer in answers for r in _unpack(answer())]


def _pack(results: Iterable[bytes]) -> bytes:
    return b"".join(_TASK.pack(len(r)) + r for r in results)


def _unpack(answer: bytes) -> Iterator[bytes]:
    at = 0
    while at < len(answer):
        (length,) = _TASK.unpack_from(answer, at)
        yield answer[at + _TASK.size:at + _TASK.size + length]
        at += _TASK.size + length


@contextmanager
def in_background(fn: Callable[[], bytes]) -> Iterator[Callable[[], bytes]]:
    """fn() started at once in a forked child, while this process goes on; the value of the `with`
    is a function that waits for fn's bytes (WorkerError when the child failed or cannot start: the
    caller then calls fn itself). Leaving the block stops the child, killed if it is still running.

    Only for `can_fork()`; as with map_forked, the child sees everything as it was at the fork."""
    if not can_fork():
        raise WorkerError("fork is not safe in this process (not Linux, or several threads)")
    try:
        worker = _fork(lambda _: fn())
        worker.send(b"")
    except OSError as exc:  # no fork or pipe here (a sandbox, a limit on processes)
        raise WorkerError(f"worker processes are not available ({exc})") from None
    done = False

    def result() -> bytes:
        nonlocal done
        header = _read_exactly(worker.results, _RESULT.size)
        status, size = _RESULT.unpack(header) if header is not None else (1, 0)
        answer = _read_exactly(worker.results, size) if size else b""
        if header is None or answer is None:
            raise WorkerError("a worker process ended before answering")
        if status != 0:
            raise WorkerError(f"a worker failed: {answer.decode(errors='replace')}")
        done = True
        return answer

    try:
        yield result
    finally:
        worker.stop(kill=not done)


# --- the parent's side ------------------------------------------------------------------------

class _Worker:
    def __init__(self, pid: int, tasks: int, results: int):
        self.pid, self.tasks, self.results = pid, tasks, results
        self.buffer = bytearray()  # a run of 250 stores is ~1 MB: appended in place, not copied each time

    def send(self, payload: bytes) -> None:
        _write_all(self.tasks, _TASK.pack(len(payload)) + payload)

    def stop(self, kill: bool) -> None:
        """Close our ends (end-of-file tells it to exit), then reap it; SIGKILL first when asked."""
        for fd in (self.tasks, self.results):
            try:
                os.close(fd)
            except OSError:
                pass
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(self.pid, 0)


def _run(start: Callable[[], _Worker], payloads: list[bytes], processes: int) -> list[bytes]:
    """Hand each payload to a worker, one at a time per worker; results in payload order."""
    results: list[bytes | None] = [None] * len(payloads)
    if not payloads:
        return []
    workers: list[_Worker] = []
    failed = True
    try:
        todo = iter(range(len(payloads)))
        busy: dict[_Worker, int] = {}
        with selectors.DefaultSelector() as selector:
            for _ in range(max(1, min(processes, len(payloads)))):
                worker = start()
                workers.append(worker)
                index = next(todo)
                worker.send(payloads[index])
                busy[worker] = index
                selector.register(worker.results, selectors.EVENT_READ, worker)
            while busy:
                for ready, _ in selector.select():
                    worker = ready.data
                    chunk = os.read(worker.results, 1 << 20)
                    if not chunk:
                        raise WorkerError("a worker process ended before answering")
                    worker.buffer += chunk
                    if len(worker.buffer) < _RESULT.size:
                        continue
                    status, size = _RESULT.unpack_from(worker.buffer)
                    if len(worker.buffer) < _RESULT.size + size:
                        continue
                    answer = bytes(worker.buffer[_RESULT.size:_RESULT.size + size])
                    worker.buffer = bytearray()
                    if status != 0:
                        raise WorkerError(f"a worker failed: {answer.decode(errors='replace')}")
                    results[busy.pop(worker)] = answer
                    index = next(todo, None)
                    if index is not None:
                        worker.send(payloads[index])
                        busy[worker] = index
        failed = False
    except OSError as exc:  # no fork or pipe here (a sandbox, a limit on processes)
        raise WorkerError(f"worker processes are not available ({exc})") from None
    finally:
        for worker in workers:
            worker.stop(kill=failed)
    return results  # type: ignore[return-value]


def _fork(handle: Callable[[bytes], bytes]) -> _Worker:
    parent = os.getpid()
    task_read, task_write = os.pipe()
    result_read, result_write = os.pipe()
    die_with_parent = _pdeathsig()  # looked up before the fork, so the child does no import
    pid = os.fork()
    if pid == 0:  # the child: never returns into the parent's code
        code = 1
        try:
            _become_worker(parent, die_with_parent, keep=(task_read, result_write))
            _serve(task_read, result_write, handle)
            code = 0
        finally:
            os._exit(code)  # no atexit handlers, no flush of the parent's buffered output
    os.close(task_read)
    os.close(result_write)
    return _Worker(pid, task_write, result_read)


# --- the worker's side ------------------------------------------------------------------------

def _pdeathsig() -> Callable[[], None] | None:
    """A function that asks Linux to SIGKILL this process when its parent dies, or None elsewhere."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    return lambda: prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def _become_worker(parent: int, die_with_parent: Callable[[], None] | None, keep: tuple[int, ...]) -> None:
    # No cyclic garbage collection in a worker: it lives for one batch, and a collection would walk
    # (and so copy, page by page) every object the parent had at the fork.
    gc.disable()
    for signum in (signal.SIGINT, signal.SIGTERM):  # the parent's handlers are not ours
        signal.signal(signum, signal.SIG_DFL)
    if die_with_parent is not None:
        die_with_parent()
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)
    if os.path.isdir("/proc/self/fd"):
        # Everything from 3 up but our pipes: the out/ lock above all (see the module docstring).
        for fd in sorted(int(name) for name in os.listdir("/proc/self/fd")):
            if fd > 2 and fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass  # the descriptor listdir used, already closed


def _serve(tasks: int, results: int, handle: Callable[[bytes], bytes]) -> None:
    while True:
        header = _read_exactly(tasks, _TASK.size)
        if header is None:
            return  # end-of-file: the parent has no more work, or is gone
        payload = _read_exactly(tasks, _TASK.unpack(header)[0]) or b""
        try:
            answer, status = handle(payload), 0
        except Exception as exc:  # reported to the parent, which does the work itself
            answer, status = repr(exc).encode(), 1
        _write_all(results, _RESULT.pack(status, len(answer)) + answer)


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
