"""tlsgen.model.read: the example spec validates, and read_spec resolves what users leave out the way SPEC.md says."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, tlsgen
from tlsgen.cli import main
from tlsgen.diagnostics import UserError
from tlsgen.model import Secret
from tlsgen.spec.duration import Duration
from tlsgen.model.read import read_spec


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(spec: Path) -> list[str]:
    with pytest.raises(UserError) as caught:
        read_spec(spec)
    return [d.render() for d in caught.value.diagnostics]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty project directory, also the working directory (so messages name files relative to it)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- the example -----------------------------------------------------------------------------------


def test_example_specs_validate(capsys):
    assert main(["validate", str(REPO / "specs")]) == 0
    out, err = capsys.readouterr()
    assert "valid (2 CAs, 4 entities, 0 trusted)" in out
    assert err == ""


def test_example_specs_validate_as_json_through_the_real_cli():
    result = tlsgen("validate", "specs", "--json", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"valid": True, "errors": [], "warnings": []}
    assert "valid" in result.stderr  # the human line moves to stderr


def test_example_spec_resolves_as_the_tutorials_set_it_up():
    spec = read_spec(REPO / "specs")
    assert list(spec.cas) == ["callisto-root", "callisto-issuing"]
    assert list(spec.entities) == ["kafka", "kafka-tester", "mongo-sink", "mongodb"]
    assert spec.output == REPO / "out"
    assert spec.compose.project_dir == REPO
    kafka = spec.entities["kafka"]
    assert kafka.hostnames == ("kafka", "localhost") and kafka.ip_addresses == ("127.0.0.1",)
    assert kafka.image == "confluent" and kafka.port == 9093 and kafka.client_auth == "required"
    assert spec.entities["mongo-sink"].connects_to == ("mongodb",)
    assert spec.entities["mongodb"].mount == "/etc/tls"
    assert {e.trust for e in spec.entities.values()} == {("callisto-root",)}


# --- inheritance and defaults ----------------------------------------------------------------------


def test_entities_inherit_defaults_and_override_them(project):
    spec = read_spec(write(project / "tls.yaml", """\
        version: 1
        defaults:
          key: ec-p384
          validity: 90d
          renew_before: 10d
          keystore: jks
          truststore: pem
          pkcs12: legacy
          mount: /secrets
          owner: "1000:1000"
        cas:
          root: {}
        clients:
          inherits: {issuer: root}
          overrides:
            issuer: root
            key: rsa-3072
            validity: 48h
            renew_before: 12h
            keystore: pkcs12
            truststore: jks
            pkcs12: modern
            mount: /etc/app/tls
            owner: "0"
        """))
    inherits, overrides = spec.entities["inherits"], spec.entities["overrides"]
    assert (inherits.key, inherits.validity, inherits.renew_before) == ("ec-p384", Duration(90 * 24), Duration(10 * 24))
    assert (inherits.keystore, inherits.truststore, inherits.pkcs12) == ("jks", "pem", "legacy")
    assert (inherits.mount, inherits.owner, inherits.password) == ("/secrets", (1000, 1000), None)
    assert (overrides.key, overrides.validity, overrides.renew_before) == ("rsa-3072", Duration(48), Duration(12))
    assert (overrides.keystore, overrides.truststore, overrides.pkcs12) == ("pkcs12", "jks", "modern")
    assert (overrides.mount, overrides.owner) == ("/etc/app/tls", (0, None))
    # CAs take the key and renew_before from defaults; their own validity defaults to ten years
    root = spec.cas["root"]
    assert (root.key, root.renew_before, root.validity) == ("ec-p384", Duration(10 * 24), Duration(3650 * 24))


def test_built_in_defaults(project):
    spec = read_spec(write(project / "tls.yaml", """\
        version: 1
        cas: {root: {}}
        brokers: {kafka: {issuer: root}}
        """))
    kafka = spec.entities["kafka"]
    assert (kafka.key, kafka.validity, kafka.renew_before) == ("rsa-2048", Duration(365 * 24), Duration(30 * 24))
    assert (kafka.keystore, kafka.truststore, kafka.pkcs12) == ("pkcs12", "pkcs12", "modern")
    assert (kafka.mount, kafka.owner, kafka.password, kafka.image) == ("/etc/kafka/secrets", None, None, "none")
    assert (kafka.port, kafka.client_auth) == (9093, "required")
    assert kafka.usages == ("serverAuth", "clientAuth")
    assert spec.compose.file == "compose.tls.yaml"


def test_password_from_env_and_from_a_file_beside_the_spec(project, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("KAFKA_TEST_PW", "From-env.1")
    spec_file = write(project / "specs" / "tls.yaml", """\
        version: 1
        cas: {root: {}}
        brokers:
          kafka: {issuer: root, password: {env: KAFKA_TEST_PW}}
        clients:
          app: {issuer: root, password: {file: app.password}}
        """)
    (project / "specs" / "app.password").write_text("From-file.2\n")
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # relative to the spec file, not the cwd
    spec = read_spec(spec_file)
    assert spec.entities["kafka"].password == "From-env.1"
    assert spec.entities["app"].password == "From-file.2"  # one trailing newline is not part of it
    assert isinstance(spec.entities["app"].password, Secret)
    assert "From-file" not in repr(spec.entities["app"])
    assert project / "specs" / "app.password" in spec.inputs


def test_common_name_defaults_to_the_name_and_the_dn_is_in_order_c_st_l_o_ou_cn(project):
    spec = read_spec(write(project / "tls.yaml", """\
        version: 1
        defaults:
          subject: {organizational_unit: Platform, organization: Example, country: GB}
        cas:
          root:
            subject: {common_name: Example Root, locality: London, state: England}
        clients:
          app:
            issuer: root
            subject: {organizational_unit: Payments, state: Wales}
        """))
    assert spec.entities["app"].subject == (
        ("C", "GB"), ("ST", "Wales"), ("O", "Example"), ("OU", "Payments"), ("CN", "app"))
    assert spec.cas["root"].subject == (
        ("C", "GB"), ("ST", "England"), ("L", "London"), ("O", "Example"), ("OU", "Platform"), ("CN", "Example Root"))


def test_hostnames_default_to_the_name_for_brokers_and_servers_only(project):
    spec = read_spec(write(project / "tls.yaml", """\
        version: 1
        cas: {root: {}}
        brokers:
          kafka: {issuer: root}
          kafka-2: {issuer: root, hostnames: [kafka-2.example.com, "*.kafka.example.com"], ip_addresses: ["::1"]}
        servers: {mongodb: {issuer: root}}
        clients: {app: {issuer: root}}
        workers: {sink: {issuer: root}}
        """))
    hosts = {name: e.hostnames for name, e in spec.entities.items()}
    assert hosts == {"kafka": ("kafka",), "kafka-2": ("kafka-2.example.com", "*.kafka.example.com"),
                     "mongodb": ("mongodb",), "app": (), "sink": ()}
    assert spec.entities["kafka-2"].ip_addresses == ("::1",)
    assert spec.entities["app"].usages == ("clientAuth",)


def test_service_defaults_to_the_name_and_null_means_none(project):
    spec = read_spec(write(project / "tls.yaml", """\
        version: 1
        cas: {root: {}}
        brokers: {kafka: {issuer: root}}
        clients:
          app: {issuer: root, service: null}
          tester: {issuer: root, service: kafka-tools}
        """))
    assert {n: e.service for n, e in spec.entities.items()} == {"kafka": "kafka", "app": None, "tester": "kafka-tools"}


# --- default trust: every mutual-TLS pair just works -------------------------------------------------


TRUST_SPEC = """\
    version: 1
    cas:
      root-a: {}
      issuing-a: {issuer: root-a}
      root-b: {}
      root-c: {}
    brokers:
      kafka: {issuer: root-b}
    clients:
      app: {issuer: issuing-a, brokers: [kafka]}
      pinned: {issuer: issuing-a, brokers: [kafka], trust: [root-b]}
    workers:
      sink: {issuer: issuing-a, connects_to: [mongodb]}
    servers:
      mongodb: {issuer: root-c}
    """


def test_default_trust_holds_the_roots_of_both_ends_of_each_connection(project):
    spec = read_spec(write(project / "tls.yaml", TRUST_SPEC))
    trust = {name: set(e.trust) for name, e in spec.entities.items()}
    # a client issued under root A talking to a broker of unrelated root B trusts both roots (not the
    # intermediate), and the broker trusts both, so each can check the other
    assert trust["app"] == {"root-a", "root-b"}
    assert spec.entities["app"].trust[0] == "root-a"  # its own root first
    assert trust["kafka"] == {"root-a", "root-b"}
    # a worker trusts the servers it connects to, and they trust it
    assert trust["sink"] == {"root-a", "root-c"}
    assert trust["mongodb"] == {"root-c", "root-a"}
    # trust written in the spec is taken as written
    assert spec.entities["pinned"].trust == ("root-b",)


def test_brokers_trust_each_others_roots(project):
    spec = read_spec(write(project / "tls.yaml", """\
        version: 1
        cas: {root-b: {}, root-c: {}}
        brokers:
          kafka-1: {issuer: root-b}
          kafka-2: {issuer: root-c}
        """))
    assert set(spec.entities["kafka-1"].trust) == set(spec.entities["kafka-2"].trust) == {"root-b", "root-c"}


def test_default_trust_covers_the_whole_cluster_a_client_bootstraps_into(project):
    spec = read_spec(write(project / "tls.yaml", """\
        version: 1
        cas: {root-a: {}, root-b: {}, root-c: {}}
        brokers:
          kafka-1: {issuer: root-b}
          kafka-2: {issuer: root-c}
        clients:
          app: {issuer: root-a, brokers: [kafka-1]}
        """))
    assert "root-a" in spec.entities["kafka-2"].trust  # app's root
    assert "root-c" in spec.entities["app"].trust  # kafka-2's root


# --- where things go ---------------------------------------------------------------------------------


def test_output_is_relative_to_the_spec_file_and_compose_project_dir_defaults_to_its_parent(project):
    write(project / "deploy" / "specs" / "tls.yaml", """\
        version: 1
        output: ../out
        """)
    spec = read_spec(Path("deploy/specs/tls.yaml"))
    assert spec.output == Path("deploy/out")
    assert spec.compose.project_dir.resolve() == project / "deploy"
    assert read_spec(project / "deploy" / "specs" / "tls.yaml").output == project / "deploy" / "out"


def test_output_defaults_to_out_in_the_working_directory_and_out_wins(project):
    spec_file = write(project / "specs" / "tls.yaml", "version: 1\noutput: ../generated\n")
    assert read_spec(spec_file, out=Path("elsewhere")).output == Path("elsewhere")
    spec_file.write_text("version: 1\n")
    spec = read_spec(spec_file)
    assert spec.output == Path("out")
    assert spec.compose.project_dir == project


def test_compose_project_dir_is_relative_to_the_spec_file_and_file_can_be_null(project):
    write(project / "specs" / "tls.yaml", """\
        version: 1
        output: ../build/tls
        compose: {file: null, project_dir: ..}
        """)
    spec = read_spec(Path("specs/tls.yaml"))
    assert spec.output == Path("build/tls")
    assert spec.compose.project_dir.resolve() == project  # specs/.., not build/
    assert spec.compose.file is None


def test_a_spec_directory_merges_its_files(project):
    write(project / "specs" / "10-pki.yaml", """\
        version: 1
        output: ../out
        defaults: {key: ec-p256}
        cas:
          root: {}
          issuing: {issuer: root, path_length: 0}
        """)
    write(project / "specs" / "20-kafka.yml", """\
        version: 1
        defaults: {validity: 90d}
        brokers: {kafka: {issuer: issuing}}
        clients: {app: {issuer: issuing, brokers: [kafka], password: {file: app.password}}}
        """)
    (project / "specs" / "app.password").write_text("Secret-1")
    (project / "specs" / "notes.txt").write_text("not a spec file: ignored\n")
    spec = read_spec(Path("specs"))
    assert list(spec.cas) == ["root", "issuing"]
    assert list(spec.entities) == ["kafka", "app"]
    assert spec.output == Path("out")
    assert spec.entities["app"].key == "ec-p256" and spec.entities["app"].validity == Duration(90 * 24)
    assert spec.entities["app"].password == "Secret-1"
    assert set(spec.inputs) >= {Path("specs/10-pki.yaml"), Path("specs/20-kafka.yml"), Path("specs/app.password")}


def test_owner_may_be_written_as_a_bare_number(project):
    spec = read_spec(write(project / "tls.yaml", """\
        version: 1
        cas: {root: {}}
        brokers: {kafka: {issuer: root, owner: 1000}}
        """))
    assert spec.entities["kafka"].owner == (1000, None)


# --- every error at once ---------------------------------------------------------------------------


def test_all_errors_at_once_sorted_by_place(project, capsys):
    write(project / "tls.yaml", """\
        version: 1
        compose:
          file: /etc/compose.tls.yaml
        cas:
          root: {}
        workers:
          sink: {issuer: root, keystore: pem}
        brokers:
          kafka:
            issuer: rooot
            hostnames: [kafka, kafka_1]
            ip_addresses: [127.0.0.256]
        """)
    assert main(["validate", "tls.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "tls.yaml:3:9: compose.file: '/etc/compose.tls.yaml' must be a relative path inside the output directory "
        "(such as compose.tls.yaml)",
        "tls.yaml:7:34: workers.sink.keystore: a worker's KAFKA_OPTS needs a pkcs12 or jks keystore, not pem "
        "(set keystore: pkcs12 on this worker)",
        "tls.yaml:10:13: brokers.kafka.issuer: no CA named 'rooot' (did you mean 'root'?)",
        "tls.yaml:11:24: brokers.kafka.hostnames[1]: 'kafka_1' is not a valid hostname (use letters, digits and '-' "
        "in dot-separated labels; a wildcard only as a leading '*.')",
        "tls.yaml:12:20: brokers.kafka.ip_addresses[0]: '127.0.0.256' is not an IPv4 or IPv6 address "
        "(hostnames go in hostnames)",
    ]


def test_yaml_and_shape_errors_are_reported_together(project):
    errors = errors_of(write(project / "tls.yaml", """\
        version: 1
        cas:
          root: {}
          root: {}
        brokers:
          kafka: {issuer: root, prot: 9093}
        """))
    assert errors == [
        "tls.yaml:4:3: cas.root: duplicate key 'root' (first written at line 3) "
        "(YAML would silently keep only the last one; remove one of them)",
        "tls.yaml:6:25: brokers.kafka.prot: unknown key 'prot' (did you mean 'port'?)",
    ]


def test_dangling_trust_is_reported_with_other_errors(project):
    errors = errors_of(write(project / "tls.yaml", """\
        version: 1
        cas: {root: {}}
        brokers: {kafka: {issuer: root, hostnames: [bad_name]}}
        clients: {app: {issuer: root, trust: [rot]}}
        """))
    assert any("hostnames[0]" in e for e in errors)
    assert any("clients.app.trust[0]: no CA or trusted certificate named 'rot'" in e for e in errors)


def test_an_imported_ca_with_its_key_can_issue(project):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    (project / "pki").mkdir()
    (project / "pki" / "corp.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (project / "pki" / "corp.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    spec = read_spec(write(project / "specs" / "tls.yaml", """\
        version: 1
        cas:
          corp:
            import: {cert: ../pki/corp.pem, key: {file: ../pki/corp.key}}
        brokers: {kafka: {issuer: corp}}
        """))
    corp = spec.cas["corp"]
    assert corp.imported is not None and corp.can_issue and corp.issuer is None
    assert spec.entities["kafka"].trust == ("corp",)
    assert {p.resolve() for p in spec.inputs} == {project / "specs" / "tls.yaml", project / "pki" / "corp.pem",
                                                   project / "pki" / "corp.key"}


def test_schema_and_reference_errors_come_in_one_run_without_follow_ons(tmp_path):
    """kafka and the CA 'weak' fail their schema; app's dangling issuer is still found, and nothing is said
    about tester's and app's references to the entries that failed (they exist: they are just invalid)."""
    write(tmp_path / "specs" / "tlsgen.yaml", """\
        version: 1
        cas:
          root: {}
          weak: {key: rsa-1024}
        brokers:
          kafka: {issuer: root, port: x}
        clients:
          app: {issuer: rot, brokers: [kafka]}
          tester: {issuer: weak, trust: [weak]}
        """)
    result = tlsgen("validate", "specs", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "specs/tlsgen.yaml:4:15: cas.weak.key: key type 'rsa-1024' is too weak; allowed: rsa-2048, rsa-3072, "
        "rsa-4096, ec-p256, ec-p384",
        "specs/tlsgen.yaml:6:31: brokers.kafka.port: expected a whole number, got 'x'",
        "specs/tlsgen.yaml:8:17: clients.app.issuer: no CA named 'rot' (did you mean 'root'?)",
    ]
