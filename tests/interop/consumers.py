"""The real consumers of tlsgen's files, driven from tests: OpenSSL, keytool, and Java's JSSE as Kafka uses it.

Import as `from interop.consumers import ...`. Every helper asks for its program with `need()` (a
missing consumer fails under CI=true and skips otherwise), every process has a time-out, and
servers are context managers that always kill their process.

Handshake checks wait for application data from the server, not just the end of the client's
handshake: under TLS 1.3 a server refuses a client certificate only after the client has finished.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import pytest
from conftest import need

HERE = Path(__file__).resolve().parent
TIMEOUT = 30  # seconds, for any one consumer command
JAVA_STORE_TYPES = {"pkcs12": "PKCS12", "jks": "JKS", "pem": "PEM"}
# Where tlsgen puts an entity's stores (SPEC.md, "The output tree").
KEYSTORE_FILES = {"pkcs12": "keystore.p12", "jks": "keystore.jks", "pem": "keystore.pem"}
TRUSTSTORE_FILES = {"pkcs12": "truststore.p12", "jks": "truststore.jks", "pem": "ca.pem"}
# Short-lived JVMs start faster without the optimising compiler.
JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: Sequence[str | os.PathLike], *, timeout: float = TIMEOUT, input: str | None = None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, input=input,
                          env=None if env is None else {**os.environ, **env})


@dataclass(frozen=True)
class Handshake:
    """How a client's connection went: ok only when the server answered after the handshake."""

    ok: bool
    peer: str | None  # the subject the client verified (Java) or the server saw (OpenSSL)
    output: str

    def __bool__(self) -> bool:
        return self.ok


# --- servers ----------------------------------------------------------------------------------

@dataclass
class Server:
    """A running server: its port, and what it has printed (collected by a background thread)."""

    popen: subprocess.Popen
    port: int
    _lines: queue.Queue = field(default_factory=queue.Queue)
    _seen: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def output(self) -> str:
        """Everything printed so far, stdout and stderr together."""
        while True:
            try:
                self._seen.append(self._lines.get_nowait())
            except queue.Empty:
                return "".join(self._seen)

    def mark(self) -> int:
        """A position in the output, for `wait_for(since=...)` and `output_since`."""
        return len(self.output())

    def output_since(self, mark: int) -> str:
        return self.output()[mark:]

    def wait_for(self, pattern: str, *, since: int = 0, timeout: float = 10) -> re.Match:
        """Wait for output after `since` to match `pattern` (a regex); fail with the output if it does not."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output()[since:], re.MULTILINE)
            if match:
                return match
            left = deadline - time.monotonic()
            finished = self._reader is not None and not self._reader.is_alive() and self._lines.empty()
            if left <= 0 or finished:
                state = f"exited with {self.popen.poll()}" if finished else f"nothing within {timeout}s"
                raise AssertionError(f"no output matching {pattern!r} ({state}):\n{self.output()}")
            try:
                self._seen.append(self._lines.get(timeout=min(left, 0.1)))
            except queue.Empty:
                pass

    def stop(self) -> None:
        self.popen.kill()
        self.popen.wait(timeout=10)


def _start_server(args: Sequence[str | os.PathLike], ready: str, *, port: int = 0, timeout: float = 20) -> Server:
    """Start a server and wait for its `ready` line (whose group 1, if any, is the port); kill it if it fails."""
    popen = subprocess.Popen([str(a) for a in args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, bufsize=1)
    server = Server(popen, port)

    def read() -> None:
        for line in popen.stdout:
            server._lines.put(line)

    server._reader = threading.Thread(target=read, daemon=True)
    server._reader.start()
    try:
        match = server.wait_for(ready, timeout=timeout)
    except BaseException:
        server.stop()
        raise
    if match.groups():
        server.port = int(match.group(1))
    return server


@contextmanager
def _running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


# --- OpenSSL ----------------------------------------------------------------------------------

def openssl_verify(ca_file: Path, chain_file: Path, *, hostname: str | None = None, ip: str | None = None,
                   purpose: str | None = None) -> subprocess.CompletedProcess:
    """`openssl verify` of the chain file's first certificate against `ca_file` (the trusted roots).

    The whole chain file is also given as -untrusted, so intermediates after the leaf are used.
    """
    openssl = need("openssl")
    args: list = [openssl, "verify", "-CAfile", ca_file, "-untrusted", chain_file]
    if hostname is not None:
        args += ["-verify_hostname", hostname]
    if ip is not None:
        args += ["-verify_ip", ip]
    if purpose is not None:
        args += ["-purpose", purpose]
    return run([*args, chain_file])


def openssl_pkcs12_info(path: Path, password: str, legacy: bool = False) -> subprocess.CompletedProcess:
    """`openssl pkcs12 -info -noout`: opens every bag of a PKCS12 file with its password."""
    openssl = need("openssl")
    args: list = [openssl, "pkcs12", "-info", "-noout", "-in", path, "-passin", "env:TLSGEN_TEST_PASSWORD"]
    if legacy:
        args.append("-legacy")
    return run(args, env={"TLSGEN_TEST_PASSWORD": password})


@contextmanager
def openssl_server(cert: Path, key: Path, ca: Path, *, chain: Path | None = None, verify: bool = True,
                   key_password: str | None = None) -> Iterator[Server]:
    """`openssl s_server -www` on 127.0.0.1:<free port>, serving many connections in turn.

    With verify, a client must present a certificate that chains to `ca`
    (`-Verify 1 -verify_return_error`: refused, not just logged). `chain`: intermediates to send.
    """
    openssl = need("openssl")
    options: list = ["-cert", cert, "-key", key, "-CAfile", ca, "-www"]
    if chain is not None:
        options += ["-cert_chain", chain]
    if key_password is not None:
        options += ["-pass", f"pass:{key_password}"]
    if verify:
        options += ["-Verify", "1", "-verify_return_error"]
    for attempt in range(3):  # another process may take the free port before s_server binds it
        port = free_port()
        try:
            server = _start_server([openssl, "s_server", "-accept", f"127.0.0.1:{port}", *options], r"^ACCEPT",
                                   port=port)
            break
        except AssertionError:
            if attempt == 2:
                raise
    with _running(server):
        yield server


def openssl_client(port: int, *, ca: Path, cert: Path | None = None, key: Path | None = None,
                   chain: Path | None = None, hostname: str | None = None, ip: str | None = None,
                   servername: str | None = None, key_password: str | None = None) -> Handshake:
    """`openssl s_client` to 127.0.0.1:port that fails on any verification error, then GETs `/`.

    ok when the server's reply arrived; peer is the client subject the server reports (s_server -www).
    """
    openssl = need("openssl")
    args: list = [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca, "-verify_return_error",
                  "-quiet"]
    if cert is not None:
        args += ["-cert", cert, "-key", key or cert]
    if chain is not None:
        args += ["-cert_chain", chain]
    if key_password is not None:
        args += ["-pass", f"pass:{key_password}"]
    if hostname is not None:
        args += ["-verify_hostname", hostname]
    if ip is not None:
        args += ["-verify_ip", ip]
    if servername is not None or hostname is not None:
        args += ["-servername", servername or hostname]
    result = run(args, input="GET / HTTP/1.0\r\n\r\n")
    output = result.stdout + result.stderr
    ok = result.returncode == 0 and "HTTP/1.0 200 ok" in result.stdout
    peer = re.search(r"Client certificate.*?Subject: ([^\n]*)", result.stdout, re.DOTALL)
    return Handshake(ok, peer.group(1).strip() if peer else None, output)


def openssl_pkcs12_export_certs(path: Path, cert_file: Path, password: str) -> Path:
    """`openssl pkcs12 -export -nokeys`, the tutorials' truststore: its bags lack Java's trust attribute."""
    openssl = need("openssl")
    result = run([openssl, "pkcs12", "-export", "-nokeys", "-in", cert_file, "-out", path,
                  "-passout", "env:TLSGEN_TEST_PASSWORD"], env={"TLSGEN_TEST_PASSWORD": password})
    if result.returncode != 0:
        raise AssertionError(f"openssl pkcs12 -export failed:\n{result.stdout}{result.stderr}")
    return path


# --- librdkafka (confluent-kafka) -------------------------------------------------------------

def librdkafka_config_error(config: dict) -> str | None:
    """librdkafka's complaint about `config`'s keys, certificates and stores, or None when it loads them.

    A Producer loads every ssl.* file when it is created, before connecting to anything; the
    bootstrap address is a port nothing listens on, and logging is off.
    """
    try:
        import confluent_kafka
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("confluent-kafka is not installed; .ci/run should have installed it")
        pytest.skip("confluent-kafka is not installed")
    try:
        confluent_kafka.Producer({"bootstrap.servers": f"127.0.0.1:{free_port()}", "security.protocol": "SSL",
                                  "log_level": 0, **config})
    except confluent_kafka.KafkaException as exc:
        return str(exc)
    return None


# --- keytool ----------------------------------------------------------------------------------

def keytool_import_trusted(path: Path, storetype: str, password: str, alias: str, cert_file: Path) -> Path:
    """`keytool -importcert`: adds a trusted certificate entry (creating the store if need be)."""
    keytool = need("keytool")
    result = run([keytool, "-J-XX:TieredStopAtLevel=1", "-importcert", "-noprompt", "-alias", alias,
                  "-file", cert_file, "-keystore", path, "-storetype", JAVA_STORE_TYPES.get(storetype, storetype),
                  "-storepass:env", "TLSGEN_TEST_PASSWORD"], env={"TLSGEN_TEST_PASSWORD": password})
    if result.returncode != 0:
        raise AssertionError(f"keytool -importcert failed:\n{result.stdout}{result.stderr}")
    return path


def keytool_list(path: Path, storetype: str, password: str) -> str:
    """`keytool -list` of a store with its password; the listing, or AssertionError with keytool's words."""
    keytool = need("keytool")
    result = run([keytool, "-J-XX:TieredStopAtLevel=1", "-list", "-keystore", path,
                  "-storetype", JAVA_STORE_TYPES.get(storetype, storetype),
                  "-storepass:env", "TLSGEN_TEST_PASSWORD"], env={"TLSGEN_TEST_PASSWORD": password})
    if result.returncode != 0:
        raise AssertionError(f"keytool -list {path} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def keytool_entries(path: Path, storetype: str, password: str) -> dict[str, str]:
    """{alias: "PrivateKeyEntry" | "trustedCertEntry"} from `keytool -list`."""
    listing = keytool_list(path, storetype, password)
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\S[^,\n]*),.*?, (\w+Entry),\s*$", listing, re.MULTILINE)}


# --- Java (JsseProbe.java: stores loaded as Kafka's DefaultSslEngineFactory loads them) -------

_probe_lock = threading.Lock()
_probe_dir: Path | None = None


def _probe_classpath() -> Path:
    """Compile JsseProbe.java once per test session into a temporary directory."""
    global _probe_dir
    with _probe_lock:
        if _probe_dir is None:
            javac = need("javac")
            target = Path(tempfile.mkdtemp(prefix="tlsgen-jsseprobe-"))
            atexit.register(shutil.rmtree, target, True)
            result = run([javac, "-d", target, HERE / "JsseProbe.java"], timeout=120)
            if result.returncode != 0:
                raise AssertionError(f"javac JsseProbe.java failed:\n{result.stdout}{result.stderr}")
            _probe_dir = target
        return _probe_dir


@dataclass(frozen=True)
class JavaStores:
    """A keystore and/or truststore with passwords, as Kafka's ssl.* settings name them."""

    keystore: Path | None = None
    keystore_type: str = "pkcs12"  # pkcs12 | jks | pem
    keystore_password: str | None = None  # not for pem (Kafka refuses one)
    key_password: str | None = None
    truststore: Path | None = None
    truststore_type: str = "pkcs12"
    truststore_password: str | None = None  # not for pem

    @classmethod
    def of_entity_dir(cls, directory: Path) -> "JavaStores":
        """The stores tlsgen writes into an entity's directory, with the passwords written beside them."""
        def found(files: dict[str, str]) -> str | None:
            return next((fmt for fmt, name in files.items() if (directory / name).exists()), None)

        def password(name: str) -> str | None:
            return (directory / name).read_text() if (directory / name).exists() else None

        ks, ts = found(KEYSTORE_FILES), found(TRUSTSTORE_FILES)  # ca.pem is everywhere: checked last
        return cls(
            keystore=directory / KEYSTORE_FILES[ks] if ks else None, keystore_type=ks or "pkcs12",
            keystore_password=password("keystore.password") if ks != "pem" else None,
            key_password=password("key.password"),
            truststore=directory / TRUSTSTORE_FILES[ts] if ts else None, truststore_type=ts or "pkcs12",
            truststore_password=password("truststore.password") if ts != "pem" else None)

    def probe_args(self, *, keystore: bool = True, truststore: bool = True) -> list[str]:
        args: list[str] = []
        if keystore and self.keystore is not None:
            args += ["--keystore", str(self.keystore), "--keystore-type", JAVA_STORE_TYPES[self.keystore_type]]
            if self.keystore_password is not None:
                args += ["--keystore-password", self.keystore_password]
            if self.key_password is not None:
                args += ["--key-password", self.key_password]
        if truststore and self.truststore is not None:
            args += ["--truststore", str(self.truststore), "--truststore-type", JAVA_STORE_TYPES[self.truststore_type]]
            if self.truststore_password is not None:
                args += ["--truststore-password", self.truststore_password]
        return args

    def jvm_options(self) -> list[str]:
        """-Djavax.net.ssl.* for the JVM's default SSLContext (what tlsgen puts in a worker's KAFKA_OPTS)."""
        options = []
        if self.keystore is not None:
            options += [f"-Djavax.net.ssl.keyStore={self.keystore}",
                        f"-Djavax.net.ssl.keyStoreType={JAVA_STORE_TYPES[self.keystore_type]}",
                        f"-Djavax.net.ssl.keyStorePassword={self.keystore_password}"]
        if self.truststore is not None:
            options += [f"-Djavax.net.ssl.trustStore={self.truststore}",
                        f"-Djavax.net.ssl.trustStoreType={JAVA_STORE_TYPES[self.truststore_type]}",
                        f"-Djavax.net.ssl.trustStorePassword={self.truststore_password}"]
        return options


def java_probe(mode: str, *args: str, jvm_options: Sequence[str] = (), timeout: float = TIMEOUT,
               ) -> subprocess.CompletedProcess:
    """Run JsseProbe (compiled on first use) in `mode` with `args`; see JsseProbe.java for the modes."""
    java = need("java")
    classpath = _probe_classpath()
    return run([java, *JVM_FLAGS, *jvm_options, "-cp", classpath, "JsseProbe", mode, *args], timeout=timeout)


def java_list(stores: JavaStores, *, truststore: bool = False) -> dict[str, str]:
    """{alias: "PrivateKeyEntry" | "trustedCertEntry"} of the keystore (or truststore) as Kafka loads it.

    A key entry is listed only if its key opens with the key password.
    """
    args = stores.probe_args(keystore=not truststore, truststore=truststore)
    result = java_probe("list", *args)
    if result.returncode != 0:
        raise AssertionError(f"JsseProbe list failed:\n{result.stdout}{result.stderr}")
    entries = {}
    for alias, kind, rest in re.findall(r"^ALIAS (\S+) (\S+)(.*)$", result.stdout, re.MULTILINE):
        if kind == "PrivateKeyEntry" and "key-opens" not in rest:
            kind = "PrivateKeyEntry (key does not open)"
        entries[alias] = kind
    return entries


@contextmanager
def java_server(stores: JavaStores, *, client_auth: str = "required") -> Iterator[Server]:
    """A JSSE server with Kafka's SSL settings on 127.0.0.1:<free port>, serving many connections.

    It prints "HANDSHAKE OK peer=<client subject> ..." or "HANDSHAKE FAILED <error>" per connection.
    """
    java = need("java")
    args = [java, *JVM_FLAGS, "-cp", _probe_classpath(), "JsseProbe", "server", *stores.probe_args(),
            "--client-auth", client_auth]
    with _running(_start_server(args, r"^LISTENING (\d+)")) as server:
        yield server


def java_client(port: int, host: str, stores: JavaStores, *, connect: str = "127.0.0.1",
                protocol: str | None = None) -> Handshake:
    """A JSSE client with Kafka's settings: connects to `connect`:port and verifies the server as `host`."""
    extra = ["--protocol", protocol] if protocol else []
    result = java_probe("client", "--connect", connect, "--port", str(port), "--host", host,
                        *stores.probe_args(), *extra)
    return _java_handshake(result)


def java_default_client(port: int, host: str, stores: JavaStores, *, connect: str = "127.0.0.1") -> Handshake:
    """A client on SSLContext.getDefault(), configured only by -Djavax.net.ssl.* (a connector in Kafka Connect)."""
    result = java_probe("jvm-default-client", "--connect", connect, "--port", str(port), "--host", host,
                        jvm_options=stores.jvm_options())
    return _java_handshake(result)


def _java_handshake(result: subprocess.CompletedProcess) -> Handshake:
    match = re.search(r"^OK peer=(.*?) protocol=", result.stdout, re.MULTILINE)
    ok = result.returncode == 0 and match is not None
    return Handshake(ok, match.group(1) if match else None, result.stdout + result.stderr)
