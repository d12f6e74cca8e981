"""Malformed specs through the real CLI: each error at its exact place, exit 1, no traceback, nothing written.

One table: a spec (text, or {file: text} for a spec directory), the expected `file:line:col`, spec path
and message fragment. Every case runs `tlsgen validate` as its own process, in its own directory, which
also holds an `out/` from an earlier apply; the process is forked from one driver that imported tlsgen
once (see DRIVER), so the ~90 cases take seconds. The --json cases run `python -m tlsgen` from scratch.
A case with `bug=` is a strict xfail: tlsgen still gets it wrong.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import REPO, tlsgen

SPEC_FILE = "specs/tlsgen.yaml"  # where a one-file case is written, and how messages name it
PLACED_LINE = re.compile(r"^[^\s:]+:\d+:\d+: ")  # every error line starts with file:line:col
ALLOWED_KEYS = "allowed: rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384"
UNSET_ENV = "TLSGEN_TEST_SURELY_UNSET_PASSWORD"


# --- certificates the import cases point at -------------------------------------------------------


@cache
def pems() -> dict[str, bytes]:
    """Self-signed CAs with their keys (valid, expired, expiring in 10 days), a leaf certificate (not a CA)
    and an unrelated key."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(name: str, key, *, ca: bool, days: int = 3650) -> bytes:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        built = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                 .public_key(key.public_key()).serial_number(x509.random_serial_number())
                 .not_valid_before(now - datetime.timedelta(days=400)).not_valid_after(now + datetime.timedelta(days=days))
                 .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                 .sign(key, hashes.SHA256()))
        return built.public_bytes(serialization.Encoding.PEM)

    def key_pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key, leaf_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    return {"ca.crt": cert("Corp CA", ca_key, ca=True), "ca.key": key_pem(ca_key),
            "expired-ca.crt": cert("Old CA", ca_key, ca=True, days=-1),
            "ending-ca.crt": cert("Ending CA", ca_key, ca=True, days=10),
            "leaf.crt": cert("kafka", leaf_key, ca=False), "other.key": key_pem(other_key)}


def pem(name: str) -> Callable[[], bytes]:
    return lambda: pems()[name]


# --- the table --------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    spec: str | dict[str, str]  # one spec file's text, or a spec directory: {file name: text}
    place: str  # expected "file:line:col"
    path: str  # expected spec path; "" for an error about the whole file
    message: str  # a fragment of the message (with its hint) on the same line
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str | bytes | Callable[[], bytes]] = field(default_factory=dict)  # more files, under specs/
    lines: int | None = None  # when set: exactly this many error lines
    bug: str | None = None  # a known bug in tlsgen/: the case is a strict xfail

    @property
    def argument(self) -> str:
        return "specs" if isinstance(self.spec, dict) else SPEC_FILE

    @property
    def prefix(self) -> str:
        return f"{self.place}: {self.path}: " if self.path else f"{self.place}: "


def y(text: str) -> str:
    return textwrap.dedent(text)


F = SPEC_FILE
ROOT = "version: 1\ncas:\n  root: {}\n"  # lines 1-3; a case's own lines start at 4
CALLISTO = y("""\
    version: 1
    cas:
      callisto-root: {validity: 14600d}
      callisto-issuing: {issuer: callisto-root, path_length: 0}
    """)  # lines 1-4

IMPORTED = y("""\
    version: 1
    cas:
      corp:
        import: {cert: corp.crt, key: {file: corp.key}}
    clients:
      app: {issuer: corp}
    """)

CASES = [
    # YAML itself
    Case("yaml-bad-indentation", ROOT + "   issuing: {}\n", f"{F}:4:4", "", "YAML syntax error"),
    Case("yaml-unclosed-bracket", ROOT + y("""\
        brokers:
          kafka: {issuer: root, hostnames: [kafka, localhost}
        clients:
          app: {issuer: root}
        """), f"{F}:5:53", "", "expected ',' or ']'"),
    Case("yaml-unclosed-brace-at-end", ROOT + y("""\
        brokers:
          kafka: {issuer: root, hostnames: [kafka, localhost]
        """), f"{F}:6:1", "", "opened at line 5, column 10"),
    Case("yaml-tab", "version: 1\ncas:\n\troot: {}\n", f"{F}:3:1", "", "cannot start any token"),
    Case("duplicate-key", ROOT + "  root: {validity: 100d}\n", f"{F}:4:3", "cas.root",
         "duplicate key 'root' (first written at line 3)"),
    Case("duplicate-key-nested", ROOT + y("""\
        brokers:
          kafka:
            issuer: root
            port: 9093
            port: 9094
        """), f"{F}:8:5", "brokers.kafka.port", "duplicate key 'port' (first written at line 7)"),
    Case("empty-file", "", f"{F}:1:1", "", "empty spec file"),
    Case("comments-only", "# nothing here yet\n", f"{F}:1:1", "", "empty spec file"),
    Case("top-level-list", "- version: 1\n", f"{F}:1:1", "", "a spec file must be a mapping of sections"),
    Case("top-level-text", "version 1\n", f"{F}:1:1", "", "a spec file must be a mapping of sections"),
    # version and unknown keys
    Case("missing-version", "cas:\n  root: {}\n", f"{F}:1:1", "version", "missing 'version: 1'"),
    Case("version-2", "version: 2\n", f"{F}:1:10", "version", "unsupported version 2 (this tlsgen reads version: 1)"),
    Case("version-yes", "version: yes\n", f"{F}:1:10", "version", "yes/no"),
    Case("unknown-top-level-key", "version: 1\ndefualts:\n  key: ec-p256\n", f"{F}:2:1", "defualts",
         "unknown key 'defualts' (did you mean 'defaults'?)"),
    Case("unknown-entity-key", ROOT + "brokers:\n  kafka:\n    issuer: root\n    prot: 9093\n", f"{F}:7:5",
         "brokers.kafka.prot", "unknown key 'prot' (did you mean 'port'?)"),
    Case("unknown-subject-key", "version: 1\ncas:\n  root:\n    subject:\n      orgnization: Example\n", f"{F}:5:7",
         "cas.root.subject.orgnization", "unknown key 'orgnization' (did you mean 'organization'?)"),
    # wrong types
    Case("port-not-a-number", ROOT + 'brokers:\n  kafka:\n    issuer: root\n    port: "abc"\n', f"{F}:7:11",
         "brokers.kafka.port", "expected a whole number, got 'abc'"),
    Case("port-yes", ROOT + "brokers:\n  kafka:\n    issuer: root\n    port: yes\n", f"{F}:7:11",
         "brokers.kafka.port", "expected a whole number, got a yes/no value"),
    Case("hostnames-not-a-list", ROOT + "brokers:\n  kafka:\n    issuer: root\n    hostnames: kafka\n", f"{F}:7:16",
         "brokers.kafka.hostnames", "expected a list such as [a, b], got 'kafka' (write [kafka])"),
    Case("country-no-unquoted", "version: 1\ndefaults:\n  subject:\n    country: NO\n", f"{F}:4:14",
         "defaults.subject.country", 'YAML reads NO as a yes/no value; quote it: "NO"'),
    # names
    Case("name-uppercase", ROOT + "brokers:\n  Kafka: {issuer: root}\n", f"{F}:5:3", "brokers.Kafka",
         "'Kafka' is not a valid name: use lowercase letters, digits and '-'"),
    Case("name-underscore", ROOT + "brokers:\n  kafka_1: {issuer: root}\n", f"{F}:5:3", "brokers.kafka_1",
         "'kafka_1' is not a valid name"),
    Case("name-too-long", ROOT + f"brokers:\n  {'k' * 64}: {{issuer: root}}\n", f"{F}:5:3", f"brokers.{'k' * 64}",
         "is longer than 63 characters"),
    Case("name-leading-dash", ROOT + "brokers:\n  -kafka: {issuer: root}\n", f"{F}:5:3", "brokers.-kafka",
         "'-kafka' is not a valid name"),
    Case("name-used-twice-across-sections", ROOT + "brokers:\n  kafka: {issuer: root}\nservers:\n  kafka: {issuer: root}\n",
         f"{F}:7:3", "servers.kafka", f"name 'kafka' is already used by broker 'kafka' at {F}:5:3"),
    Case("name-defined-twice-in-a-spec-directory", {
        "a.yaml": ROOT + "brokers:\n  kafka: {issuer: root}\n",
        "b.yaml": "version: 1\nbrokers:\n  kafka: {issuer: root, port: 9094}\n",
    }, "specs/b.yaml:3:3", "brokers.kafka", "name 'kafka' is defined twice: here and at specs/a.yaml:5:3"),
    # keys and durations
    Case("weak-key", "version: 1\ndefaults:\n  key: rsa-1024\n", f"{F}:3:8", "defaults.key",
         f"key type 'rsa-1024' is too weak; {ALLOWED_KEYS}"),
    Case("unknown-key-type", ROOT + "brokers:\n  kafka: {issuer: root, key: ed25519}\n", f"{F}:5:30", "brokers.kafka.key",
         f"unknown key type 'ed25519'; {ALLOWED_KEYS}"),
    Case("duration-without-unit", "version: 1\ndefaults:\n  validity: 365\n", f"{F}:3:13", "defaults.validity",
         "'365' is not a duration such as 365d or 12h (add a unit: d or h)"),
    Case("duration-zero", "version: 1\ndefaults:\n  validity: 0d\n", f"{F}:3:13", "defaults.validity",
         "a duration must be positive, not '0d'"),
    Case("duration-in-years", ROOT + "brokers:\n  kafka: {issuer: root, validity: 1y}\n", f"{F}:5:35",
         "brokers.kafka.validity", "'1y' is not a duration such as 365d or 12h"),
    Case("duration-negative", "version: 1\ndefaults:\n  renew_before: -5d\n", f"{F}:3:17", "defaults.renew_before",
         "'-5d' is not a duration"),
    Case("leaf-validity-beyond-issuer", "version: 1\ncas:\n  root: {validity: 100d}\nbrokers:\n  kafka:\n"
         "    issuer: root\n    validity: 200d\n", f"{F}:7:15", "brokers.kafka.validity",
         "validity 200d is beyond its issuer root's validity 100d"),
    Case("ca-validity-beyond-issuer", "version: 1\ncas:\n  root: {validity: 100d}\n  sub: {issuer: root, validity: 200d}\n",
         f"{F}:4:33", "cas.sub.validity", "validity 200d is beyond its issuer root's validity 100d"),
    Case("validity-not-longer-than-renew-before", ROOT + "brokers:\n  kafka:\n    issuer: root\n    validity: 30d\n",
         f"{F}:7:15", "brokers.kafka.validity", "validity 30d is not longer than renew_before 30d"),
    Case("validity-from-defaults-not-longer-than-renew-before",
         ROOT + "defaults:\n  validity: 20d\n  renew_before: 20d\nbrokers:\n  kafka: {issuer: root}\n",
         f"{F}:5:13", "defaults.validity", "validity 20d is not longer than renew_before 20d (at defaults.renew_before)"),
    Case("renew-before-in-defaults-longer-than-validity", ROOT + "defaults:\n  renew_before: 400d\nbrokers:\n"
         "  kafka: {issuer: root}\n", f"{F}:5:17", "defaults.renew_before",
         "validity 365d is not longer than renew_before 400d", lines=1),
    Case("validity-from-defaults-reported-once",
         ROOT + "defaults:\n  validity: 20d\nbrokers:\n  kafka: {issuer: root}\nclients:\n  app: {issuer: root}\n",
         f"{F}:5:13", "defaults.validity", "validity 20d is not longer than renew_before 30d", lines=1),
    Case("ca-validity-not-longer-than-renew-before", "version: 1\ncas:\n  root: {validity: 20d}\n", f"{F}:3:20",
         "cas.root.validity", "validity 20d is not longer than renew_before 30d"),
    # references
    Case("dangling-issuer-did-you-mean", CALLISTO + "clients:\n  kafka-tester:\n    issuer: issuing\n", f"{F}:7:13",
         "clients.kafka-tester.issuer", "no CA named 'issuing' (did you mean 'callisto-issuing'?)"),
    Case("dangling-broker", ROOT + "brokers:\n  kafka: {issuer: root}\nclients:\n  app: {issuer: root, brokers: [kafak]}\n",
         f"{F}:7:33", "clients.app.brokers[0]", "no broker named 'kafak' (did you mean 'kafka'?)"),
    Case("dangling-connects-to", ROOT + "servers:\n  mongodb: {issuer: root}\nworkers:\n"
         "  sink:\n    issuer: root\n    connects_to: [mongodb, postgres]\n", f"{F}:9:28", "workers.sink.connects_to[1]",
         "no server or broker named 'postgres'"),
    Case("dangling-trust", ROOT + "servers:\n  mongodb: {issuer: root, trust: [rot]}\n", f"{F}:5:35",
         "servers.mongodb.trust[0]", "no CA or trusted certificate named 'rot' (did you mean 'root'?)"),
    Case("client-brokers-names-a-server", ROOT + "servers:\n  mongodb: {issuer: root}\nclients:\n"
         "  app: {issuer: root, brokers: [mongodb]}\n", f"{F}:7:33", "clients.app.brokers[0]",
         "'mongodb' is a server, not a broker"),
    Case("ca-cycle", "version: 1\ncas:\n  a: {issuer: b}\n  b: {issuer: c}\n  c: {issuer: a}\n", f"{F}:3:15", "cas.a.issuer",
         "CA cycle: a → b → c → a"),
    Case("ca-issues-itself", "version: 1\ncas:\n  root: {issuer: root}\n", f"{F}:3:18", "cas.root.issuer",
         "CA cycle: root → root"),
    Case("path-length-exceeded", "version: 1\ncas:\n  root: {}\n  issuing: {issuer: root, path_length: 0}\n"
         "  team: {issuer: issuing}\n", f"{F}:5:18", "cas.team.issuer", "CA 'issuing' has path_length 0"),
    Case("issuer-is-trust-only-import", "version: 1\ncas:\n  corp:\n    import: {cert: corp.crt}\nbrokers:\n"
         "  kafka: {issuer: corp}\n", f"{F}:6:19", "brokers.kafka.issuer",
         "CA 'corp' is imported without its key, so it cannot issue", files={"corp.crt": pem("ca.crt")}),
    Case("import-cert-missing", "version: 1\ncas:\n  corp:\n    import: {cert: corp.crt}\n", f"{F}:4:20",
         "cas.corp.import.cert", "cannot read specs/corp.crt: No such file or directory"),
    Case("import-cert-not-a-ca", "version: 1\ncas:\n  corp:\n    import: {cert: kafka.crt}\n", f"{F}:4:20",
         "cas.corp.import.cert", "specs/kafka.crt is not a CA certificate", files={"kafka.crt": pem("leaf.crt")}),
    Case("import-key-not-matching", "version: 1\ncas:\n  corp:\n    import:\n      cert: corp.crt\n"
         "      key: {file: other.key}\n", f"{F}:6:12", "cas.corp.import.key",
         "this key does not belong to the certificate specs/corp.crt",
         files={"corp.crt": pem("ca.crt"), "other.key": pem("other.key")}),
    Case("import-ca-expired", IMPORTED, f"{F}:4:20", "cas.corp.import.cert", "expired",
         files={"corp.crt": pem("expired-ca.crt"), "corp.key": pem("ca.key")}),
    Case("import-ca-ends-within-renew-before", IMPORTED, f"{F}:4:20", "cas.corp.import.cert",
         "within renew_before 30d", files={"corp.crt": pem("ending-ca.crt"), "corp.key": pem("ca.key")}),
    Case("trusted-file-missing", "version: 1\ntrusted:\n  atlas-ca: {file: certs/atlas-ca.pem}\n", f"{F}:3:20",
         "trusted.atlas-ca.file", "cannot read specs/certs/atlas-ca.pem"),
    # SANs and ports
    Case("hostname-invalid", ROOT + "brokers:\n  kafka: {issuer: root, hostnames: [kafka, kafka_1.local]}\n", f"{F}:5:44",
         "brokers.kafka.hostnames[1]", "'kafka_1.local' is not a valid hostname"),
    Case("hostname-is-an-ip", ROOT + "brokers:\n  kafka: {issuer: root, hostnames: [kafka, 10.0.0.1]}\n", f"{F}:5:44",
         "brokers.kafka.hostnames[1]", "'10.0.0.1' is an IP address, not a hostname (move it to ip_addresses)"),
    Case("ip-invalid", ROOT + "brokers:\n  kafka: {issuer: root, ip_addresses: [127.0.0.1, 300.1.1.1]}\n", f"{F}:5:51",
         "brokers.kafka.ip_addresses[1]", "'300.1.1.1' is not an IPv4 or IPv6 address"),
    Case("hostname-duplicate", ROOT + "brokers:\n  kafka: {issuer: root, hostnames: [kafka, localhost, Kafka]}\n",
         f"{F}:5:55", "brokers.kafka.hostnames[2]", "hostname 'Kafka' is listed twice"),
    Case("broker-without-sans", ROOT + "brokers:\n  kafka: {issuer: root, hostnames: []}\n", f"{F}:5:36",
         "brokers.kafka.hostnames", "at least one hostname or IP address"),
    Case("server-without-sans", ROOT + "servers:\n  mongodb: {issuer: root, hostnames: []}\n", f"{F}:5:38",
         "servers.mongodb.hostnames", "at least one hostname or IP address"),
    Case("port-zero", ROOT + "brokers:\n  kafka: {issuer: root, port: 0}\n", f"{F}:5:31", "brokers.kafka.port",
         "must be at least 1, not 0"),
    Case("port-too-large", ROOT + "brokers:\n  kafka: {issuer: root, port: 70000}\n", f"{F}:5:31", "brokers.kafka.port",
         "must be at most 65535, not 70000"),
    Case("client-auth-invalid", ROOT + "servers:\n  mongodb: {issuer: root, client_auth: optional}\n", f"{F}:5:40",
         "servers.mongodb.client_auth", "unknown client_auth 'optional'; allowed: required, requested, none"),
    # images, stores, mounts, services
    Case("confluent-image-elsewhere", ROOT + "brokers:\n  kafka: {issuer: root, image: confluent, mount: /x}\n",
         f"{F}:5:50", "brokers.kafka.mount", "the confluent image reads its secrets from /etc/kafka/secrets, not /x"),
    Case("worker-pem-keystore", ROOT + "workers:\n  sink: {issuer: root, keystore: pem}\n", f"{F}:5:34",
         "workers.sink.keystore", "a worker's KAFKA_OPTS needs a pkcs12 or jks keystore, not pem"),
    Case("unknown-pkcs12-profile", ROOT + "clients:\n  app: {issuer: root, pkcs12: ancient}\n", f"{F}:5:31",
         "clients.app.pkcs12", "unknown pkcs12 profile 'ancient'; allowed: modern, legacy"),
    Case("owner-not-numeric", ROOT + "brokers:\n  kafka: {issuer: root, owner: 'kafka:kafka'}\n", f"{F}:5:32",
         "brokers.kafka.owner", "'kafka:kafka' must be UID or UID:GID, in numbers"),
    Case("mount-relative", ROOT + "brokers:\n  kafka: {issuer: root, mount: etc/kafka/secrets}\n", f"{F}:5:32",
         "brokers.kafka.mount", "'etc/kafka/secrets' must be an absolute"),
    Case("mount-root", ROOT + "brokers:\n  kafka: {issuer: root, mount: /}\n", f"{F}:5:32", "brokers.kafka.mount",
         "'/' must be"),
    Case("mount-dotdot", ROOT + "brokers:\n  kafka: {issuer: root, mount: /etc/../tmp}\n", f"{F}:5:32",
         "brokers.kafka.mount", "'/etc/../tmp' must be"),
    Case("same-service-and-mount", ROOT + "brokers:\n  kafka: {issuer: root}\nclients:\n  app: {issuer: root, service: kafka}\n",
         f"{F}:7:3", "clients.app", "'app' and 'kafka' both mount into service 'kafka' at /etc/kafka/secrets"),
    Case("empty-trust-list", ROOT + "clients:\n  app: {issuer: root, trust: []}\n", f"{F}:5:30", "clients.app.trust",
         "an empty trust list leaves an empty truststore"),
    # passwords
    Case("password-env-unset", ROOT + f"brokers:\n  kafka: {{issuer: root, password: {{env: {UNSET_ENV}}}}}\n",
         f"{F}:5:41", "brokers.kafka.password.env", f"environment variable {UNSET_ENV} is not set"),
    Case("password-file-missing", ROOT + "brokers:\n  kafka: {issuer: root, password: {file: kafka.password}}\n",
         f"{F}:5:42", "brokers.kafka.password.file", "cannot read specs/kafka.password"),
    Case("password-with-space", "version: 1\ndefaults:\n  password: {env: KAFKA_PW}\n" + ROOT[11:]
         + "brokers:\n  kafka: {issuer: root}\n", f"{F}:3:13", "defaults.password",
         "the password holds characters that env files, compose or KAFKA_OPTS cannot carry: space",
         env={"KAFKA_PW": "two words"}),
    Case("password-with-dollar", ROOT + "brokers:\n  kafka: {issuer: root, password: {env: KAFKA_PW}}\n", f"{F}:5:35",
         "brokers.kafka.password", "cannot carry: '$'", env={"KAFKA_PW": "pa$$word"}),
    Case("password-with-quote", ROOT + "brokers:\n  kafka: {issuer: root, password: {file: kafka.password}}\n",
         f"{F}:5:35", "brokers.kafka.password", "cannot carry: '\"'", files={"kafka.password": 'say"cheese"\n'}),
    Case("password-env-name-invalid", ROOT + "brokers:\n  kafka: {issuer: root, password: {env: 1PASSWORD}}\n",
         f"{F}:5:41", "brokers.kafka.password.env", "this is not an environment variable name", lines=1),
    Case("password-env-and-file", ROOT + "brokers:\n  kafka: {issuer: root, password: {env: A, file: b}}\n",
         f"{F}:5:35", "brokers.kafka.password", "give either env or file for the password, not both"),
    # output and compose
    Case("output-holds-the-spec", "version: 1\noutput: .\n", f"{F}:2:9", "output", "the spec"),
    Case("compose-file-absolute", "version: 1\ncompose:\n  file: /srv/compose.tls.yaml\n", f"{F}:3:9", "compose.file",
         "'/srv/compose.tls.yaml' must be a relative path inside the output directory"),
    Case("compose-file-dotdot", "version: 1\ncompose:\n  file: ../compose.tls.yaml\n", f"{F}:3:9", "compose.file",
         "'../compose.tls.yaml' must be a relative path inside the output directory"),
    Case("services-from-missing", "version: 1\ncompose: {services_from: compose.yaml}\n", f"{F}:2:26",
         "compose.services_from", "cannot read specs/compose.yaml: No such file or directory"),
    Case("services-from-a-directory", "version: 1\ncompose: {services_from: [ok.yaml, .]}\n", f"{F}:2:36",
         "compose.services_from[1]", "cannot read specs: it is a directory, not a file",
         files={"ok.yaml": "services: {}\n"}, lines=1),
    Case("services-from-empty", "version: 1\ncompose: {services_from: []}\n", f"{F}:2:26", "compose.services_from",
         "an empty list names no compose file; name one, or remove services_from"),
    Case("services-from-a-number", "version: 1\ncompose: {services_from: 7}\n", f"{F}:2:26", "compose.services_from",
         "expected a path or a list of paths, such as ../compose.yaml"),
    Case("services-from-a-line-break", 'version: 1\ncompose: {services_from: "a\\nb"}\n', f"{F}:2:26",
         "compose.services_from", "holds a line break or another control character"),
    Case("server-image-on-a-broker", ROOT + "brokers:\n  kafka: {issuer: root, image: mongo}\n", f"{F}:5:32",
         "brokers.kafka.image", "unknown image 'mongo'; allowed: apache, confluent, none"),
    Case("service-not-in-the-users-compose-file", ROOT + "compose: {services_from: c.yaml}\nservers:\n"
         "  mongo-db: {issuer: root}\n", f"{F}:6:3", "servers.mongo-db", "c.yaml defines no service 'mongo-db' (an "
         "entity's service defaults to its name); its services: mongodb (did you mean 'mongodb'?",
         files={"c.yaml": "services:\n  mongodb: {image: mongo}\n"}),
]
JSON_CASES = ("dangling-issuer-did-you-mean", "yaml-tab", "duplicate-key-nested", "name-defined-twice-in-a-spec-directory",
              "password-with-dollar", "service-not-in-the-users-compose-file")

assert len({c.id for c in CASES}) == len(CASES)


# --- running them ---------------------------------------------------------------------------------

# Runs each case in its own process, as `python -m tlsgen ARGS` would, without paying tlsgen's imports
# (~0.5 s) 80 times: this driver imports tlsgen once, then forks a child per case that changes to
# the case's directory, takes its environment, points fds 1 and 2 at files and runs the tlsgen
# module as __main__. An uncaught exception prints its traceback as the interpreter would.
DRIVER = r"""
import json, os, runpy, sys, traceback
import tlsgen.cli, tlsgen.model.read
tlsgen.cli.build_parser()  # imports every command module
results = {}
for job in json.load(sys.stdin):
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.chdir(job["cwd"])
            os.environ.update(job["env"])
            for fd, name in ((1, "stdout"), (2, "stderr")):
                os.dup2(os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
            sys.argv = ["tlsgen", *job["args"]]
            try:
                runpy.run_module("tlsgen", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
                code = 1
        finally:
            try:
                sys.stdout.flush(); sys.stderr.flush()
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    results[job["id"]] = os.waitstatus_to_exitcode(status)
print(json.dumps(results))
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Run:
    root: Path
    before: dict
    result: Result


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and directory under root: kind, bytes, mode and mtime (ns)."""
    result = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        result[str(path.relative_to(root))] = (path.is_dir(), content, st.st_mode, st.st_mtime_ns)
    return result


def make_project(root: Path, case: Case) -> None:
    """The case's spec and files, and an out/ left by an earlier apply."""
    specs = root / "specs"
    specs.mkdir(parents=True)
    texts = case.spec if isinstance(case.spec, dict) else {Path(SPEC_FILE).name: case.spec}
    for name, text in texts.items():
        (specs / name).write_text(text, encoding="utf-8")
    for name, content in case.files.items():
        target = specs / name
        target.parent.mkdir(parents=True, exist_ok=True)
        content = content() if callable(content) else content
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = root / "out" / "brokers" / "kafka"
    out.mkdir(parents=True)
    (out / "kafka.crt").write_text("-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n")
    (root / "out" / "notes.txt").write_text("mine, not tlsgen's\n")
    os.utime(root / "out" / "notes.txt", ns=(1_000_000_000, 1_000_000_000))


def assert_nothing_written(run: Run) -> None:
    """validate writes nothing: out/, and the whole project, are as they were: bytes, modes and mtimes."""
    after = snapshot(run.root)
    assert {k: v for k, v in after.items() if k.startswith("out")} == \
        {k: v for k, v in run.before.items() if k.startswith("out")}
    assert after == run.before


def selected(request, test_name: str) -> list[Case]:
    """The cases of this module's `test_name` that this session runs (all of them, unless -k narrows it)."""
    ids = {item.callspec.params["case"].id for item in request.session.items
           if item.module is request.module and item.originalname == test_name and hasattr(item, "callspec")}
    return [c for c in CASES if c.id in ids]


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory) -> dict[str, Run]:
    """`tlsgen validate` of every selected case, each in its own process (see DRIVER)."""
    captures = tmp_path_factory.mktemp("captures")
    jobs, prepared = [], {}
    for case in selected(request, "test_bad_spec"):
        root = tmp_path_factory.mktemp(case.id)
        make_project(root, case)
        prepared[case.id] = (root, snapshot(root))
        jobs.append({"id": case.id, "cwd": str(root), "args": ["validate", case.argument], "env": case.env,
                     "stdout": str(captures / f"{case.id}.out"), "stderr": str(captures / f"{case.id}.err")})
    if not jobs:
        return {}
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop(UNSET_ENV, None)
    driver = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(jobs), env=env,
                            capture_output=True, text=True, timeout=300)
    assert driver.returncode == 0, driver.stderr
    codes = json.loads(driver.stdout)
    return {job["id"]: Run(*prepared[job["id"]], Result(codes[job["id"]], Path(job["stdout"]).read_text(),
                                                        Path(job["stderr"]).read_text()))
            for job in jobs}


@pytest.fixture(scope="module")
def json_runs(request, tmp_path_factory) -> dict[str, Future]:
    """`tlsgen validate --json` of the selected JSON cases, each a real `python -m tlsgen` process."""
    pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1))

    def go(case: Case) -> Run:
        root = tmp_path_factory.mktemp(case.id + "-json")
        make_project(root, case)
        before = snapshot(root)
        return Run(root, before, tlsgen("validate", case.argument, "--json", cwd=root, env=case.env, timeout=120))

    futures = {case.id: pool.submit(go, case) for case in selected(request, "test_bad_spec_json")}
    yield futures
    pool.shutdown(wait=True)


def params(cases):
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=f"BUG: {c.bug}", strict=True)] if c.bug else [])
            for c in cases]


def place_key(line: str) -> tuple:
    file, line_no, column = line.split(":", 3)[:3]
    return file, int(line_no), int(column)


@pytest.mark.parametrize("case", params(CASES))
def test_bad_spec(case: Case, runs):
    run = runs[case.id]
    result = run.result
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines, "no error printed"
    matching = [line for line in lines if line.startswith(case.prefix)]
    assert matching, f"no line starts with {case.prefix!r}:\n{result.stderr}"
    assert any(case.message in line for line in matching), f"{case.message!r} not in:\n{result.stderr}"
    unplaced = [line for line in lines if not PLACED_LINE.match(line)]
    assert not unplaced, f"errors without a place: {unplaced}"
    assert lines == sorted(lines, key=place_key)
    if case.lines is not None:
        assert len(lines) == case.lines, result.stderr
    assert_nothing_written(run)


@pytest.mark.parametrize("case", params(c for c in CASES if c.id in JSON_CASES))
def test_bad_spec_json(case: Case, json_runs):
    run = json_runs[case.id].result()
    result = run.result
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1
    document = json.loads(result.stdout)  # one JSON document and nothing else on stdout
    assert sorted(document) == ["errors", "valid", "warnings"]  # the keys of a valid spec's document too
    assert document["valid"] is False and document["errors"], "no errors in the JSON"
    for error in document["errors"]:
        assert set(error) == {"file", "line", "column", "path", "message"}
        assert isinstance(error["line"], int) and isinstance(error["column"], int)
    file, line, column = case.place.rsplit(":", 2)
    expected = {"file": file, "line": int(line), "column": int(column), "path": case.path}
    assert any({k: e[k] for k in expected} == expected and case.message in e["message"]
               for e in document["errors"]), document
    # the human lines still go to stderr, one per error
    assert len(result.stderr.splitlines()) == len(document["errors"])
    assert_nothing_written(run)
