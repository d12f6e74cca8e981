"""tlsgen.model.rules and ca_rules, one rule at a time: a spec in, exactly that rule's diagnostics out.

Each row runs the real loader, schema and resolver on a small spec, then only the rule under test, and
compares every line it reports (place, path, message and hint). Each rule has a row where it fires and
a control row where the same spec, put right, gives nothing; rows named `*-follow-on` show a rule
leaving alone what already failed to parse or to read.
"""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from rule_rows import NOW, ROOT, Row, draft_of
from tlsgen.model import ca_rules, compose_rules, rules
from tlsgen.model.resolve import Draft

DAY = datetime.timedelta(days=1)


def ca_pem(key=None, *, ca: bool | None = True, key_usage: x509.KeyUsage | None = None,
           not_before: datetime.datetime = NOW - 400 * DAY, not_after: datetime.datetime = NOW + 3650 * DAY) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp CA")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(1).not_valid_before(not_before).not_valid_after(not_after))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    signed = builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    return signed.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def signing_only() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=True,
                         encipher_only=False, decipher_only=False)


def with_key(make: Callable[[object], bytes], key_factory: Callable[[], object]) -> Callable[[], dict[str, bytes]]:
    def files() -> dict[str, bytes]:
        key = key_factory()
        return {"corp.crt": make(key), "corp.key": key_pem(key)}
    return files


def p256():
    return ec.generate_private_key(ec.SECP256R1())


def y(text: str) -> str:
    return textwrap.dedent(text)


IMPORT = "version: 1\ncas:\n  corp:\n    import: {cert: corp.crt, key: {file: corp.key}}\n"  # lines 1-4; cert at 4:20
CERT_AT = "tls.yaml:4:20: cas.corp.import.cert: "
KEEP_OUT = "give one of them another service or mount"

ROWS = [
    # the spec as a whole
    Row("unique-names", rules.unique_names, ROOT + "brokers:\n  kafka: {issuer: root}\nservers:\n  kafka: {issuer: root}\n",
        ["tls.yaml:7:3: servers.kafka: name 'kafka' is already used by broker 'kafka' at tls.yaml:5:3 "
         "(names are unique across the whole spec; rename one)"]),
    Row("unique-names-counts-entries-that-failed", rules.unique_names,
        ROOT + "brokers:\n  kafka: {issuer: root, port: x}\nservers:\n  kafka: {issuer: root}\n",
        ["tls.yaml:7:3: servers.kafka: name 'kafka' is already used by broker 'kafka' at tls.yaml:5:3 "
         "(names are unique across the whole spec; rename one)"]),
    Row("unique-names-control", rules.unique_names, ROOT + "brokers:\n  kafka: {issuer: root}\n", []),
    Row("defaults-validity", rules.defaults_validity, "version: 1\ndefaults: {validity: 20d, renew_before: 20d}\n",
        ["tls.yaml:2:22: defaults.validity: validity 20d is not longer than renew_before 20d (at defaults.renew_before) "
         "(every leaf certificate would be reissued on every apply; make validity longer or renew_before shorter)"]),
    Row("defaults-validity-follow-on", rules.defaults_validity, "version: 1\ndefaults: {validity: 1y, renew_before: 400d}\n",
        []),
    Row("defaults-validity-control", rules.defaults_validity, "version: 1\ndefaults: {validity: 21d, renew_before: 20d}\n",
        []),
    Row("service-mounts", rules.service_mounts, ROOT + "brokers:\n  kafka: {issuer: root}\nclients:\n"
        "  app: {issuer: root, service: kafka}\n",
        [f"tls.yaml:7:3: clients.app: 'app' and 'kafka' both mount into service 'kafka' at /etc/kafka/secrets ({KEEP_OUT})"]),
    Row("service-mounts-control", rules.service_mounts, ROOT + "brokers:\n  kafka: {issuer: root}\nclients:\n"
        "  app: {issuer: root, service: kafka, mount: /etc/app}\n", []),
    Row("output-holds-the-spec", rules.output_dir, "version: 1\noutput: .\n",
        ["tls.yaml:2:9: output: the output directory . holds the spec itself: its .gitignore ('*') would keep the "
         "spec out of git (give out/ a directory of its own, such as ../out)"]),
    Row("output-is-a-file", rules.output_dir, "version: 1\noutput: notes.txt\n",
        ["tls.yaml:2:9: output: notes.txt is a file, not a directory (name a directory (it is created when missing))"],
        files=lambda: {"notes.txt": b"mine\n"}),
    Row("output-below-a-file", rules.output_dir, "version: 1\noutput: notes.txt/out\n",
        ["tls.yaml:2:9: output: notes.txt is a file, so notes.txt/out cannot be a directory "
         "(name a directory (it is created when missing))"], files=lambda: {"notes.txt": b"mine\n"}),
    Row("out-option-is-a-file", rules.output_dir, "version: 1\noutput: build\n",
        ["--out notes.txt is a file, not a directory (name a directory (it is created when missing))"],
        files=lambda: {"notes.txt": b"mine\n"}, out="notes.txt"),
    Row("output-control", rules.output_dir, "version: 1\noutput: build\n", [], files=lambda: {"notes.txt": b"mine\n"}),
    Row("compose-file", rules.compose_file, "version: 1\ncompose: {file: ../compose.yaml}\n",
        ["tls.yaml:2:17: compose.file: '../compose.yaml' must be a relative path inside the output directory "
         "(such as compose.tls.yaml)"]),
    Row("compose-file-collides", rules.compose_file, "version: 1\ncompose: {file: cas/compose.yaml}\n",
        ["tls.yaml:2:17: compose.file: 'cas/compose.yaml' would collide with tlsgen's own files (such as compose.tls.yaml)"]),
    Row("compose-file-control", rules.compose_file, "version: 1\ncompose: {file: tls/compose.yaml}\n", []),
    Row("compose-file-takes-kubernetes", rules.compose_file, "version: 1\ncompose: {file: kubernetes/c.yaml}\n",
        ["tls.yaml:2:17: compose.file: 'kubernetes/c.yaml' would collide with tlsgen's own files (such as "
         "compose.tls.yaml)"]),
    Row("strimzi-dangling-ca", rules.strimzi_cas, ROOT + "kubernetes:\n  namespace: kafka\n  strimzi: "
        "{cluster: c, cluster_ca: rot, clients_ca: root}\n",
        ["tls.yaml:6:37: kubernetes.strimzi.cluster_ca: no CA named 'rot' (did you mean 'root'?)"]),
    Row("strimzi-imported-ca", rules.strimzi_cas, "version: 1\ncas:\n  corp: {import: {cert: corp.pem}}\n"
        "kubernetes:\n  namespace: kafka\n  strimzi: {cluster: c, cluster_ca: corp, clients_ca: corp}\n",
        ["tls.yaml:6:37: kubernetes.strimzi.cluster_ca: CA 'corp' is imported: Strimzi signs with its CA's key, which "
         "tlsgen would have to copy into out/, and an imported key never goes there (name a CA tlsgen generates "
         "(it may be issued by the imported one))",
         "tls.yaml:6:55: kubernetes.strimzi.clients_ca: CA 'corp' is imported: Strimzi signs with its CA's key, which "
         "tlsgen would have to copy into out/, and an imported key never goes there (name a CA tlsgen generates "
         "(it may be issued by the imported one))"],
        files=lambda: {"corp.pem": ca_pem()}),
    Row("strimzi-control", rules.strimzi_cas, ROOT + "kubernetes:\n  namespace: kafka\n  strimzi: "
        "{cluster: c, cluster_ca: root, clients_ca: root}\n", []),
    # the user's compose file
    Row("services-exist", compose_rules.services_exist, ROOT + "compose: {services_from: compose.yaml}\nbrokers:\n"
        "  kafka: {issuer: root}\nservers:\n  mongodb: {issuer: root, service: mongodb}\n",
        ["tls.yaml:6:3: brokers.kafka: compose.yaml defines no service 'kafka' (an entity's service defaults to its "
         "name); its services: broker, mongo (set service: to one of them, or service: null when no service mounts "
         "kafka)",
         "tls.yaml:8:36: servers.mongodb.service: compose.yaml defines no service 'mongodb'; its services: broker, "
         "mongo (did you mean 'mongo'? otherwise set service: to one of them, or service: null when no service mounts mongodb)"],
        files=lambda: {"compose.yaml": b"services:\n  broker: {image: x}\n  mongo: {image: mongo:7}\n"}),
    Row("services-exist-in-included-files", compose_rules.services_exist, ROOT + "compose: {services_from: [c.yaml]}\n"
        "clients:\n  app: {issuer: root}\n",
        ["tls.yaml:6:3: clients.app: c.yaml defines no service 'app' (an entity's service defaults to its name); its "
         "services: none (set service: to one of them, or service: null when no service mounts app; c.yaml includes "
         "other files, whose services tlsgen does not read: list them in compose.services_from too)"],
        files=lambda: {"c.yaml": b"include: [other.yaml]\nservices:\n"}),
    Row("services-exist-follow-on", compose_rules.services_exist, ROOT + "compose: {services_from: missing.yaml}\n"
        "clients:\n  app: {issuer: root}\n", []),
    Row("services-exist-control", compose_rules.services_exist, ROOT + "compose: {services_from: compose.yaml}\n"
        "brokers:\n  kafka: {issuer: root}\nservers:\n  mongodb: {issuer: root, service: mongo}\n"
        "clients:\n  app: {issuer: root, service: null}\n  app-2: {issuer: root}\n",
        [], files=lambda: {"compose.yaml": b"x-base: &base {image: x}\nservices:\n  <<: {app-2: *base}\n"
                                          b"  kafka: *base\n  mongo: {image: mongo:7}\n"}),
    # CAs
    Row("ca-issuer-dangling", ca_rules.issuers, ROOT + "  sub: {issuer: rot}\n",
        ["tls.yaml:4:17: cas.sub.issuer: no CA named 'rot' (did you mean 'root'?)"]),
    Row("ca-issuer-follow-on", ca_rules.issuers, ROOT + "  sub: {issuer: bad}\n  bad: {key: rsa-1024}\n", []),
    Row("ca-issuer-cannot-sign", ca_rules.issuers, "version: 1\ncas:\n  corp: {import: {cert: corp.crt}}\n"
        "  sub: {issuer: corp}\n",
        ["tls.yaml:4:17: cas.sub.issuer: CA 'corp' is imported without its key, so it cannot sign "
         "(add import.key to cas.corp)"], files=lambda: {"corp.crt": ca_pem()}),
    Row("ca-imported-with-issuer", ca_rules.issuers, ROOT + "  corp: {issuer: root, import: {cert: corp.crt}}\n",
        ["tls.yaml:4:18: cas.corp.issuer: an imported CA is already signed; it takes no issuer (remove issuer)"],
        files=lambda: {"corp.crt": ca_pem()}),
    Row("ca-issuer-control", ca_rules.issuers, ROOT + "  sub: {issuer: root}\n", []),
    Row("ca-cycle", ca_rules.cycles, "version: 1\ncas:\n  a: {issuer: b}\n  b: {issuer: a}\n",
        ["tls.yaml:3:15: cas.a.issuer: CA cycle: a → b → a (make one CA of the cycle a root: remove its issuer)"]),
    Row("ca-cycle-control", ca_rules.cycles, "version: 1\ncas:\n  a: {}\n  b: {issuer: a}\n", []),
    Row("path-length", ca_rules.path_lengths, ROOT + "  issuing: {issuer: root, path_length: 0}\n  team: {issuer: issuing}\n",
        ["tls.yaml:5:18: cas.team.issuer: CA 'issuing' has path_length 0, so it cannot have CA 'team' 1 level(s) "
         "below it (raise cas.issuing.path_length to 1 or issue 'team' elsewhere)"]),
    Row("path-length-control", ca_rules.path_lengths, ROOT + "  issuing: {issuer: root, path_length: 1}\n"
        "  team: {issuer: issuing}\n", []),
    Row("ca-validity-not-longer-than-renew-before", ca_rules.validities, "version: 1\ncas:\n  root: {validity: 20d}\n",
        ["tls.yaml:3:20: cas.root.validity: validity 20d is not longer than renew_before 30d "
         "(every apply would reissue it; make validity longer)"]),
    Row("ca-validity-beyond-issuer", ca_rules.validities, "version: 1\ncas:\n  root: {validity: 100d}\n"
        "  sub: {issuer: root, validity: 200d}\n",
        ["tls.yaml:4:33: cas.sub.validity: validity 200d is beyond its issuer root's validity 100d (make it at most 100d)"]),
    Row("ca-validity-beyond-9999", ca_rules.validities, "version: 1\ncas:\n  root: {validity: 3000000d}\n",
        ["tls.yaml:3:20: cas.root.validity: validity 3000000d would end after 9999-12-31, the last date a certificate "
         "can hold (make it at most 2912442d)"]),
    Row("ca-validity-control", ca_rules.validities, "version: 1\ncas:\n  root: {validity: 2912442d}\n"
        "  sub: {issuer: root, validity: 100d}\n", []),
    # imported CA certificates: the first check that fails
    Row("import-not-a-ca", ca_rules.imported_certificates, IMPORT,
        [CERT_AT + "corp.crt is not a CA certificate (basicConstraints CA:TRUE) "
         "(import the certificate of the CA, not one it issued)"], files=with_key(lambda k: ca_pem(k, ca=False), p256)),
    Row("import-without-basic-constraints", ca_rules.imported_certificates, IMPORT,
        [CERT_AT + "corp.crt is not a CA certificate (basicConstraints CA:TRUE) "
         "(import the certificate of the CA, not one it issued)"], files=with_key(lambda k: ca_pem(k, ca=None), p256)),
    Row("import-without-key-cert-sign", ca_rules.imported_certificates, IMPORT,
        [CERT_AT + "corp.crt has a keyUsage without keyCertSign, so OpenSSL and Java refuse every certificate it "
         "signs (import a CA certificate whose keyUsage includes keyCertSign)"],
        files=with_key(lambda k: ca_pem(k, key_usage=signing_only()), p256)),
    Row("import-rsa-1024", ca_rules.imported_certificates, IMPORT,
        [CERT_AT + "the CA certificate in corp.crt has a rsa-1024 key, which is too weak "
         "(tlsgen takes RSA of at least 2048 bits, or EC P-256 or P-384)"],
        files=with_key(ca_pem, lambda: rsa.generate_private_key(65537, 1024))),
    Row("import-ed25519", ca_rules.imported_certificates, IMPORT,
        [CERT_AT + "the CA certificate in corp.crt has a ed25519 key, which tlsgen cannot use "
         "(tlsgen takes RSA of at least 2048 bits, or EC P-256 or P-384)"],
        files=with_key(ca_pem, ed25519.Ed25519PrivateKey.generate)),
    Row("import-p521", ca_rules.imported_certificates, IMPORT,
        [CERT_AT + "the CA certificate in corp.crt has a ec-secp521r1 key, which tlsgen cannot use "
         "(tlsgen takes RSA of at least 2048 bits, or EC P-256 or P-384)"],
        files=with_key(ca_pem, lambda: ec.generate_private_key(ec.SECP521R1()))),
    Row("import-not-yet-valid", ca_rules.imported_certificates, IMPORT,
        [CERT_AT + "the CA certificate in corp.crt is valid only from 2026-01-02 00:00 UTC (import it once it is "
         "valid (or check this machine's clock): until then nothing it signs is trusted)"],
        files=with_key(lambda k: ca_pem(k, not_before=NOW + DAY), p256)),
    Row("import-expired", ca_rules.imported_certificates, IMPORT,
        [CERT_AT + "the CA certificate in corp.crt expired on 2025-12-31 (import its renewed certificate)"],
        files=with_key(lambda k: ca_pem(k, not_after=NOW - DAY), p256)),
    Row("import-key-of-another-certificate", ca_rules.imported_certificates, IMPORT,
        ["tls.yaml:4:35: cas.corp.import.key: this key does not belong to the certificate corp.crt"],
        files=lambda: {"corp.crt": ca_pem(), "corp.key": key_pem(p256())}),
    Row("import-control", ca_rules.imported_certificates, IMPORT, [],
        files=with_key(lambda k: ca_pem(k, key_usage=x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False)),
            lambda: rsa.generate_private_key(65537, 3072))),
    # entities
    Row("issuer-dangling", rules.entity_issuer, ROOT + "clients:\n  app: {issuer: rot}\n",
        ["tls.yaml:5:17: clients.app.issuer: no CA named 'rot' (did you mean 'root'?)"]),
    Row("issuer-follow-on", rules.entity_issuer, ROOT + "  bad: {path_length: -1}\nclients:\n  app: {issuer: bad}\n", []),
    Row("issuer-unreadable-follow-on", rules.entity_issuer,
        "version: 1\ncas:\n  corp: {import: {cert: missing.crt}}\nclients:\n  app: {issuer: corp}\n", []),
    Row("issuer-names-an-invalid-broker", rules.entity_issuer, ROOT + "brokers:\n  kafka: {issuer: root, port: x}\n"
        "clients:\n  app: {issuer: kafka}\n", ["tls.yaml:7:17: clients.app.issuer: no CA named 'kafka'"]),
    Row("issuer-trust-only", rules.entity_issuer, "version: 1\ncas:\n  corp: {import: {cert: corp.crt}}\n"
        "clients:\n  app: {issuer: corp}\n",
        ["tls.yaml:5:17: clients.app.issuer: CA 'corp' is imported without its key, so it cannot issue "
         "(add import.key to cas.corp, or choose another issuer)"], files=lambda: {"corp.crt": ca_pem()}),
    Row("issuer-control", rules.entity_issuer, ROOT + "clients:\n  app: {issuer: root}\n", []),
    Row("validity-not-longer-than-renew-before", rules.validity_longer_than_renew_before,
        ROOT + "defaults: {renew_before: 40d}\nclients:\n  app: {issuer: root, validity: 40d}\n",
        ["tls.yaml:6:33: clients.app.validity: validity 40d is not longer than renew_before 40d "
         "(at defaults.renew_before) (every apply would reissue it; make validity longer or renew_before shorter)"]),
    Row("validity-not-longer-than-renew-before-control", rules.validity_longer_than_renew_before,
        ROOT + "defaults: {renew_before: 40d}\nclients:\n  app: {issuer: root, validity: 41d}\n", []),
    Row("validity-beyond-issuer", rules.validity_within_issuer,
        "version: 1\ncas:\n  root: {validity: 100d}\ndefaults: {validity: 200d}\nclients:\n  app: {issuer: root}\n",
        ["tls.yaml:4:22: defaults.validity: validity 200d is beyond its issuer root's validity 100d "
         "(make it at most 100d)"]),
    Row("validity-beyond-issuer-control", rules.validity_within_issuer,
        "version: 1\ncas:\n  root: {validity: 100d}\nclients:\n  app: {issuer: root, validity: 100d}\n", []),
    Row("validity-beyond-9999", rules.validity_within_dates, ROOT + "clients:\n  app: {issuer: root, validity: 2912443d}\n",
        ["tls.yaml:5:33: clients.app.validity: validity 2912443d would end after 9999-12-31, the last date a "
         "certificate can hold (make it at most 2912442d)"]),
    Row("validity-beyond-9999-control", rules.validity_within_dates,
        ROOT + "clients:\n  app: {issuer: root, validity: 2912442d}\n", []),
    Row("imported-issuer-ends-within-renew-before", rules.imported_issuers_outlast_renew_before,
        IMPORT + "clients:\n  app: {issuer: corp}\n",
        [CERT_AT + "the CA certificate in corp.crt ends on 2026-01-11, within renew_before 30d "
         "(every apply would reissue what it signs; import its renewed certificate)"],
        files=with_key(lambda k: ca_pem(k, not_after=NOW + 10 * DAY), p256)),
    Row("imported-issuer-ends-within-renew-before-control", rules.imported_issuers_outlast_renew_before,
        IMPORT + "clients:\n  app: {issuer: corp, renew_before: 9d, validity: 20d}\n", [],
        files=with_key(lambda k: ca_pem(k, not_after=NOW + 10 * DAY), p256)),
    Row("worker-stores", rules.worker_stores, ROOT + "defaults: {truststore: pem}\nworkers:\n"
        "  sink: {issuer: root, keystore: pem}\n",
        ["tls.yaml:6:34: workers.sink.keystore: a worker's KAFKA_OPTS needs a pkcs12 or jks keystore, not pem "
         "(set keystore: pkcs12 on this worker)",
         "tls.yaml:4:24: defaults.truststore: a worker's KAFKA_OPTS needs a pkcs12 or jks truststore, not pem "
         "(set truststore: pkcs12 on this worker)"]),
    Row("worker-stores-control", rules.worker_stores, ROOT + "defaults: {truststore: pem}\nclients:\n"
        "  app: {issuer: root, keystore: pem}\n", []),
    Row("image-mount", rules.image_conventions, ROOT + "defaults: {image: confluent}\nbrokers:\n"
        "  kafka: {issuer: root, mount: /srv/tls}\n",
        ["tls.yaml:6:32: brokers.kafka.mount: the confluent image reads its secrets from /etc/kafka/secrets, "
         "not /srv/tls (use mount: /etc/kafka/secrets, or image: none)"]),
    Row("image-env-pem-keystore", rules.image_conventions, ROOT + "brokers:\n"
        "  kafka: {issuer: root, image: apache, keystore: pem}\n",
        ["tls.yaml:5:50: brokers.kafka.keystore: keystore: pem cannot go through the image's env: its configure "
         "script always sets ssl.keystore.password, which Kafka refuses for a PEM keystore (use pkcs12 or jks with "
         "this image, or image: none and server.properties)"]),
    Row("image-control", rules.image_conventions, ROOT + "brokers:\n"
        "  kafka: {issuer: root, image: apache, truststore: pem, client_auth: none}\n", []),
    Row("password-characters", rules.password_characters, ROOT + "clients:\n  app: {issuer: root, password: {env: PW}}\n",
        ["tls.yaml:5:33: clients.app.password: the password holds characters that env files, compose or KAFKA_OPTS "
         "cannot carry: space '$' (use letters, digits and -_.:@%+=,/~^!, or password: generate)"],
        env={"PW": "pa$ word"}),
    Row("password-empty", rules.password_characters, ROOT + "clients:\n  app: {issuer: root, password: {env: PW}}\n",
        ["tls.yaml:5:33: clients.app.password: the password is empty (Java keystores need a password)"], env={"PW": ""}),
    Row("password-control", rules.password_characters, ROOT + "clients:\n  app: {issuer: root, password: {env: PW}}\n",
        [], env={"PW": "Pass-word.1:@%+=,/~^!"}),
    Row("hostnames", rules.hostnames, ROOT + "brokers:\n  kafka: {issuer: root, hostnames: [a_b, 10.0.0.1, k, K]}\n",
        ["tls.yaml:5:37: brokers.kafka.hostnames[0]: 'a_b' is not a valid hostname (use letters, digits and '-' in "
         "dot-separated labels; a wildcard only as a leading '*.')",
         "tls.yaml:5:42: brokers.kafka.hostnames[1]: '10.0.0.1' is an IP address, not a hostname "
         "(move it to ip_addresses)",
         "tls.yaml:5:55: brokers.kafka.hostnames[3]: hostname 'K' is listed twice (remove one)"]),
    Row("hostnames-control", rules.hostnames, ROOT + "brokers:\n  kafka: {issuer: root, hostnames: [a-b, '*.k.example']}\n",
        []),
    Row("ip-addresses", rules.ip_addresses, ROOT + "brokers:\n"
        "  kafka: {issuer: root, ip_addresses: ['fe80::1%eth0', 300.1.1.1, '::1', '0::1']}\n",
        ["tls.yaml:5:40: brokers.kafka.ip_addresses[0]: 'fe80::1%eth0' has a zone (%eth0), which a certificate "
         "cannot carry (write fe80::1)",
         "tls.yaml:5:56: brokers.kafka.ip_addresses[1]: '300.1.1.1' is not an IPv4 or IPv6 address "
         "(hostnames go in hostnames)",
         "tls.yaml:5:74: brokers.kafka.ip_addresses[3]: IP address ::1 is listed twice (remove one)"]),
    Row("ip-addresses-control", rules.ip_addresses, ROOT + "brokers:\n"
        "  kafka: {issuer: root, ip_addresses: ['fe80::1', '[::1]', 127.0.0.1]}\n", []),
    Row("serving-sans", rules.serving_sans, ROOT + "servers:\n  mongodb: {issuer: root, hostnames: []}\n",
        ["tls.yaml:5:38: servers.mongodb.hostnames: a server needs at least one hostname or IP address: its clients "
         "verify its certificate against them (remove hostnames: [] to use [name])"]),
    Row("serving-sans-control", rules.serving_sans, ROOT + "servers:\n  mongodb: {issuer: root, hostnames: [],"
        " ip_addresses: [10.0.0.1]}\nclients:\n  app: {issuer: root}\n", []),
    Row("references", rules.references, ROOT + "servers:\n  mongodb: {issuer: root}\nbrokers:\n  kafka: {issuer: root}\n"
        "workers:\n  sink: {issuer: root, brokers: [kafak, mongodb], connects_to: [postgres]}\n",
        ["tls.yaml:9:34: workers.sink.brokers[0]: no broker named 'kafak' (did you mean 'kafka'?)",
         "tls.yaml:9:41: workers.sink.brokers[1]: 'mongodb' is a server, not a broker",
         "tls.yaml:9:65: workers.sink.connects_to[0]: no server or broker named 'postgres'"]),
    Row("references-follow-on", rules.references, ROOT + "brokers:\n  kafka: {issuer: root, port: x}\n"
        "clients:\n  app: {issuer: root, brokers: [kafka]}\n", []),
    Row("references-control", rules.references, ROOT + "servers:\n  mongodb: {issuer: root}\nbrokers:\n"
        "  kafka: {issuer: root}\nworkers:\n  sink: {issuer: root, brokers: [kafka, kafka], connects_to: [mongodb]}\n",
        []),
    Row("explicit-trust", rules.explicit_trust, ROOT + "clients:\n  app: {issuer: root, trust: [rot]}\n"
        "  tester: {issuer: root, trust: []}\n",
        ["tls.yaml:5:31: clients.app.trust[0]: no CA or trusted certificate named 'rot' (did you mean 'root'?)",
         "tls.yaml:6:33: clients.tester.trust: an empty trust list leaves an empty truststore, which Java refuses "
         "(name at least one CA, or remove trust to use the default)"]),
    Row("explicit-trust-follow-on", rules.explicit_trust, ROOT + "trusted:\n  atlas: {file: missing.pem}\n"
        "clients:\n  app: {issuer: root, trust: [atlas]}\n", []),
    Row("explicit-trust-control", rules.explicit_trust, ROOT + "trusted:\n  atlas: {file: atlas.pem}\n"
        "clients:\n  app: {issuer: root, trust: [atlas, root]}\n", [], files=lambda: {"atlas.pem": ca_pem()}),
    # warnings (legal, said rather than refused)
    Row("trust-without-root", rules.trust_without_root, ROOT + "  issuing: {issuer: root}\nbrokers:\n"
        "  kafka: {issuer: issuing, trust: [issuing]}\nclients:\n  app: {issuer: issuing, trust: [root, issuing]}\n"
        "  rdkafka: {issuer: issuing, trust: [issuing]}\nservers:\n  mongodb: {issuer: issuing, trust: [issuing]}\n",
        ["tls.yaml:9:38: clients.rdkafka.trust[0]: trusts CA 'issuing' without its root 'root': Java accepts that, but "
         "librdkafka (OpenSSL) does not, and would refuse every peer's certificate (add 'root' to trust)",
         "tls.yaml:11:38: servers.mongodb.trust[0]: trusts CA 'issuing' without its root 'root': Java accepts that, "
         "but MongoDB (OpenSSL) does not, and would refuse every peer's certificate (add 'root' to trust)"]),
    Row("trust-without-root-control", rules.trust_without_root, ROOT + "  issuing: {issuer: root}\nclients:\n"
        "  app: {issuer: issuing, trust: [issuing, root]}\n  default: {issuer: issuing}\n", []),
]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def found(rule: Callable, draft: Draft) -> list[str]:
    if rule in rules.ENTITY_RULES:
        return [d.render() for e in draft.entities.values() for d in rule(e, draft)]
    return [d.render() for d in rule(draft)]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_rule(row: Row, project, monkeypatch):
    for name, value in row.env.items():
        monkeypatch.setenv(name, value)
    assert found(row.rule, draft_of(project, row)) == row.expected


def test_every_rule_is_in_the_chain_and_has_a_row_that_fires_and_a_control():
    chained = {*rules.RULES, *rules.ENTITY_RULES, *rules.WARNINGS, *ca_rules.RULES} - {rules.each_entity}
    firing = {r.rule for r in ROWS if r.expected}
    quiet = {r.rule for r in ROWS if not r.expected}
    assert chained == firing == quiet


def test_check_runs_the_whole_chain_in_order(project):
    draft = draft_of(project, Row("all", None, "version: 1\ncas:\n  root: {validity: 20d}\nclients:\n"
                                  "  app: {issuer: rot}\nservers:\n  root: {issuer: root}\ncompose: {file: /x}\n", []))
    assert [d.render() for d in rules.check(draft)] == [
        "tls.yaml:7:3: servers.root: name 'root' is already used by CA 'root' at tls.yaml:3:3 (names are unique "
        "across the whole spec; rename one)",
        "tls.yaml:3:20: cas.root.validity: validity 20d is not longer than renew_before 30d (every apply would "
        "reissue it; make validity longer)",
        "tls.yaml:5:17: clients.app.issuer: no CA named 'rot' (did you mean 'root'?)",
        "tls.yaml:7:9: servers.root: validity 365d is beyond its issuer root's validity 20d (make it at most 20d)",
        "tls.yaml:8:17: compose.file: '/x' must be a relative path inside the output directory "
        "(such as compose.tls.yaml)",
    ]
