"""A test seam for crash safety: run tlsgen and SIGKILL it at its Nth file-system step.

    python tests/crashpoint.py N tlsgen-args...

Steps are the calls that write, make durable or change what out/ holds (os.write, os.fsync, syncfs,
os.replace, os.unlink), counted across the whole run and killed just before the Nth happens, so N
walks a kill through every stage of an apply: temp files half written, written but not synced,
synced but not renamed, some renamed, state written, journal removed. Production code never reads this.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys


def main() -> None:
    kill_at = int(sys.argv[1])
    sys.argv = ["tlsgen", *sys.argv[2:]]
    seen = 0

    def counted(call):
        def step(*args, **kwargs):
            nonlocal seen
            seen += 1
            if seen == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return call(*args, **kwargs)
        return step

    for name in ("write", "fsync", "replace", "unlink"):
        setattr(os, name, counted(getattr(os, name)))
    import tlsgen.reconcile.outdir as outdir  # syncfs(2) is called through ctypes, not os

    outdir._syncfs = counted(outdir._syncfs)
    runpy.run_module("tlsgen", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
