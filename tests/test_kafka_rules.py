"""tlsgen.model.kafka_rules and spec/kafka.py: the spec's Kafka principals, super users and ACLs.

As in test_rules.py, each row runs the real loader, schema and resolver on a small spec, then only the
rule under test, and compares every line it reports (place, path, message and hint); each rule has a
row where it fires and a control row where the spec, put right, gives nothing. Schema errors (what
pydantic refuses) and the CLI's warnings come after.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import tlsgen
from rule_rows import ROOT, Row, draft_of
from tlsgen.diagnostics import UserError
from tlsgen.model import kafka_rules, rules
from tlsgen.model.read import read_spec

BROKER = "brokers:\n  kafka: {issuer: root}\n"
LOWER_CN = "RULE:^CN=([^,]+)$/$1/L"


def rules_of(*items: str) -> str:
    return "kafka:\n  principal_mapping_rules:\n" + "".join(f"    - {json.dumps(item)}\n" for item in items)


ROWS = [
    Row("mapping-rules", kafka_rules.mapping_rules, ROOT + rules_of(LOWER_CN, "RULE:^CN=(.*$/$1/", "RULE:^CN=\\Q.\\E$/x/",
                                                                    "RULE:^CN=(.*)$/${name}/", "DEFAULT/L"),
        ["tls.yaml:7:7: kafka.principal_mapping_rules[1]: Kafka refuses this rule at startup: its Java regex is "
         "invalid (unclosed group)",
         "tls.yaml:8:7: kafka.principal_mapping_rules[2]: tlsgen cannot predict what Kafka does with \\Q...\\E quoting "
         "(escape each special character with a backslash instead); rewrite the rule without it",
         "tls.yaml:9:7: kafka.principal_mapping_rules[3]: Kafka accepts this rule, but its replacement fails on every "
         "subject the rule matches, so those clients cannot authenticate (No group with name {name})",
         "tls.yaml:10:7: kafka.principal_mapping_rules[4]: Kafka refuses this rule at startup: `/L` is left over; a "
         "rule is DEFAULT or RULE:pattern/replacement/ with an optional L or U"]),
    Row("mapping-rules-two-in-one-item", kafka_rules.mapping_rules, ROOT + rules_of(LOWER_CN + ",DEFAULT"),
        ["tls.yaml:6:7: kafka.principal_mapping_rules[0]: Kafka reads this item as 2 rules (it splits at the commas "
         "between rules); write one rule per item"]),
    Row("mapping-rules-empty", kafka_rules.mapping_rules, ROOT + "kafka: {principal_mapping_rules: []}\n",
        ["tls.yaml:4:34: kafka.principal_mapping_rules: an empty list maps no certificate, so Kafka would refuse every "
         "client (remove it to use DEFAULT, or list rules)"]),
    Row("mapping-rules-control", kafka_rules.mapping_rules, ROOT + rules_of(LOWER_CN, "DEFAULT"), []),
    Row("mapped-entities", kafka_rules.mapped_entities,
        ROOT + rules_of(LOWER_CN) + BROKER + "clients:\n  app: {issuer: root, subject: {organization: Acme}}\n"
        "servers:\n  mongodb: {issuer: root, subject: {organization: Acme}}\n",
        ["tls.yaml:10:3: clients.app: no principal mapping rule matches its subject CN=app,O=Acme, so Kafka refuses its "
         "authentication (SslPrincipalMapper: NoMatchingRule) (add a rule that matches it to "
         "kafka.principal_mapping_rules, or end them with DEFAULT)"]),
    Row("mapped-entities-follow-on", kafka_rules.mapped_entities,
        ROOT + rules_of("RULE:^CN=(x$/$1/") + "clients:\n  app: {issuer: root, subject: {organization: Acme}}\n", []),
    Row("mapped-entities-control", kafka_rules.mapped_entities,
        ROOT + rules_of(LOWER_CN, "DEFAULT") + BROKER + "clients:\n  app: {issuer: root, subject: {organization: Acme}}\n",
        []),
    Row("super-users", kafka_rules.super_users, ROOT + BROKER + "servers:\n  mongodb: {issuer: root}\nclients:\n"
        "  semi: {issuer: root, subject: {common_name: 'a;b'}}\n"
        "kafka:\n  super_users: [kafak, mongodb, 'User:x;y', 'User:', semi, ' User:a']\n",
        ["tls.yaml:11:17: kafka.super_users[0]: no broker, client or worker named 'kafak' (did you mean 'kafka'?)",
         "tls.yaml:11:24: kafka.super_users[1]: 'mongodb' is a server, which does not connect to Kafka (name a broker, "
         "client or worker, or write a principal such as User:admin)",
         "tls.yaml:11:33: kafka.super_users[2]: 'User:x;y' is not a principal Kafka takes in super.users: it holds ';', "
         "where Kafka splits super.users",
         "tls.yaml:11:45: kafka.super_users[3]: 'User:' is not a principal Kafka takes in super.users: a principal is "
         "TYPE:NAME, such as User:admin",
         "tls.yaml:11:54: kafka.super_users[4]: client 'semi' maps to User:CN=a\\;b, which super.users cannot hold: it "
         "holds ';', where Kafka splits super.users (map it to another name with a rule in kafka.principal_mapping_rules)",
         "tls.yaml:11:60: kafka.super_users[5]: ' User:a' is not a principal Kafka takes in super.users: it starts or "
         "ends with a space, which Kafka trims from each super.users entry"]),
    Row("super-users-implied-broker", kafka_rules.super_users,
        ROOT + "brokers:\n  kafka: {issuer: root, subject: {common_name: 'k;1'}}\nkafka: {super_users: ['User:admin']}\n",
        ["tls.yaml:5:3: brokers.kafka: broker 'kafka' maps to User:CN=k\\;1, which super.users cannot hold: it holds ';', "
         "where Kafka splits super.users (map it to another name with a rule in kafka.principal_mapping_rules)"]),
    Row("super-users-control", kafka_rules.super_users, ROOT + BROKER + "clients:\n  app: {issuer: root}\n"
        "kafka: {super_users: [app, 'User:admin', 'Group:ops']}\n", []),
    Row("admin", kafka_rules.admin, ROOT + BROKER + "clients:\n  ops: {issuer: root}\nkafka: {admin: opps}\n",
        ["tls.yaml:8:16: kafka.admin: no client named 'opps' (did you mean 'ops'?)"]),
    Row("admin-not-a-client", kafka_rules.admin, ROOT + BROKER + "kafka: {admin: kafka}\n",
        ["tls.yaml:6:16: kafka.admin: 'kafka' is a broker, not a client: kafka-acls.sh runs with a client's "
         "client.properties (name a client)"]),
    Row("admin-control", kafka_rules.admin, ROOT + BROKER + "clients:\n  ops: {issuer: root}\nkafka: {admin: ops}\n", []),
    Row("acls", kafka_rules.acls, ROOT + "workers:\n  sink:\n    issuer: root\n    acls:\n"
        "      - {cluster: true, pattern: prefixed, operations: [read, idempotent_write]}\n"
        "      - {topic: 'a b', operations: []}\n"
        "      - {group: '*', pattern: prefixed, operations: [read], host: kafka.example}\n"
        "      - {transactional_id: tx, operations: [read], host: 'fe80::1%eth0'}\n"
        "      - {topic: 'x*', operations: [describe_configs]}\n"
        '      - {group: "con\\nsumers", operations: [read]}\n',
        ["tls.yaml:8:57: workers.sink.acls[0].operations[0]: a cluster does not take the operation read: kafka-acls "
         "refuses the pair (AclEntry.supportedOperations) (a cluster takes all, create, cluster_action, "
         "describe_configs, alter_configs, idempotent_write, alter, describe)",
         "tls.yaml:8:34: workers.sink.acls[0].pattern: the cluster has one name, kafka-cluster, so it takes no pattern "
         "(kafka-acls ignores --cluster with a prefixed pattern) (remove pattern)",
         "tls.yaml:9:36: workers.sink.acls[1].operations: a binding with no operations allows or denies nothing "
         "(list them, such as [read, describe])",
         "tls.yaml:9:17: workers.sink.acls[1].topic: 'a b' is not a Kafka topic name: Kafka's topics are letters, "
         "digits, '.', '_' and '-', at most 249, and not . or .. (rename it, such as billing.invoices)",
         "tls.yaml:10:17: workers.sink.acls[2].group: with pattern: prefixed, '*' is a literal first character, not "
         "every group (remove pattern: only with the literal pattern is '*' every group)",
         "tls.yaml:10:67: workers.sink.acls[2].host: 'kafka.example' is not an IP address: Kafka compares a binding's "
         "host with the client's IP address, so a host name (or a zone) never matches (write the client's IP address, "
         "or '*' for any)",
         "tls.yaml:11:45: workers.sink.acls[3].operations[0]: a transactional_id does not take the operation read: "
         "kafka-acls refuses the pair (AclEntry.supportedOperations) (a transactional_id takes all, describe, write)",
         "tls.yaml:11:58: workers.sink.acls[3].host: 'fe80::1%eth0' is not an IP address: Kafka compares a binding's "
         "host with the client's IP address, so a host name (or a zone) never matches (write the client's IP address, "
         "or '*' for any)",
         "tls.yaml:12:17: workers.sink.acls[4].topic: 'x*' is not a Kafka topic name: Kafka's topics are letters, "
         "digits, '.', '_' and '-', at most 249, and not . or .. (for every topic write topic: '*')",
         "tls.yaml:13:17: workers.sink.acls[5].group: the group name holds a control character (such as a newline), "
         "which kafka-acls.sh would pass on the command line (remove it)"]),
    Row("acls-control", kafka_rules.acls, ROOT + "workers:\n  sink:\n    issuer: root\n    acls:\n"
        "      - {cluster: kafka-cluster, operations: [idempotent_write, all]}\n"
        "      - {topic: '*', operations: [read, describe_configs]}\n"
        "      - {group: 'connect-', pattern: prefixed, operations: [read, delete], host: '10.0.0.1'}\n"
        "      - {transactional_id: tx, operations: [write], host: '::1', allow: false}\n", []),
    Row("shared-principals", kafka_rules.shared_principals,
        ROOT + rules_of("RULE:^CN=[^,]+,OU=Apps$/apps/", "DEFAULT") + BROKER +
        "clients:\n  a: {issuer: root, subject: {organizational_unit: Apps}}\n"
        "  b: {issuer: root, subject: {organizational_unit: Apps}}\n",
        ["tls.yaml:12:3: clients.b: maps to principal User:apps, as client 'a' (at tls.yaml:11:3) does: Kafka cannot "
         "tell them apart, and they share every ACL and super-user right (give them subjects that the rules map apart, "
         "if they should differ)"]),
    Row("shared-principals-control", kafka_rules.shared_principals,
        ROOT + rules_of("RULE:^CN=([^,]+),OU=Apps$/$1/", "DEFAULT") + BROKER +
        "clients:\n  a: {issuer: root, subject: {organizational_unit: Apps}}\n"
        "  b: {issuer: root, subject: {organizational_unit: Apps}}\n", []),
]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_rule(row: Row, project):
    assert [d.render() for d in row.rule(draft_of(project, row))] == row.expected


def test_every_rule_and_warning_is_in_a_chain_and_has_a_row_that_fires_and_a_control():
    chained = {*kafka_rules.RULES, *kafka_rules.WARNINGS}
    assert chained == {r.rule for r in ROWS if r.expected} == {r.rule for r in ROWS if not r.expected}


def test_read_spec_reports_every_kafka_error_in_one_run(project):
    (project / "tls.yaml").write_text(ROOT + rules_of("RULE:^CN=(x$/$1/") + "  admin: nobody\n" + BROKER,
                                      encoding="utf-8")
    with pytest.raises(UserError) as caught:
        read_spec(Path("tls.yaml"))
    assert [d.path for d in caught.value.diagnostics] == ["kafka.principal_mapping_rules[0]", "kafka.admin"]


def test_a_compose_file_cannot_take_the_acl_script_name(project):
    draft = draft_of(project, Row("acl-script", None, ROOT + "compose: {file: kafka-acls.sh}\n", []))
    assert [d.render() for d in rules.compose_file(draft)] == [
        "tls.yaml:4:17: compose.file: 'kafka-acls.sh' would collide with tlsgen's own files (such as compose.tls.yaml)"]


# --- what the schema refuses ------------------------------------------------------------------------

SCHEMA_ROWS = [
    ("operation-spelled-as-kafka-acls-does", "      - {topic: t, operations: [Read, DescribeConfigs]}\n",
     ["tls.yaml:8:33: clients.app.acls[0].operations[0]: unknown operation 'Read' (write read); Kafka's operations: "
      "all, read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, "
      "idempotent_write, create_tokens, describe_tokens",
      "tls.yaml:8:39: clients.app.acls[0].operations[1]: unknown operation 'DescribeConfigs' (write describe_configs); "
      "Kafka's operations: all, read, write, create, delete, alter, describe, cluster_action, describe_configs, "
      "alter_configs, idempotent_write, create_tokens, describe_tokens"]),
    ("operation-misspelled", "      - {topic: t, operations: [reed]}\n",
     ["tls.yaml:8:33: clients.app.acls[0].operations[0]: unknown operation 'reed' (did you mean 'read'?); Kafka's "
      "operations: all, read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, "
      "idempotent_write, create_tokens, describe_tokens"]),
    ("two-resources", "      - {topic: t, group: g, operations: [read]}\n",
     ["tls.yaml:8:9: clients.app.acls[0]: a binding names one resource: topic: NAME, group: NAME, cluster: true, "
      "transactional_id: NAME (this one names topic and group; write one binding each)"]),
    ("no-resource", "      - {operations: [read]}\n",
     ["tls.yaml:8:9: clients.app.acls[0]: a binding names one resource: topic: NAME, group: NAME, cluster: true, "
      "transactional_id: NAME"]),
    ("unknown-key", "      - {topc: t, operations: [read]}\n",
     ["tls.yaml:8:10: clients.app.acls[0].topc: unknown key 'topc' (did you mean 'topic'?)"]),
    ("control", "      - {topic: t, operations: [read]}\n", []),
]


@pytest.mark.parametrize("acl, expected", [row[1:] for row in SCHEMA_ROWS], ids=[row[0] for row in SCHEMA_ROWS])
def test_schema_errors(project, acl, expected):
    (project / "tls.yaml").write_text(ROOT + "clients:\n  app:\n    issuer: root\n    acls:\n" + acl, encoding="utf-8")
    try:
        read_spec(Path("tls.yaml"))
        found = []
    except UserError as error:
        found = [d.render() for d in error.diagnostics]
    assert found == expected


def test_acls_on_a_broker_are_an_unknown_key(project):
    (project / "tls.yaml").write_text(ROOT + "brokers:\n  kafka: {issuer: root, acls: []}\n", encoding="utf-8")
    with pytest.raises(UserError) as caught:
        read_spec(Path("tls.yaml"))
    assert [d.render() for d in caught.value.diagnostics] == ["tls.yaml:5:25: brokers.kafka.acls: unknown key 'acls'"]


# --- warnings through the CLI ------------------------------------------------------------------------

SHARED = (ROOT + rules_of("RULE:^CN=[^,]+,OU=Apps$/apps/", "DEFAULT") + BROKER +
          "clients:\n  a: {issuer: root, subject: {organizational_unit: Apps}}\n"
          "  b: {issuer: root, subject: {organizational_unit: Apps}}\n")
WARNING = ("tls.yaml:12:3: clients.b: maps to principal User:apps, as client 'a' (at tls.yaml:11:3) does: Kafka "
           "cannot tell them apart, and they share every ACL and super-user right (give them subjects that the rules "
           "map apart, if they should differ)")


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
def test_warnings_go_to_stderr_and_into_the_json_document(tmp_path, command):
    (tmp_path / "tls.yaml").write_text(SHARED, encoding="utf-8")
    text = tlsgen(command, "tls.yaml", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert f"warning: {WARNING}" in text.stderr.splitlines() and "warning" not in text.stdout
    as_json = tlsgen(command, "tls.yaml", "--json", cwd=tmp_path)
    assert as_json.returncode == 0 and f"warning: {WARNING}" in as_json.stderr.splitlines()
    assert [w["path"] for w in json.loads(as_json.stdout)["warnings"]] == ["clients.b"]
    github = tlsgen(command, "tls.yaml", "--format", "github", cwd=tmp_path)
    assert "::warning file=tls.yaml,line=12,col=3::clients.b: maps to principal User:apps" in github.stdout


def test_no_warning_when_the_principals_differ(tmp_path):
    """Control: the same spec with a rule that keeps the common names apart warns of nothing."""
    (tmp_path / "tls.yaml").write_text(SHARED.replace("/apps/", "/$1/").replace("^CN=[^,]+", "^CN=([^,]+)"),
                                       encoding="utf-8")
    result = tlsgen("validate", "tls.yaml", "--json", cwd=tmp_path)
    assert result.returncode == 0 and "warning" not in result.stderr
    assert json.loads(result.stdout)["warnings"] == []


def test_kafka_errors_write_nothing(tmp_path):
    (tmp_path / "tls.yaml").write_text(ROOT + rules_of(LOWER_CN) + "clients:\n  app: {issuer: root, "
                                       "subject: {organization: Acme}}\n", encoding="utf-8")
    result = tlsgen("apply", "tls.yaml", "--json", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [e["path"] for e in json.loads(result.stdout)["errors"]] == ["clients.app"]
    assert not (tmp_path / "out").exists()
