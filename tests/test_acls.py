"""Kafka principals and ACLs in what tlsgen writes: server.properties and the images' env files
(ssl.principal.mapping.rules, super.users), out/kafka-acls.sh run against a fake kafka-acls, and
`tlsgen status`.

The fake kafka-acls checks its command line the way Kafka's AclCommand does (option names, operation
names, which operations a resource type takes: core/src/main/scala/kafka/admin/AclCommand.scala and
server/src/main/java/org/apache/kafka/security/authorizer/AclEntry.java at apache/kafka
1eb7644349cb07139d6a3c1ad1986979647cac99), and keeps the ACLs it was given as a set, as the brokers do.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import tlsgen
from test_render import KAFKA_DOCUMENTED, _property_of, settings
from tlsgen import layout
from tlsgen.model.read import read_spec
from tlsgen.render import render_entity_files
from tlsgen.render.acls import render_acl_script
from tlsgen.render.inputs import Passwords

PW = Passwords(keystore="Ks-pass.1", truststore="Ts-pass.2", key="Ks-pass.1")
LOWER_CN = "RULE:^CN=([^,]+),.*$/$1/L"
SPEC = textwrap.dedent("""\
    version: 1
    output: ../out
    defaults:
      subject: {organization: "Acme, Inc.", country: GB}
    cas:
      root: {}
    kafka:
      principal_mapping_rules: ["RULE:^CN=([^,]+),.*$/$1/L", DEFAULT]
      super_users: ["User:break-glass"]
      admin: ops
    brokers:
      kafka: {issuer: root, image: confluent}
      kafka-2: {issuer: root, image: apache}
    clients:
      ops: {issuer: root, brokers: [kafka]}
      billing:
        issuer: root
        brokers: [kafka]
        subject: {common_name: Billing-App}
        acls:
          - {topic: invoices, operations: [read, describe]}
          - {topic: invoices, operations: [describe]}
          - {group: billing, operations: [read]}
          - {topic: "audit-", pattern: prefixed, operations: [write]}
          - {topic: "-odd", operations: [read]}
          - {cluster: true, operations: [idempotent_write]}
          - {transactional_id: "billing tx", operations: [write, describe], allow: false, host: "::1"}
    workers:
      sink:
        issuer: root
        brokers: [kafka, kafka-2]
        acls:
          - {group: connect-sink, operations: [read]}
          - {topic: "*", operations: [read]}
    """)


def project(tmp_path: Path, text: str = SPEC) -> Path:
    (tmp_path / "specs").mkdir(parents=True, exist_ok=True)
    (tmp_path / "specs/tlsgen.yaml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def spec(tmp_path):
    return read_spec(project(tmp_path) / "specs")


def broker_files(spec, name: str) -> dict[str, str]:
    return render_entity_files(spec, spec.entities[name], PW)


def properties_value(text: str) -> str:
    """A value as java.util.Properties.load reads it (the escapes tlsgen writes: \\\\, \\ , \\uXXXX)."""
    return re.sub(r"\\u([0-9a-f]{4})|\\(.)", lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2), text)


# --- the brokers' settings ----------------------------------------------------------------------------

def test_server_properties_carry_the_rules_and_the_super_users(spec):
    found = dict(settings(broker_files(spec, "kafka")["server.properties"]))
    assert found["ssl.principal.mapping.rules"] == "RULE:^CN=([^,]+),.*$/$1/L,DEFAULT"
    # the spec's own, then the admin client, then every broker, each as the rules map it
    assert found["super.users"] == "User:break-glass;User:ops;User:kafka;User:kafka-2"
    assert set(found) <= KAFKA_DOCUMENTED


def test_without_a_kafka_section_server_properties_say_nothing_of_principals(tmp_path):
    """Control: Kafka's defaults (DEFAULT, no super users) are left to Kafka; no script is made."""
    spec = read_spec(project(tmp_path, "version: 1\ncas:\n  root: {}\nbrokers:\n  kafka: {issuer: root}\n") / "specs")
    text = broker_files(spec, "kafka")["server.properties"]
    assert "ssl.principal.mapping.rules" not in text and "super.users" not in text
    assert layout.ACL_SCRIPT not in {a.path for a in layout.artifacts(spec)}


def test_super_users_without_acls_still_name_the_brokers(tmp_path):
    spec = read_spec(project(tmp_path, "version: 1\ncas:\n  root: {}\nkafka: {super_users: ['User:admin']}\n"
                                       "brokers:\n  kafka: {issuer: root}\n") / "specs")
    found = dict(settings(broker_files(spec, "kafka")["server.properties"]))
    assert found["super.users"] == "User:admin;User:CN=kafka" and "ssl.principal.mapping.rules" not in found


@pytest.mark.parametrize("broker", ["kafka", "kafka-2"])  # confluent and apache images
def test_env_file_sets_what_env_files_carry_and_names_the_compose_line_for_the_rest(spec, broker):
    text = broker_files(spec, f"{broker}")[f"{broker}.env"]
    values = dict(settings(text))
    assert values["KAFKA_SUPER_USERS"] == "User:break-glass;User:ops;User:kafka;User:kafka-2"
    assert _property_of("KAFKA_SUPER_USERS") == "super.users"
    # the rules hold `$`, which Compose's env_file readers change: not set here, but said for environment:
    assert "KAFKA_SSL_PRINCIPAL_MAPPING_RULES" not in values
    line = re.search(r"^#   (KAFKA_SSL_PRINCIPAL_MAPPING_RULES: .*)$", text, re.M).group(1)
    written = yaml.safe_load(line)["KAFKA_SSL_PRINCIPAL_MAPPING_RULES"].replace("$$", "$")
    assert properties_value(written) == "RULE:^CN=([^,]+),.*$/$1/L,DEFAULT"
    assert _property_of("KAFKA_SSL_PRINCIPAL_MAPPING_RULES") == "ssl.principal.mapping.rules"


def test_a_rule_env_files_can_carry_is_set_there(tmp_path):
    """Control: a rule without `$`, space or backslash goes into the env file itself."""
    text = SPEC.replace('["RULE:^CN=([^,]+),.*$/$1/L", DEFAULT]', '["RULE:^CN=(ops),O=.*/admin/", DEFAULT]')
    spec = read_spec(project(tmp_path, text) / "specs")
    values = dict(settings(broker_files(spec, "kafka")["kafka.env"]))
    assert values["KAFKA_SSL_PRINCIPAL_MAPPING_RULES"] == "RULE:^CN=(ops),O=.*/admin/,DEFAULT"


def test_backslashes_are_escaped_for_properties_files(tmp_path):
    rule = "RULE:^CN=(\\\\w+)\\\\s*,.*$/$1/U"  # the YAML for RULE:^CN=(\w+)\s*,.*$/$1/U
    spec = read_spec(project(tmp_path, SPEC.replace('"RULE:^CN=([^,]+),.*$/$1/L"', f'"{rule}"')) / "specs")
    files = broker_files(spec, "kafka")
    written = dict(settings(files["server.properties"]))["ssl.principal.mapping.rules"]
    assert written == "RULE:^CN=(\\\\w+)\\\\s*,.*$/$1/U,DEFAULT"
    assert properties_value(written) == "RULE:^CN=(\\w+)\\s*,.*$/$1/U,DEFAULT"
    line = re.search(r"^#   (KAFKA_SSL_PRINCIPAL_MAPPING_RULES: .*)$", files["kafka.env"], re.M).group(1)
    assert properties_value(yaml.safe_load(line)["KAFKA_SSL_PRINCIPAL_MAPPING_RULES"].replace("$$", "$")) == \
        "RULE:^CN=(\\w+)\\s*,.*$/$1/U,DEFAULT"


# --- out/kafka-acls.sh --------------------------------------------------------------------------------

ACL_COMMAND_OPTIONS = {"bootstrap-server", "command-config", "add", "allow-principal", "deny-principal",
                       "allow-host", "deny-host", "topic", "group", "cluster", "transactional-id",
                       "resource-pattern-type", "operation"}
SUPPORTED = {  # AclEntry.supportedOperations, in kafka-acls' spelling; ALL is valid for each
    "topic": {"Read", "Write", "Create", "Describe", "Delete", "Alter", "DescribeConfigs", "AlterConfigs"},
    "group": {"Read", "Describe", "Delete", "DescribeConfigs", "AlterConfigs"},
    "cluster": {"Create", "ClusterAction", "DescribeConfigs", "AlterConfigs", "IdempotentWrite", "Alter", "Describe"},
    "transactional-id": {"Describe", "Write"},
}
FAKE = '''\
import json, os, sys
options = {OPTIONS!r}
supported = {SUPPORTED!r}
args, seen = sys.argv[1:], {{}}
words = iter(args)
for arg in words:  # joptsimple: --name=value, or --name value for an option that takes one
    name, given, value = arg[2:].partition("=")
    if not arg.startswith("--") or name not in options:
        sys.exit(f"kafka-acls: unknown option {{arg}}")
    if not given and name not in ("add", "cluster"):
        value = next(words)
    seen.setdefault(name, []).append(value)
assert "add" in seen and seen["bootstrap-server"] and os.path.isfile(seen["command-config"][0]), args
who = "allow" if "allow-principal" in seen else "deny"
(resource,) = [r for r in supported if r in seen]
name = "kafka-cluster" if resource == "cluster" else seen[resource][0]
for op in seen["operation"]:
    if op not in supported[resource] | {{"All"}}:
        sys.exit(f"ResourceType {{resource}} only supports operations {{supported[resource]}}")
with open(os.environ["FAKE_LOG"], "a") as log:
    for op in seen["operation"]:
        binding = [resource, name, seen.get("resource-pattern-type", ["literal"])[0], seen[who + "-principal"][0],
                   seen.get(who + "-host", ["*"])[0], op, who]
        log.write(json.dumps(binding) + "\\n")
'''


@pytest.fixture
def fake_kafka_acls(tmp_path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "kafka-acls"
    tool.write_text(f"#!{sys.executable}\n" + FAKE.format(OPTIONS=ACL_COMMAND_OPTIONS, SUPPORTED=SUPPORTED))
    tool.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "acls.log")}


def run_script(script: Path, env: dict[str, str], *args: str) -> list[tuple]:
    """The bindings one run of the script adds, in order (the fake's log lines of this run)."""
    log = Path(env["FAKE_LOG"])
    log.unlink(missing_ok=True)
    result = subprocess.run(["bash", str(script), *args], env={**os.environ, **env}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return [tuple(json.loads(line)) for line in log.read_text().splitlines()]


@pytest.fixture
def applied(tmp_path):
    root = project(tmp_path)
    result = tlsgen("apply", "specs", cwd=root)
    assert result.returncode == 0, result.stderr
    (root / "admin.properties").write_text("security.protocol=SSL\n")
    return root


def test_the_script_is_valid_bash_executable_and_holds_no_secret(applied):
    script = applied / "out" / layout.ACL_SCRIPT
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    text = script.read_text()
    passwords = {(applied / "out" / d / "keystore.password").read_text() for d in ("clients/ops", "clients/billing")}
    assert not any(p in text for p in passwords)
    assert "default_config=/etc/kafka/secrets/client.properties" in text and "default_bootstrap=kafka:9093" in text


def test_running_the_script_twice_adds_the_same_bindings_each_once(applied, fake_kafka_acls):
    script = applied / "out" / layout.ACL_SCRIPT
    first = run_script(script, fake_kafka_acls, str(applied / "admin.properties"))
    second = run_script(script, fake_kafka_acls, str(applied / "admin.properties"))
    assert len(first) == len(set(first)) and set(first) == set(second)
    assert set(first) == {
        ("topic", "invoices", "literal", "User:billing-app", "*", "Read", "allow"),
        ("topic", "invoices", "literal", "User:billing-app", "*", "Describe", "allow"),
        ("group", "billing", "literal", "User:billing-app", "*", "Read", "allow"),
        ("topic", "audit-", "prefixed", "User:billing-app", "*", "Write", "allow"),
        ("topic", "-odd", "literal", "User:billing-app", "*", "Read", "allow"),
        ("cluster", "kafka-cluster", "literal", "User:billing-app", "*", "IdempotentWrite", "allow"),
        ("transactional-id", "billing tx", "literal", "User:billing-app", "0:0:0:0:0:0:0:1", "Write", "deny"),
        ("transactional-id", "billing tx", "literal", "User:billing-app", "0:0:0:0:0:0:0:1", "Describe", "deny"),
        ("group", "connect-sink", "literal", "User:sink", "*", "Read", "allow"),
        ("topic", "*", "literal", "User:sink", "*", "Read", "allow"),
    }


def test_the_comparison_sees_a_duplicate_and_a_changed_binding(applied, fake_kafka_acls, tmp_path):
    """Negative controls: a script that adds a binding twice, or a spec with another ACL, is caught."""
    script = applied / "out" / layout.ACL_SCRIPT
    doubled = tmp_path / "doubled.sh"
    last = script.read_text().rstrip("\n").rsplit("\n", 1)[1]
    doubled.write_text(script.read_text() + last + "\n")
    run = run_script(doubled, fake_kafka_acls, str(applied / "admin.properties"))
    assert len(run) != len(set(run))
    changed = read_spec(project(tmp_path / "other", SPEC.replace("{group: billing,", "{group: billing-2,")) / "specs")
    (tmp_path / "changed.sh").write_text(render_acl_script(changed))
    assert set(run_script(tmp_path / "changed.sh", fake_kafka_acls, str(applied / "admin.properties"))) != set(run)


def test_the_fake_refuses_what_kafka_acls_refuses(tmp_path, fake_kafka_acls):
    """Control for the fake itself: an operation a group does not take fails as AclCommand fails."""
    script = tmp_path / "bad.sh"
    config = tmp_path / "admin.properties"
    config.write_text("")
    script.write_text(f"kafka-acls --bootstrap-server=k:1 --command-config={config} --add "
                      "--allow-principal=User:x --group=g --operation=Write\n")
    result = subprocess.run(["bash", str(script)], env={**os.environ, **fake_kafka_acls}, capture_output=True,
                            text=True)
    assert result.returncode != 0 and "ResourceType group only supports" in result.stderr


def test_the_script_needs_a_readable_properties_file_and_the_tool(applied, fake_kafka_acls, tmp_path):
    script = applied / "out" / layout.ACL_SCRIPT
    env = {**os.environ, **fake_kafka_acls}
    missing = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)  # the admin's mount path
    assert missing.returncode == 1 and "cannot read /etc/kafka/secrets/client.properties" in missing.stderr
    no_tool = subprocess.run(["bash", str(script), str(applied / "admin.properties")], capture_output=True, text=True,
                             env={**os.environ, "PATH": "/usr/bin:/bin", "FAKE_LOG": str(tmp_path / "x")})
    assert no_tool.returncode == 1 and "no kafka-acls or kafka-acls.sh on PATH" in no_tool.stderr


def test_without_an_admin_the_script_asks_for_the_properties_file(tmp_path, fake_kafka_acls):
    spec = read_spec(project(tmp_path, SPEC.replace("  admin: ops\n", "")) / "specs")
    script = tmp_path / layout.ACL_SCRIPT
    script.write_text(render_acl_script(spec))
    result = subprocess.run(["bash", str(script)], env={**os.environ, **fake_kafka_acls}, capture_output=True,
                            text=True)
    assert result.returncode == 2 and "usage: kafka-acls.sh ADMIN.properties" in result.stderr
    assert "default_bootstrap=kafka:9093,kafka-2:9093" in script.read_text()  # every broker, without an admin


def test_removing_every_acl_deletes_the_script(applied):
    text = re.sub(r"    acls:\n(      - .*\n)+", "", SPEC)
    assert "acls" not in text
    (applied / "specs/tlsgen.yaml").write_text(text)
    plan = tlsgen("plan", "specs", "--json", cwd=applied)
    assert {(c["path"], c["action"]) for c in json.loads(plan.stdout)["changes"]} >= {(layout.ACL_SCRIPT, "delete")}


# --- tlsgen status -------------------------------------------------------------------------------------

def test_status_shows_principals_under_the_rules_and_the_bindings(applied):
    result = tlsgen("status", "specs", "--json", cwd=applied)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    principals = {i["name"]: i["kafka_principal"] for i in doc["items"]}
    assert principals == {"root": None, "kafka": "User:kafka", "kafka-2": "User:kafka-2", "ops": "User:ops",
                          "billing": "User:billing-app", "sink": "User:sink"}
    assert doc["acls"][0] == {"entity": "billing", "principal": "User:billing-app", "resource_type": "topic",
                              "name": "invoices", "pattern": "literal", "operation": "read", "permission": "allow",
                              "host": "*"}
    assert len(doc["acls"]) == 10
    text = tlsgen("status", "specs", cwd=applied).stdout
    assert "  Kafka       User:billing-app\n  ACL         allow read, describe on topic invoices\n" in text
    assert "  ACL         deny write, describe on transactional id billing tx from 0:0:0:0:0:0:0:1\n" in text


def test_status_without_rules_shows_the_rfc_2253_principal(tmp_path):
    """Control: with Kafka's DEFAULT rule the principal is the whole subject."""
    root = project(tmp_path, "version: 1\noutput: ../out\ncas:\n  root: {}\nclients:\n  app: {issuer: root, "
                             "subject: {organization: 'Acme, Inc.'}}\n")
    assert tlsgen("apply", "specs", cwd=root).returncode == 0
    doc = json.loads(tlsgen("status", "specs", "--json", cwd=root).stdout)
    assert [i["kafka_principal"] for i in doc["items"] if i["name"] == "app"] == ["User:CN=app,O=Acme\\, Inc."]
    assert doc["acls"] == []
