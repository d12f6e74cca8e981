"""Specs that used to hang tlsgen, eat its memory, crash it (exit 3), pass validate only for apply to
fail, or echo a password: each now refused through the real CLI with exit 1, `file:line:col: path:`,
a message that says what is wrong, no traceback, and out/ left exactly as it was.

Every run is a fresh `python -m tlsgen` with at most 1 GiB of address space and 60 s of CPU, and a
timeout: a regression shows as a failed test, never as a stuck or swapping test run.
"""

from __future__ import annotations

import datetime
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from conftest import REPO

F = "specs/tlsgen.yaml"
ROOT = "version: 1\ncas:\n  root: {key: ec-p256}\n"  # lines 1-3
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))


def run(project: Path, *args: str, code: str | None = None, env: dict | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m tlsgen ARGS` in the project, bounded; with `code`, that Python runs first (then the CLI)."""
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    command = ["-c", code + "\nfrom tlsgen.cli import main\nsys.exit(main(sys.argv[1:]))"] if code else ["-m", "tlsgen"]
    return subprocess.run([sys.executable, *command, *args], cwd=project, env=full_env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limits)


def snapshot(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def project(tmp_path) -> Path:
    """specs/ and an out/ an earlier apply left, with a file of the user's."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "out" / "brokers" / "kafka").mkdir(parents=True)
    (tmp_path / "out" / "notes.txt").write_text("mine, not tlsgen's\n")
    os.utime(tmp_path / "out" / "notes.txt", ns=(1_000_000_000, 1_000_000_000))
    return tmp_path


def refused(project: Path, spec: str, prefix: str, message: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run (validate by default) on `spec`; assert one error line starts with `prefix` and holds `message`."""
    if spec:
        (project / F).write_text(spec, encoding="utf-8")
    before = snapshot(project / "out")
    result = run(project, *(args or ("validate", "specs")), **kwargs)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1, result.stderr
    assert any(line.startswith(prefix) and message in line for line in result.stderr.splitlines()), result.stderr
    assert snapshot(project / "out") == before
    return result


# --- (4) YAML that expands without bound, nests without end, or holds a control byte -----------------


def laughs(alias_line: str) -> str:
    """Nine levels of ten aliases each: 10^9 values from ten lines, unless aliases are bounded."""
    lines = ["version: 1", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        lines.append(alias_line.format(level=level, uses=", ".join([f"*l{level - 1}"] * 10)))
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_the_alias(project):
    refused(project, laughs("l{level}: &l{level} [{uses}]"), f"{F}:5:", "aliases make this file more than 10000 "
            "values larger (a YAML 'billion laughs'?) (write the values out, or nest aliases less deeply)")


def test_merge_keys_that_fan_out_are_bounded_too(project):
    """Two anchors per level, each merging both of the level below: 2^n merges from 2n lines. (tlsgen builds
    `<<` itself, so that what merges reach counts against the same bound as aliases.)"""
    spec = "version: 1\na0: &a0 {x: 1}\nb0: &b0 {y: 1}\n" + "".join(
        f"a{n}: &a{n} {{<<: [*a{n - 1}, *b{n - 1}], ka{n}: 1}}\nb{n}: &b{n} {{<<: [*b{n - 1}, *a{n - 1}], kb{n}: 1}}\n"
        for n in range(1, 20))
    refused(project, spec, f"{F}:", "aliases make this file more than 10000 values larger")


def test_merging_one_anchor_many_times_is_cheap(project):
    """The control: what merges add is counted once per key, as pyyaml does, so repeats are no bomb."""
    spec = "version: 1\nm0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n" + "".join(
        f"m{n}: &m{n} {{<<: [{', '.join([f'*m{n - 1}'] * 10)}], k{n}: 1}}\n" for n in range(1, 9))
    refused(project, spec, f"{F}:10:1: m8: ", "unknown key 'm8'")


def test_an_alias_inside_its_own_anchor_is_refused_at_the_alias(project):
    refused(project, "version: 1\ncas: &cas\n  root: *cas\n", f"{F}:3:9: ",
            "this alias is used inside its own anchor, which YAML would expand without end")


def test_a_mapping_that_merges_itself_is_refused(project):
    refused(project, "version: 1\ndefaults: &d\n  <<: *d\n", f"{F}:3:7: ",
            "this mapping merges itself, which YAML would expand without end")


def test_deep_nesting_is_refused_where_it_passes_the_bound(project):
    refused(project, "version: 1\noutput: " + "[" * 5000 + "]" * 5000 + "\n", f"{F}:2:72: ",
            "values nested deeper than 64 levels")


def test_a_nul_byte_is_refused_at_its_line_and_column(project):
    refused(project, 'version: 1\ncas:\n  root: {subject: {common_name: "a\0b"}}\n', f"{F}:3:35: ",
            "YAML cannot hold the control character U+0000")


def test_a_plain_date_that_is_no_date_is_refused(project):
    refused(project, "version: 1\noutput: 2024-13-45\n", f"{F}:2:9: output: ",
            "YAML reads this as a date, and it is not a valid one (quote it if you mean text)")


# --- (5) files that are not regular files, or too large --------------------------------------------------


def test_a_password_file_that_is_a_fifo_is_refused_not_waited_on(project):
    os.mkfifo(project / "specs" / "kafka.password")
    refused(project, ROOT + "brokers:\n  kafka: {issuer: root, password: {file: kafka.password}}\n",
            f"{F}:5:42: brokers.kafka.password.file: ", "cannot read specs/kafka.password: it is not a regular file "
            "(a pipe, socket or device); tlsgen reads only regular files", timeout=30)


def test_a_spec_that_is_a_fifo_is_refused_not_waited_on(project):
    os.mkfifo(project / "specs" / "fifo.yaml")
    refused(project, "", "specs/fifo.yaml:1:1: ", "cannot read this file: it is not a regular file",
            "validate", "specs/fifo.yaml", timeout=30)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused_as_passwords_and_trusted_certificates(project, device):
    refused(project, ROOT + f"brokers:\n  kafka: {{issuer: root, password: {{file: {device}}}}}\n",
            f"{F}:5:42: brokers.kafka.password.file: ", f"cannot read {device}: it is not a regular file")
    refused(project, f"version: 1\ntrusted:\n  atlas: {{file: {device}}}\n", f"{F}:3:17: trusted.atlas.file: ",
            f"cannot read {device}: it is not a regular file")


def test_a_file_over_one_mib_is_refused_with_the_bound(project):
    with open(project / "specs" / "big.crt", "wb") as f:
        f.truncate(2 << 20)
    refused(project, "version: 1\ncas:\n  corp:\n    import: {cert: big.crt}\n", f"{F}:4:20: cas.corp.import.cert: ",
            "cannot read specs/big.crt: it is larger than 1 MiB, the most tlsgen reads from such a file")


# --- (6) valid by validate, then a crash in apply -----------------------------------------------------------


def validate_and_apply_refuse(project: Path, spec: str, prefix: str, message: str) -> None:
    refused(project, spec, prefix, message)
    refused(project, spec, prefix, message, "apply", "specs")


def test_a_common_name_over_64_bytes_of_utf8_is_refused(project):
    validate_and_apply_refuse(project, ROOT + "clients:\n  app: {issuer: root, subject: {common_name: " + "é" * 33 + "}}\n",
                              f"{F}:5:46: clients.app.subject.common_name: ",
                              "is 66 bytes long in UTF-8; a certificate's common name holds at most 64 bytes")


def test_a_common_name_of_64_bytes_and_long_other_attributes_apply(project):
    """The control: the bound is cryptography's, in bytes, on the common name only (OpenSSL accepts the rest)."""
    (project / F).write_text(ROOT + "clients:\n  app:\n    issuer: root\n    key: ec-p256\n    subject: {common_name: "
                             + "é" * 32 + ", organization: " + "é" * 64 + ", locality: " + "é" * 128 + "}\n")
    result = run(project, "apply", "specs")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("validity, place, message", [
    ("99999999d", f"{F}:3:20: cas.root.validity: ", "'99999999d' is longer than 3650000d (10000 years)"),
    ("3000000d", f"{F}:3:20: cas.root.validity: ", "validity 3000000d would end after 9999-12-31"),
], ids=["beyond-any-date", "beyond-9999"])
def test_a_validity_beyond_the_last_certificate_date_is_refused(project, validity, place, message):
    validate_and_apply_refuse(project, f"version: 1\ncas:\n  root: {{validity: {validity}, key: ec-p256}}\n",
                              place, message)


@pytest.mark.parametrize("owner, message", [
    ("4294967295", "4294967295 is the id chown reads as 'leave unchanged', so it can never be set"),
    ("1000:4294967296", "4294967296 is beyond the largest uid or gid, 4294967294"),
], ids=["minus-one", "beyond-32-bits"])
def test_owner_ids_chown_cannot_set_are_refused(project, owner, message):
    refused(project, ROOT + f"brokers:\n  kafka: {{issuer: root, owner: '{owner}'}}\n", f"{F}:5:32: brokers.kafka.owner: ",
            message)


def test_the_largest_owner_id_is_valid(project):
    (project / F).write_text(ROOT + "brokers:\n  kafka: {issuer: root, owner: '4294967294:4294967294'}\n")
    assert run(project, "validate", "specs").returncode == 0


# --- (6, 10) imported CAs: what tlsgen cannot sign with, and what consumers would refuse ---------------------


def ca_files(project: Path, key, *, basic_constraints: bool = True, key_usage: x509.KeyUsage | None = None,
             not_before: datetime.datetime = NOW - DAY) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp CA")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(7).not_valid_before(not_before).not_valid_after(NOW + 3650 * DAY))
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    cert = builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    (project / "specs" / "corp.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (project / "specs" / "corp.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def usage(*, key_cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=True,
                         encipher_only=False, decipher_only=False)


IMPORTED = "version: 1\ncas:\n  corp:\n    import: {cert: corp.crt, key: {file: corp.key}}\nclients:\n  app: {issuer: corp}\n"
CERT_AT = f"{F}:4:20: cas.corp.import.cert: "


@pytest.mark.parametrize("make_key, message", [
    (ed25519.Ed25519PrivateKey.generate, "has a ed25519 key, which tlsgen cannot use"),
    (lambda: dsa.generate_private_key(2048), "has a dsa-2048 key, which tlsgen cannot use"),
    (lambda: ec.generate_private_key(ec.SECP521R1()), "has a ec-secp521r1 key, which tlsgen cannot use"),
    (lambda: rsa.generate_private_key(65537, 1024), "has a rsa-1024 key, which is too weak"),
], ids=["ed25519", "dsa", "p521", "rsa-1024"])
def test_an_imported_ca_key_tlsgen_cannot_sign_with_is_refused(project, make_key, message):
    ca_files(project, make_key())
    validate_and_apply_refuse(project, IMPORTED, CERT_AT, message)


@pytest.mark.parametrize("certificate, message", [
    (dict(not_before=NOW + 2 * DAY), "is valid only from"),
    (dict(key_usage=usage(key_cert_sign=False)), "has a keyUsage without keyCertSign"),
    (dict(basic_constraints=False), "is not a CA certificate (basicConstraints CA:TRUE)"),
], ids=["not-yet-valid", "no-key-cert-sign", "no-basic-constraints"])
def test_an_imported_ca_certificate_consumers_would_refuse_is_refused(project, certificate, message):
    ca_files(project, ec.generate_private_key(ec.SECP256R1()), **certificate)
    refused(project, IMPORTED, CERT_AT, message)


def test_an_imported_ca_with_key_cert_sign_issues(project):
    """The control: an EC P-384 CA with keyCertSign, valid now, signs what apply asks of it."""
    ca_files(project, ec.generate_private_key(ec.SECP384R1()), key_usage=usage(key_cert_sign=True))
    (project / F).write_text(IMPORTED)
    result = run(project, "apply", "specs")
    assert result.returncode == 0, result.stderr


# --- (11, 12) specs that never converge, and errors without a place -----------------------------------------


def test_an_ipv6_address_with_a_zone_is_refused(project):
    refused(project, ROOT + "brokers:\n  kafka: {issuer: root, ip_addresses: ['fe80::1%eth0']}\n",
            f"{F}:5:40: brokers.kafka.ip_addresses[0]: ", "'fe80::1%eth0' has a zone (%eth0), which a certificate "
            "cannot carry (write fe80::1)")


def test_output_naming_a_file_is_an_error_at_output_and_out_naming_one_without_a_place(project):
    (project / "specs" / "notes.txt").write_text("mine\n")
    refused(project, "version: 1\noutput: notes.txt\n", f"{F}:2:9: output: ", "notes.txt is a file, not a directory")
    result = refused(project, "version: 1\n", "--out ", "out/notes.txt is a file, not a directory",
                     "plan", "specs", "--out", "out/notes.txt")
    assert result.stderr.startswith("--out out/notes.txt is a file")


NOT_ROOT = "import os, sys\nos.geteuid = lambda: 4242  # as a user who may not chown, whoever runs the tests"


def test_owner_without_root_is_an_error_at_the_owner_setting(project):
    spec = ROOT + "defaults:\n  owner: 1000\nbrokers:\n  kafka: {issuer: root}\n  kafka-2: {issuer: root, owner: '2000'}\n"
    result = refused(project, spec, f"{F}:5:10: defaults.owner: ", "chown to 1000 needs root; this apply runs as uid 4242",
                     "apply", "specs", code=NOT_ROOT)
    assert f"{F}:8:34: brokers.kafka-2.owner: chown to 2000 needs root" in result.stderr


# --- (14) a password typed where its variable's name goes is never echoed --------------------------------


NOT_A_NAME = "this is not an environment variable name"


@pytest.mark.parametrize("spec, prefix, message", [
    (ROOT + "brokers:\n  kafka: {issuer: root, password: {env: 'hunter2!x'}}\n", f"{F}:5:41: brokers.kafka.password.env: ",
     NOT_A_NAME),
    ("version: 1\ndefaults:\n  password: {env: hunter2!x}\n", f"{F}:3:19: defaults.password.env: ", NOT_A_NAME),
    ("version: 1\ncas:\n  corp:\n    import: {cert: c.pem, password: {env: 'hunter2!x'}}\n",
     f"{F}:4:43: cas.corp.import.password.env: ", NOT_A_NAME),
    ("version: 1\ncas:\n  corp:\n    import: {cert: c.pem, key: {env: 'hunter2!x'}}\n", f"{F}:4:38: cas.corp.import.key.env: ",
     NOT_A_NAME),
    ("version: 1\ndefaults:\n  password: {env: 9876543210}\n", f"{F}:3:19: defaults.password.env: ",
     "expected text, got a number"),
], ids=["entity", "defaults", "import-password", "import-key", "digits"])
@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_a_value_that_is_not_an_env_name_is_not_echoed(project, spec, prefix, message, json_output):
    result = refused(project, spec, prefix, message, "validate", "specs", *(["--json"] if json_output else []))
    assert "hunter2" not in result.stdout + result.stderr and "9876543210" not in result.stdout + result.stderr


def test_the_echo_check_sees_an_echo(project):
    """The control: the same text in a setting that is no secret is quoted back, and the check above would see it."""
    result = refused(project, ROOT + "brokers:\n  kafka: {issuer: root, service: 'hunter2!x'}\n",
                     f"{F}:5:34: brokers.kafka.service: ", "is not a compose service name")
    assert "hunter2" in result.stderr
