"""The principals `tlsgen status` reports for a spec with mapping rules are what Kafka's mapping gives, in Java.

For each spec: `tlsgen apply` in a temporary directory, `tlsgen status --json`; then PrincipalProbe
(tests/interop/PrincipalProbe.java, Kafka's SslPrincipalMapper step by step on java.util.regex) prints
X500Principal.getName() of every certificate tlsgen wrote and maps it with the spec's
ssl.principal.mapping.rules value as written into server.properties. Each entity's kafka_principal
must be "User:" + Java's name, and the principals of `status --json`'s acls must be the same ones.
Subjects need RFC 2253 escaping (',' '+' '"' ';' '<' '#', leading spaces, non-ASCII) and rules use
captures, case changes, escaped commas and fall through to DEFAULT.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from conftest import tlsgen
from interop.test_principals_java import java_names, java_outcomes, probe  # noqa: F401 (probe is a fixture)

SUBJECTS = {  # entity -> its subject; defaults.subject adds O and C
    "kafka": {"common_name": "Kafka-Broker"},
    "app": {"organizational_unit": 'R+D "Labs"; <Ops>', "common_name": "App-One"},
    "hash": {"organizational_unit": "Team#1 (a=b)", "common_name": "#Hash"},
    "spaces": {"organizational_unit": "  two leading", "common_name": "Zoë Ørsted"},
    "tkac": {"common_name": "Tkac, Adam"},
    "sink": {"organizational_unit": "Connect", "common_name": "SINK"},
}
RULE_SETS = {
    "lower-cn": ["RULE:^CN=([^,]+),.*$/$1/L", "DEFAULT"],
    "ou-at-cn": ["RULE:^CN=(.*?),OU=([^,]*),O=.*$/$2@$1/U", "DEFAULT"],
    "escaped-comma": ["RULE:^CN=((\\\\, |[^,])+),O=Acme.*$/$1/", "RULE:^CN=([^,]+),.*$/cn-$1/L"],
}


def spec_text(rules: list[str]) -> str:
    entities = {name: {"issuer": "root", "subject": subject} for name, subject in SUBJECTS.items()}
    brokers = {"kafka": entities.pop("kafka")}
    workers = {"sink": {**entities.pop("sink"), "brokers": ["kafka"], "acls": [{"topic": "sink-", "pattern": "prefixed",
                                                                               "operations": ["write"]}]}}
    clients = {name: {**e, "brokers": ["kafka"], "acls": [{"topic": "t", "operations": ["read"]}]}
               for name, e in entities.items()}
    return yaml.safe_dump({"version": 1, "output": "../out", "defaults": {"subject": {"organization": "Acme, Inc.",
                                                                                      "country": "GB"}},
                           "kafka": {"principal_mapping_rules": rules}, "cas": {"root": {}},
                           "brokers": brokers, "clients": clients, "workers": workers}, allow_unicode=True)


@pytest.fixture(scope="module", params=list(RULE_SETS))
def applied(request, tmp_path_factory) -> tuple[str, Path, dict]:
    root = tmp_path_factory.mktemp(request.param)
    (root / "specs").mkdir()
    (root / "specs/tlsgen.yaml").write_text(spec_text(RULE_SETS[request.param]), encoding="utf-8")
    result = tlsgen("apply", "specs", cwd=root)
    assert result.returncode == 0, result.stderr
    status = tlsgen("status", "specs", "--json", cwd=root)
    assert status.returncode == 0, status.stderr
    return request.param, root, json.loads(status.stdout)


def java_principals(probe, root: Path, rules_value: str, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    """Entity -> "User:" + the name Java's mapping gives the subject of the certificate tlsgen wrote."""
    certs = {p.parent.name: x509.load_pem_x509_certificate(p.read_bytes())
             for kind in ("brokers", "clients", "workers") for p in (root / "out" / kind).glob("*/*.crt")}
    names = dict(zip(certs, java_names(probe, list(certs.values()), tmp_path)))
    outcomes = java_outcomes(probe, [([rules_value], names[name]) for name in certs])
    assert all(kind == "NAME" for kind, _ in outcomes), outcomes
    return {name: f"User:{detail}" for name, (_, detail) in zip(certs, outcomes)}


def server_properties_rules(root: Path) -> str:
    line = next(line for line in (root / "out/brokers/kafka/server.properties").read_text().splitlines()
                if line.startswith("ssl.principal.mapping.rules="))
    return line.partition("=")[2].replace("\\\\", "\\")  # Properties.load's reading of tlsgen's escapes


def test_status_principals_are_javas_mapping_of_the_written_certificates(applied, probe, tmp_path):  # noqa: F811
    name, root, status = applied
    java = java_principals(probe, root, server_properties_rules(root), tmp_path)
    reported = {item["name"]: item["kafka_principal"] for item in status["items"] if item["kind"] != "cas"}
    assert reported == java
    assert {b["entity"]: b["principal"] for b in status["acls"]} == {e: java[e] for e in SUBJECTS if e != "kafka"}
    assert len(set(java.values())) == len(java)  # the rules keep every entity apart
    if name == "lower-cn":
        assert java["app"] == "User:app-one" and java["tkac"] == "User:tkac\\"  # '\' of "Tkac\, Adam" is in the CN
    if name == "escaped-comma":
        assert java["tkac"] == "User:Tkac\\, Adam" and java["kafka"] == "User:Kafka-Broker"


def test_the_comparison_sees_a_principal_mapped_without_the_rules(applied, probe, tmp_path):  # noqa: F811
    """Negative control: Java's DEFAULT mapping of the same certificates differs from what status reports."""
    _, root, status = applied
    default = java_principals(probe, root, "DEFAULT", tmp_path)
    reported = {item["name"]: item["kafka_principal"] for item in status["items"] if item["kind"] != "cas"}
    assert default != reported and java_principals(probe, root, server_properties_rules(root), tmp_path) == reported
