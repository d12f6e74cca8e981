#!/usr/bin/env python3
"""Benchmarks, run by hand (never in CI): tlsgen against the status-quo openssl + keytool script.

    .venv/bin/python bench/run.py            # 50 and 500 clients, status quo for 50, watch latency
    .venv/bin/python bench/run.py --quick    # 50 clients only

Measured in one run on the same machine, printed as seconds and as ratios to the status quo:
- cold apply: an empty out/ → every key, certificate, store and config;
- no-op apply: nothing changed → read, hash, compare (no key generation, signing or serialisation);
- the status-quo script: for each entity the openssl/keytool steps the seed tutorials use
  (key, CSR, sign, `openssl pkcs12 -export`, `keytool -importcert` truststore), same key type;
- watch latency: a saved hostname edit → the new certificate on disk, for one ec-p256 entity.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def spec_text(clients: int, brokers: int = 3) -> str:
    lines = ["version: 1", "output: out", "defaults: {key: ec-p256, subject: {organization: Bench}}",
             "cas:", "  root: {}", "  issuing: {issuer: root, path_length: 0}", "brokers:"]
    lines += [f"  kafka-{i}: {{issuer: issuing, hostnames: [kafka-{i}]}}" for i in range(brokers)]
    lines += ["clients:"]
    lines += [f"  client-{i}: {{issuer: issuing, brokers: [kafka-0]}}" for i in range(clients)]
    lines += ["compose: {file: compose.tls.yaml}"]
    return "\n".join(lines) + "\n"


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def tlsgen_runs(clients: int, repeat: int) -> tuple[float, float]:
    colds, noops = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            (project / "tls.yaml").write_text(spec_text(clients))
            colds.append(timed([sys.executable, "-m", "tlsgen", "apply", "tls.yaml"], project))
            noops.append(min(timed([sys.executable, "-m", "tlsgen", "apply", "tls.yaml"], project) for _ in range(3)))
    return statistics.median(colds), statistics.median(noops)


STATUS_QUO = r"""
set -e
pw=changeit
mkdir -p ca
openssl req -x509 -nodes -days 3650 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout ca/root.key -out ca/root.crt -subj "/O=Bench/CN=root" 2>/dev/null
openssl req -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout ca/issuing.key -out ca/issuing.csr -subj "/O=Bench/CN=issuing" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca/ext
openssl x509 -req -in ca/issuing.csr -CA ca/root.crt -CAkey ca/root.key -CAcreateserial -days 1825 -extfile ca/ext -out ca/issuing.crt 2>/dev/null
for name in $NAMES; do
  mkdir -p "$name"; cd "$name"
  openssl req -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$name.key" -out "$name.csr" -subj "/O=Bench/CN=$name" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$name" > ext
  openssl x509 -req -in "$name.csr" -CA ../ca/issuing.crt -CAkey ../ca/issuing.key -CAcreateserial -days 365 -extfile ext -out "$name.crt" 2>/dev/null
  cat "$name.crt" ../ca/issuing.crt > chain.pem
  openssl pkcs12 -export -inkey "$name.key" -in chain.pem -name "$name" -out keystore.p12 -passout pass:$pw
  keytool -importcert -noprompt -alias root -file ../ca/root.crt -keystore truststore.p12 -storetype PKCS12 -storepass $pw >/dev/null 2>&1
  printf '%s' $pw > keystore.password
  cd ..
done
"""


def status_quo(clients: int, brokers: int = 3) -> float:
    names = " ".join([f"kafka-{i}" for i in range(brokers)] + [f"client-{i}" for i in range(clients)])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(["bash", "-c", STATUS_QUO], cwd=tmp, env={**ENV, "NAMES": names}, check=True)
        return time.perf_counter() - start


def watch_latency(samples: int = 5) -> list[float]:
    """Save → new certificate on disk, for one ec-p256 entity, with `tlsgen watch` running."""
    from cryptography import x509

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        specs = project / "specs"
        specs.mkdir()
        base = textwrap.dedent("""\
            version: 1
            output: ../out
            defaults: {key: ec-p256}
            cas: {root: {}}
            servers:
              svc: {issuer: root, hostnames: [HOST]}
            """)
        (specs / "tls.yaml").write_text(base.replace("HOST", "start"))
        proc = subprocess.Popen([sys.executable, "-m", "tlsgen", "watch", "specs"], cwd=project, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        crt = project / "out/servers/svc/svc.crt"
        try:
            deadline = time.time() + 60
            while not crt.exists() and time.time() < deadline:
                time.sleep(0.05)
            for i in range(samples):
                host = f"host{i}"
                time.sleep(1.0)
                start = time.perf_counter()
                (specs / "tls.yaml").write_text(base.replace("HOST", host))
                while time.perf_counter() - start < 30:
                    try:
                        cert = x509.load_pem_x509_certificate(crt.read_bytes())
                        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                        if host in names.get_values_for_type(x509.DNSName):
                            results.append(time.perf_counter() - start)
                            break
                    except (ValueError, FileNotFoundError):
                        pass
                    time.sleep(0.01)
        finally:
            proc.terminate()
            proc.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 clients only, one repetition")
    args = parser.parse_args()
    for tool in ("openssl", "keytool"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed for the status-quo comparison")
    repeat = 1 if args.quick else 3
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    sq = statistics.median(status_quo(50) for _ in range(repeat))
    print(f"status quo openssl+keytool script, 50 clients + 3 brokers: {sq:7.2f} s")
    for clients in ([50] if args.quick else [50, 500]):
        cold, noop = tlsgen_runs(clients, repeat)
        scale = clients / 50
        print(f"tlsgen cold apply,   {clients:3d} clients + 3 brokers: {cold:7.2f} s"
              f"   ({cold / (sq * scale):.3f}× the status quo per entity)")
        print(f"tlsgen no-op apply,  {clients:3d} clients + 3 brokers: {noop:7.2f} s"
              f"   ({noop / (sq * scale):.3f}× the status quo per entity)")
    latencies = watch_latency()
    if latencies:
        print(f"watch: save → new certificate on disk: median {statistics.median(latencies) * 1000:.0f} ms,"
              f" max {max(latencies) * 1000:.0f} ms over {len(latencies)} saves")


if __name__ == "__main__":
    main()
