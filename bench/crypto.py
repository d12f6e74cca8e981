#!/usr/bin/env python3
"""Micro-benchmarks of tlsgen's crypto layer, run by hand: the figures behind crypto/*'s comments.

    .venv/bin/python bench/crypto.py                    # this checkout
    .venv/bin/python bench/crypto.py --tree ../other    # another checkout (legs it lacks are skipped)
    .venv/bin/python bench/crypto.py --only pool,stores # some sections: calls, threads, pool, stores, imports

Single-process figures are CPU time, best of several runs: on a shared machine the wall clock also
counts the time other processes held the core. Parallel legs show wall time (best of 3) and the
CPU seconds their workers used, which stay honest on a busy machine where wall-clock speed-ups
cannot. The load average is printed before and after: trust speed-ups only when it is below the
number of cores.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

PASSWORD = "Zq7tW2mPx9LkR4vB8nJc3HsD6fGy1aUe"  # the shape of a generated password
NOW = datetime.now(timezone.utc)


def best_ms(fn, repeat: int = 15) -> float:
    """CPU milliseconds of one call in this process, best of `repeat`: on a shared machine the
    wall clock also counts the time other processes had the core."""
    fn()  # warm-up (first-call imports, caches)
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times) * 1000


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def line(label: str, value: str) -> None:
    print(f"  {label:<58} {value}")


class World:
    def __init__(self, pki):
        self.ec = pki.generate_key("ec-p256")
        self.rsa = pki.generate_key("rsa-2048")
        ca_key = pki.generate_key("ec-p256")
        self.ca = pki.issue_ca(subject=(("CN", "root"),), key=ca_key, path_length=None,
                               validity=timedelta(days=10), now=NOW)
        self.ca_key = ca_key
        self.chains = {kind: [self.leaf(pki, key), self.ca] for kind, key in (("ec", self.ec), ("rsa", self.rsa))}

    def leaf(self, pki, key, issuer_key=None):
        return pki.issue_leaf(subject=(("CN", "kafka"),), public_key=key.public_key(), issuer_cert=self.ca,
                              issuer_key=issuer_key or self.ca_key, hostnames=["kafka"], ip_addresses=[],
                              usages=("serverAuth", "clientAuth"), validity=timedelta(days=1), now=NOW)


def has_iterations(stores) -> bool:
    import inspect
    return "iterations" in inspect.signature(stores.keystore_bytes).parameters


def generated_mac(pki) -> int | None:
    """The MAC iterations of a generated password's stores, in a tree that sets them apart."""
    return getattr(pki, "GENERATED_PASSWORD_MAC_ITERATIONS", None)


def calls(pki, stores, world: World) -> None:
    print("per call (CPU ms in this process, best of 15)")
    iterations = (10_000, 1000) if has_iterations(stores) else (10_000,)
    for n in iterations:
        line(f"encrypted_key_pem, {n} iterations", f"{best_ms(lambda: pki.encrypted_key_pem(world.ec, PASSWORD, iterations=n)):7.2f}")
    kdf = getattr(pki, "pkcs12_pbe_key", None)
    if kdf is None:
        kdf = importlib.import_module("tlsgen.crypto.pfx").kdf
    line("PKCS#12 KDF in Python, 24 bytes, 10,000 iterations",
         f"{best_ms(lambda: kdf(PASSWORD, bytes(8), 10_000, purpose=1, size=24)):7.2f}")
    for n in iterations:
        extra = {"iterations": n} if n != 10_000 else {}
        for profile in ("modern", "legacy"):
            ks = lambda: stores.keystore_bytes("pkcs12", profile=profile, alias="a", key=world.ec,
                                               chain=world.chains["ec"], password=PASSWORD, **extra)
            ts = lambda: stores.truststore_bytes("pkcs12", profile=profile, certs=[("root", world.ca)],
                                                 password=PASSWORD, **extra)
            line(f"pkcs12 {profile} keystore / truststore, {n} iterations", f"{best_ms(ks):7.2f} / {best_ms(ts):.2f}")
    mac = generated_mac(pki)
    if mac is not None:  # a generated password's modern stores: written by pfx.py, with a cheaper MAC
        ks = lambda: stores.keystore_bytes("pkcs12", alias="a", key=world.ec, chain=world.chains["ec"],
                                           password=PASSWORD, iterations=1000, mac_iterations=mac)
        ts = lambda: stores.truststore_bytes("pkcs12", certs=[("root", world.ca)], password=PASSWORD,
                                             iterations=1000, mac_iterations=mac)
        line(f"pkcs12 modern keystore / truststore, 1000 iterations, MAC {mac}", f"{best_ms(ks):7.2f} / {best_ms(ts):.2f}")
    line("jks keystore / truststore", f"{best_ms(lambda: stores.keystore_bytes('jks', alias='a', key=world.ec, chain=world.chains['ec'], password=PASSWORD)):7.2f}"
         f" / {best_ms(lambda: stores.truststore_bytes('jks', certs=[('root', world.ca)], password=PASSWORD)):.2f}")
    for n in iterations:
        extra = {"iterations": n} if n != 10_000 else {}
        for profile in ("modern", "legacy"):
            for kind in ("ec", "rsa"):
                data = stores.keystore_bytes("pkcs12", profile=profile, alias="a", key=getattr(world, kind),
                                             chain=world.chains[kind], password=PASSWORD, **extra)
                line(f"read_keystore pkcs12 {profile} {kind}, {n} iterations",
                     f"{best_ms(lambda: stores.read_keystore('pkcs12', data, PASSWORD), 5):7.2f}")
            data = stores.truststore_bytes("pkcs12", profile=profile, certs=[("root", world.ca)], password=PASSWORD,
                                           **extra)
            line(f"read_truststore pkcs12 {profile}, {n} iterations",
                 f"{best_ms(lambda: stores.read_truststore('pkcs12', data, PASSWORD)):7.2f}")
    for kind in ("ec", "rsa"):
        data = stores.keystore_bytes("pem", alias="a", key=getattr(world, kind), chain=world.chains[kind],
                                     password=PASSWORD)
        line(f"read_keystore pem {kind}, 10000 iterations", f"{best_ms(lambda: stores.read_keystore('pem', data, PASSWORD), 5):7.2f}")
        data = stores.keystore_bytes("jks", alias="a", key=getattr(world, kind), chain=world.chains[kind],
                                     password=PASSWORD)
        line(f"read_keystore jks {kind}", f"{best_ms(lambda: stores.read_keystore('jks', data, PASSWORD), 5):7.2f}")
    line("issue_leaf signed by ec-p256 / by rsa-2048",
         f"{best_ms(lambda: world.leaf(pki, world.ec)):7.2f} / {best_ms(lambda: world.leaf(pki, world.ec, world.rsa)):.2f}")


def threads(pki, stores, world: World) -> None:
    """Does cryptography release the GIL? Two threads against one, with a control that does."""
    import hashlib

    print("two threads against one (speed-up; 2.0 = the GIL is released and a core is free)")
    jobs = {
        "control: hashlib.pbkdf2_hmac (releases the GIL)": (lambda: hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 100_000), 20),
        "rsa-2048 key generation": (lambda: pki.generate_key("rsa-2048"), 20),
        "PBKDF2HMAC-SHA256, 100,000 iterations": (lambda: _pbkdf2(), 20),
        "issue_leaf signed by rsa-2048": (lambda: world.leaf(pki, world.ec, world.rsa), 200),
        "pkcs12 modern keystore, 10,000 iterations": (lambda: stores.keystore_bytes(
            "pkcs12", alias="a", key=world.ec, chain=world.chains["ec"], password=PASSWORD), 100),
    }
    for label, (fn, n) in jobs.items():
        serial = threaded = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            serial = min(serial, time.perf_counter() - start)
            with ThreadPoolExecutor(2) as pool:
                start = time.perf_counter()
                list(pool.map(lambda _: fn(), range(n)))
                threaded = min(threaded, time.perf_counter() - start)
        line(label, f"{serial / threaded:5.2f}×")


def beside(pki, stores, world: World) -> None:
    """RSA keys made by two threads while this thread builds stores (apply's case before its last
    keys), at Python's switch interval and at the tlsgen program's (cli.SWITCH_INTERVAL)."""
    import threading

    print("rsa-2048 keys a second on two threads, beside stores built in this thread (3 s each)")

    def run(interval: float | None, build: bool) -> str:
        made, stop, saved = [0], threading.Event(), sys.getswitchinterval()

        def keys() -> None:
            while not stop.is_set():
                pki.generate_key("rsa-2048")
                made[0] += 1
        if interval is not None:
            sys.setswitchinterval(interval)
        threads = [threading.Thread(target=keys) for _ in range(2)]
        for t in threads:
            t.start()
        start, built = time.perf_counter(), 0
        while time.perf_counter() - start < 3:
            if build:
                stores.keystore_bytes("pkcs12", alias="a", key=world.rsa, chain=world.chains["rsa"],
                                      password=PASSWORD, iterations=1000)
                stores.truststore_bytes("pkcs12", certs=[("ca", world.ca)], password=PASSWORD, iterations=1000)
                built += 2
            else:
                time.sleep(0.01)
        seconds = time.perf_counter() - start
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(saved)
        return f"{made[0] / seconds:5.1f} keys/s, {built / seconds:5.0f} stores/s"

    line("control: nothing beside them", run(None, False))
    line(f"stores beside them, switch interval {sys.getswitchinterval() * 1000:g} ms (Python's)", run(None, True))
    if _has("tlsgen.cli") and hasattr(importlib.import_module("tlsgen.cli"), "SWITCH_INTERVAL"):
        interval = importlib.import_module("tlsgen.cli").SWITCH_INTERVAL
        line(f"stores beside them, switch interval {interval * 1000:g} ms (the tlsgen program's)", run(interval, True))


def pool(pki, stores, world: World) -> None:
    """generate_keys: one after the other, and on 2 cores (threads, forked workers, or what the tree has)."""
    print("RSA keys on 2 cores (wall s, best of 3; CPU s of worker processes in brackets)")
    modes = {"default": {}}
    if hasattr(pki, "_KEYGEN_RELEASES_GIL"):
        modes = {"threads": {"_KEYGEN_RELEASES_GIL": True}, "forked": {"_KEYGEN_RELEASES_GIL": False}}
    for n in (2, 4, 8, 16, 40):
        serial = min(_timed(lambda: pki.generate_keys(["rsa-2048"] * n, processes=1))[0] for _ in range(3))
        shown = []
        for mode, patch in modes.items():
            saved = {name: getattr(pki, name) for name in patch}
            for name, value in patch.items():
                setattr(pki, name, value)
            try:
                best = min((_timed(lambda: pki.generate_keys(["rsa-2048"] * n, processes=2)) for _ in range(3)))
            finally:
                for name, value in saved.items():
                    setattr(pki, name, value)
            shown.append(f"{mode} {best[0]:6.3f} [{best[1]:.2f}]")
        line(f"{n:3d} rsa-2048: one after the other {serial:6.3f}", " / ".join(shown))
    if _has("tlsgen.crypto.workers"):
        workers = importlib.import_module("tlsgen.crypto.workers")
        line("one forked worker: start, one tiny task, stop (ms)",
             f"{best_ms(lambda: workers.map_forked(lambda x: b'', [0], 1)):7.2f}")


def stores_pool(pki, stores, world: World) -> None:
    if not hasattr(stores, "build_many"):
        return
    print("build_many: stores built here / by 2 forked workers (wall s, best of 3; workers' CPU s)")
    for n, iterations in ((4, 1000), (10, 1000), (20, 1000), (50, 1000), (106, 1000), (200, 1000), (1000, 1000),
                          (50, 10_000), (200, 10_000)):
        # At 1000 iterations, a generated password's stores (and their MAC, where the tree has one for them).
        mac = {"mac_iterations": generated_mac(pki)} if iterations == 1000 and generated_mac(pki) is not None else {}
        jobs = [stores.StoreJob("pkcs12", PASSWORD, iterations=iterations, alias="a", key=world.ec,
                                chain=world.chains["ec"], **mac) for _ in range(n // 2)]
        jobs += [stores.StoreJob("pkcs12", PASSWORD, iterations=iterations, certs=[("root", world.ca)], **mac)
                 for _ in range(n - n // 2)]
        here = min(_timed(lambda: stores.build_many(jobs, processes=1))[0] for _ in range(3))
        there = min(_timed(lambda: stores.build_many(jobs, processes=2)) for _ in range(3))
        estimate = sum(stores._seconds_to_build(job) for job in jobs)
        line(f"{n:5d} pkcs12 stores, {iterations} iterations (estimate {estimate:.3f} s)",
             f"{here:6.3f} / {there[0]:6.3f} [{there[1]:.2f}]")
    if hasattr(pki, "issue_leaves"):
        print("issue_leaves: certificates signed here / by 2 forked workers (wall s, best of 3)")
        for n in (10, 50, 200, 1000):
            orders = [pki.LeafOrder(subject=(("CN", f"c{i}"),), public_key=world.ec.public_key(), issuer_cert=world.ca,
                                    issuer_key=world.ca_key, usages=("clientAuth",), validity=timedelta(days=1),
                                    now=NOW) for i in range(n)]
            here = min(_timed(lambda: pki.issue_leaves(orders, processes=1))[0] for _ in range(3))
            there = min(_timed(lambda: pki.issue_leaves(orders, processes=2)) for _ in range(3))
            line(f"{n:5d} leaves signed by ec-p256", f"{here:6.3f} / {there[0]:6.3f} [{there[1]:.2f}]")


def imports(tree: Path) -> None:
    print("imports in a fresh interpreter (ms, best of 7; -X importtime's total for the module)")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    for code in ("pass", "import tlsgen.crypto.pki", "import tlsgen.crypto.stores", "import jks"):
        runs = []
        for _ in range(7):
            start = time.perf_counter()
            if subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True).returncode != 0:
                break
            runs.append(time.perf_counter() - start)
        if not runs:
            continue
        module = code.split()[-1]
        detail = ""
        if code != "pass":
            trace = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, cwd=tree, capture_output=True,
                                   text=True).stderr.splitlines()
            own = [t for t in trace if t.rstrip().endswith(f"| {module}")]
            if own:
                detail = f"  (importtime {int(own[-1].split('|')[1]) / 1000:.0f} ms)"
        line(f"python -c {code!r}", f"{min(runs) * 1000:7.0f}{detail}")


def _pbkdf2() -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    return PBKDF2HMAC(hashes.SHA256(), 32, bytes(16), 100_000).derive(PASSWORD.encode())


def _has(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _timed(fn) -> tuple[float, float]:
    cpu = children_cpu()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose tlsgen to measure (default: this one)")
    parser.add_argument("--only", default="calls,threads,beside,pool,stores,imports")
    args = parser.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))
    pki = importlib.import_module("tlsgen.crypto.pki")
    stores = importlib.import_module("tlsgen.crypto.stores")
    assert Path(pki.__file__).is_relative_to(args.tree.resolve()), pki.__file__
    print(f"tree {args.tree}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    for module in ("tlsgen.reconcile.planner", "tlsgen.reconcile.apply"):  # so that a fork copies what an apply's does
        if _has(module):
            importlib.import_module(module)
    world = World(pki)
    sections = {"calls": lambda: calls(pki, stores, world), "threads": lambda: threads(pki, stores, world),
                "beside": lambda: beside(pki, stores, world),
                "pool": lambda: pool(pki, stores, world), "stores": lambda: stores_pool(pki, stores, world),
                "imports": lambda: imports(args.tree.resolve())}
    for name in args.only.split(","):
        sections[name]()
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
