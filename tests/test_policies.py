"""The ordered checks of reconcile/policies.py as tables: facts in, exact action and reasons out.

Certificates are real (made with tlsgen's own pki on an injected clock), so each check reads what
a certificate really carries; every row that fires has a row beside it that does not.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from tlsgen.crypto import pki
from tlsgen.layout import Artifact, Role
from tlsgen.reconcile.outdir import Current
from tlsgen.reconcile.policies import (CertFacts, CertWant, FileFacts, attribute_verdict, reissue_reasons,
                                       rewrite_verdict)
from tlsgen.reconcile.reasons import Action, Reason
from tlsgen.reconcile.state import FileRecord
from tlsgen.spec.duration import Duration

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
SUBJECT = (("O", "Test"), ("CN", "app"))
CA_KEY = pki.generate_key("ec-p256")
CA = pki.issue_ca(subject=(("CN", "root"),), key=CA_KEY, path_length=None, validity=timedelta(days=3650), now=NOW)
OTHER_CA_KEY = pki.generate_key("ec-p256")
OTHER_CA = pki.issue_ca(subject=(("CN", "root"),), key=OTHER_CA_KEY, path_length=None, validity=timedelta(days=3650),
                        now=NOW)
KEY = pki.generate_key("ec-p256")
WANT = CertWant(subject=SUBJECT, hostnames=("app",), ip_addresses=("10.0.0.1",), usages=("clientAuth",),
                issuer="root", path_length=None, validity=Duration(365 * 24), renew_before=Duration(30 * 24))


def leaf(*, subject=SUBJECT, hostnames=("app",), ips=("10.0.0.1",), usages=("clientAuth",), days=365,
         issued=NOW, ca=CA, ca_key=CA_KEY):
    return pki.issue_leaf(subject=subject, public_key=KEY.public_key(), issuer_cert=ca, issuer_key=ca_key,
                          hostnames=hostnames, ip_addresses=ips, usages=usages, validity=timedelta(days=days),
                          now=issued)


def facts(cert=None, **changes) -> CertFacts:
    cert = cert or leaf()
    base = CertFacts(want=WANT, cert=cert, recorded=WANT.made_from(), now=NOW, key_fp=pki.spki_fingerprint(KEY),
                     cert_key_fp=pki.spki_fingerprint(cert.public_key()))
    return replace(base, **changes)


def codes(verdict) -> tuple:
    action, reasons = verdict
    return action, [r.text for r in reasons]


CERT_CASES = [
    ("as wanted", facts(), (None, [])),
    ("key type changed", facts(key_reasons=(Reason.of("key_type_changed", old="ec-p256", new="rsa-2048"),)),
     (Action.ROTATE, ["key type changed ec-p256 → rsa-2048"])),
    ("another key on disk", facts(key_fp="00" * 32), (Action.UPDATE, ["the key no longer matches the certificate"])),
    ("subject", facts(leaf(subject=(("O", "Old"), ("CN", "app")))),
     (Action.UPDATE, ["subject changed: /O=Old/CN=app → /O=Test/CN=app"])),
    ("SAN added and removed", facts(leaf(hostnames=("old",))), (Action.UPDATE, ["SANs changed: +app, -old"])),
    ("usages", facts(leaf(usages=("serverAuth", "clientAuth"))),
     (Action.UPDATE, ["usages changed: serverAuth+clientAuth → clientAuth"])),
    ("issuer renamed", facts(recorded={"issuer": "old-root", "validity": "365d"}),
     (Action.UPDATE, ["issuer changed: old-root → root"])),
    ("validity setting", facts(recorded={"issuer": "root", "validity": "90d"}),
     (Action.UPDATE, ["validity changed: 90d → 365d"])),
    ("unknown record keeps it", facts(recorded={}), (None, [])),
    ("issuer reissued in this plan", facts(issuer_name_reissued="root"), (Action.RENEW, ["issuer root was reissued"])),
    ("signed by another key", facts(leaf(ca=OTHER_CA, ca_key=OTHER_CA_KEY), issuer_signed=False),
     (Action.RENEW, ["issuer root was reissued"])),
    ("31 days left", facts(leaf(days=31)), (None, [])),
    ("29 days left", facts(leaf(days=29)), (Action.RENEW, ["expires in 29 days (renew_before 30d)"])),
    ("expired", facts(leaf(days=10, issued=NOW - timedelta(days=12))), (Action.RENEW, ["expired 2 days ago"])),
    ("--renew", facts(renew_requested=True), (Action.RENEW, ["requested with --renew"])),
    ("first check decides, every reason shown", facts(leaf(hostnames=("old",), days=5), renew_requested=True),
     (Action.UPDATE, ["SANs changed: +app, -old", "expires in 5 days (renew_before 30d)", "requested with --renew"])),
]


@pytest.mark.parametrize("name, given, expected", CERT_CASES, ids=[c[0] for c in CERT_CASES])
def test_reissue_chain(name, given, expected):
    assert codes(reissue_reasons(given)) == expected


def test_a_ca_certificates_path_length_is_checked_and_a_leafs_is_not():
    ca_want = replace(WANT, subject=(("CN", "root"),), hostnames=(), ip_addresses=(), usages=(), issuer=None,
                      path_length=0)
    ca_facts = facts(CA, want=ca_want, recorded=ca_want.made_from(), key_fp=pki.spki_fingerprint(CA_KEY),
                     cert_key_fp=pki.spki_fingerprint(CA_KEY))
    assert codes(reissue_reasons(ca_facts)) == (Action.UPDATE, ["path_length changed: unlimited → 0"])
    assert codes(reissue_reasons(replace(ca_facts, want=replace(ca_want, path_length=None)))) == (None, [])


# --- files ------------------------------------------------------------------------------------

CONFIG = Artifact("clients/app/client.properties", "clients/app", Role.CONFIG, "app", "client.properties")
STORE = Artifact("clients/app/keystore.p12", "clients/app", Role.KEYSTORE, "app")
NEW = Reason.of("new_entity")


def file(artifact=CONFIG, data=b"x=1\n", *, recorded=b"x=1\n", wanted=b"x=1\n", made_from=None, mode=0o600,
         uid=0, gid=0, exists=True, symlink=False, **changes) -> FileFacts:
    made_from = {"password": "hmac:1"} if made_from is None else made_from
    current = Current(exists, data if exists and not symlink else None, symlink, uid, gid, mode) if exists else \
        Current(False)
    record = FileRecord(artifact.part, artifact.role.value, "d", made_from) if recorded is not None else None
    base = FileFacts(artifact=artifact, current=current, record=record, untouched=recorded == data,
                     wanted=wanted, made_from=made_from, new_reason=NEW)
    return replace(base, **changes)


FILE_CASES = [
    ("as wanted", file(), None),
    ("new entity", file(exists=False, recorded=None), (Action.CREATE, ["new entity"])),
    ("deleted by hand", file(exists=False), (Action.REPAIR, ["deleted by hand"])),
    ("deleted, and its password changed", file(exists=False, made_from={"password": "hmac:2"},
                                               record=FileRecord("clients/app", "config", "d", {"password": "hmac:1"})),
     (Action.REPAIR, ["deleted by hand", "password changed"])),
    ("a symlink in its place", file(symlink=True),
     (Action.REPAIR, ["replaced by a symlink (tlsgen writes a regular file in its place)"])),
    ("a FIFO in its place", file(data=None),
     (Action.REPAIR, ["not a regular file (tlsgen writes a regular file in its place)"])),
    ("edited by hand", file(data=b"x=2\n"), (Action.REPAIR, ["edited by hand"])),
    ("settings changed", file(wanted=b"x=3\n"), (Action.UPDATE, ["settings changed"])),
    ("store, inputs unchanged", file(STORE, b"P12", recorded=b"P12", wanted=None, made_from={"key": "k"}), None),
    ("store, key rotated", file(STORE, b"P12", recorded=b"P12", wanted=None, made_from={"key": "k2"},
                                record=FileRecord("clients/app", "keystore", "d", {"key": "k"})),
     (Action.UPDATE, ["key rotated"])),
    ("store edited but holding what it should", file(STORE, b"P12b", recorded=b"P12", wanted=None,
                                                    made_from={"key": "k"}, holds=lambda data: True), None),
    ("store edited and wrong", file(STORE, b"P12b", recorded=b"P12", wanted=None, made_from={"key": "k"},
                                    holds=lambda data: False), (Action.REPAIR, ["edited by hand"])),
    ("store made from a key still to be made", file(STORE, b"P12", recorded=b"P12", wanted=None,
                                                    made_from={"key": None}), (Action.UPDATE, ["settings changed"])),
    ("new key to make", file(material=(Action.ROTATE, (Reason.of("rotate_requested"),))),
     (Action.ROTATE, ["requested with --rotate-key"])),
]


@pytest.mark.parametrize("name, given, expected", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_rewrite_chain(name, given, expected):
    verdict = rewrite_verdict(given)
    assert (codes(verdict) if verdict else None) == expected


ATTRIBUTE_CASES = [
    ("as wanted", file(), None),
    ("readable by others", file(mode=0o644), (Action.REPAIR, ["mode 0644 → 0600"])),
    ("owner wanted", file(chown=(1000, 1000)), (Action.UPDATE, ["owner 0:0 → 1000:1000"])),
    ("owner and mode", file(mode=0o666, chown=(1000, None)), (Action.UPDATE, ["owner 0:0 → 1000", "mode 0666 → 0600"])),
    ("uid only asked, gid left", file(uid=1000, gid=5, chown=(1000, None)), None),
]


@pytest.mark.parametrize("name, given, expected", ATTRIBUTE_CASES, ids=[c[0] for c in ATTRIBUTE_CASES])
def test_attribute_chain(name, given, expected):
    verdict = attribute_verdict(given)
    assert (codes(verdict) if verdict else None) == expected
