"""tlsgen.model.principals against Java: PrincipalProbe.java, compiled at test time, maps subjects with
java.util.regex following Kafka's SslPrincipalMapper step by step, and prints X500Principal.getName()
of certificates made here with `cryptography`.

- Subjects: certificates whose subjects need RFC 2253 escaping (, + " \\ leading #, leading and
  trailing spaces, \\r, NUL, non-ASCII), other attributes and string types (printed as #hex), multi-
  valued RDNs, and a few hundred random ones; Java's getName() must equal rfc2253() of the parsed
  certificate, and of the model subject the certificate was made from.
- Rules × subjects: every answer tlsgen gives must be Java's: the same name, or no match; a rule
  tlsgen calls invalid must be refused by Java; one that "fails" must throw in Java.
- Negative controls: cryptography's RFC 4514 text, and a naive mapper (Python's re on the Java
  pattern, re.sub), must be caught disagreeing with Java by the same comparisons.
"""

from __future__ import annotations

import base64
import random
import re
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from conftest import need
from interop.consumers import JVM_FLAGS, run
from tlsgen.crypto.pki import name_of
from tlsgen.model.principals import (
    INVALID,
    PrincipalError,
    RuleError,
    map_principal,
    parse_rules,
    rfc2253,
    rules_config_value,
)

HERE = Path(__file__).resolve().parent
KEY = ec.generate_private_key(ec.SECP256R1())

# --- the Java side --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> list[str]:
    javac, java = need("javac"), need("java")
    classes = tmp_path_factory.mktemp("principalprobe")
    result = run([javac, "-d", classes, HERE / "PrincipalProbe.java"], timeout=120)
    assert result.returncode == 0, f"javac PrincipalProbe.java failed:\n{result.stdout}{result.stderr}"
    return [java, *JVM_FLAGS, "-cp", str(classes), "PrincipalProbe"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def java_names(probe: list[str], certificates: list[x509.Certificate], tmp_path: Path) -> list[str]:
    bundle = tmp_path / "subjects.pem"
    bundle.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    result = run([*probe, "names", bundle], timeout=120)
    assert result.returncode == 0, result.stderr
    return [base64.b64decode(line).decode() for line in result.stdout.splitlines()]


def java_outcomes(probe: list[str], cases: list[tuple[list[str], str]]) -> list[tuple[str, str]]:
    """(kind, detail) per case: ("NAME", name), ("NOMATCH", ""), ("INVALID", message) or ("ERROR", exception)."""
    lines = "".join(f"{b64(rules_config_value(rules))} {b64(subject)}\n" for rules, subject in cases)
    result = run([*probe, "map"], input=lines, timeout=300)
    assert result.returncode == 0, result.stderr
    outcomes = []
    for line in result.stdout.splitlines():
        kind, _, detail = line.partition(" ")
        outcomes.append((kind, base64.b64decode(detail).decode() if kind == "NAME" else detail))
    assert len(outcomes) == len(cases)
    return outcomes


# --- the Python side, right and deliberately wrong -------------------------------------------------


def tlsgen_outcome(rules: list[str], subject: str) -> tuple[str, str]:
    try:
        parsed = parse_rules(rules)
    except RuleError as error:
        return error.reason.upper(), error.message
    try:
        mapped = map_principal(parsed, subject)
    except PrincipalError as error:
        return "GARBLED", str(error)
    return ("NAME", mapped.name) if mapped else ("NOMATCH", "")


def naive_outcome(rules: list[str], subject: str) -> tuple[str, str]:
    """The obvious port: Python's re on the Java pattern as written, re.sub for replaceAll."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Python's hint about [a&&b], which Java reads as a set op
        return _naive_outcome(rules, subject)


def _naive_outcome(rules: list[str], subject: str) -> tuple[str, str]:
    for rule in rules:
        if rule == "DEFAULT":
            return "NAME", subject
        found = re.fullmatch(r"RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?)", rule)
        if not found:
            return "INVALID", rule
        try:
            if re.fullmatch(found.group(1), subject):
                name = re.sub(found.group(1), re.sub(r"\$(\d)", r"\\g<\1>", found.group(2)), subject)
                case = found.group(3)
                return "NAME", name.lower() if case == "L" else name.upper() if case == "U" else name
        except (re.error, IndexError) as error:
            return "INVALID", str(error)
    return "NOMATCH", ""


def disagreements(cases, python: list[tuple[str, str]], java: list[tuple[str, str]]) -> list[str]:
    """Where a Python answer is not what Java does. Refusing an untranslatable rule (UNSUPPORTED) or a
    list Kafka reads otherwise (MISREAD) claims nothing; GARBLED claims a name with a surrogate half,
    which Java's UTF-8 encoder turns into '?'."""
    wrong = []
    for (rules, subject), (kind, detail), (java_kind, java_detail) in zip(cases, python, java):
        agrees = {"NAME": (kind, detail) == (java_kind, java_detail), "NOMATCH": java_kind == "NOMATCH",
                  "INVALID": java_kind == "INVALID", "FAILS": java_kind in ("ERROR", "NOMATCH"),
                  "UNSUPPORTED": True, "MISREAD": True, "GARBLED": java_kind == "NAME" and "?" in java_detail}[kind]
        if not agrees:
            wrong.append(f"{rules} on {subject!r}: tlsgen {kind} {detail!r}, Java {java_kind} {java_detail!r}")
    return wrong


# --- subjects ---------------------------------------------------------------------------------------

TRICKY_MODEL_SUBJECTS = [
    (("C", "GB"), ("O", "UK Home Office"), ("CN", "kafka")),
    (("O", "Tkac, Adam"), ("OU", "a+b=c"), ("CN", 'say "hi" \\ <there>;')),
    (("OU", "#not hex"), ("CN", "#")),
    (("L", " leading"), ("ST", "trailing "), ("CN", "  both  ")),
    (("CN", " ",),),
    (("O", "Zoë Ørsted"), ("OU", "İstanbul ΟΔΟΣ"), ("CN", "straße 😀")),
    (("CN", "a#b=c"),),
]
CN, O, L = NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.LOCALITY_NAME
TRICKY_NAMES = [
    x509.Name([]),
    x509.Name([x509.NameAttribute(CN, "cr\r"), x509.NameAttribute(O, "\rlead")]),
    x509.Name([x509.NameAttribute(CN, "nul\0here"), x509.NameAttribute(L, "new\nline")]),
    x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@b.example"), x509.NameAttribute(CN, "mail")]),
    x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"), x509.NameAttribute(NameOID.USER_ID, "u1")]),
    x509.Name([x509.NameAttribute(CN, "bmp é😀", _type=_ASN1Type.BMPString)]),
    x509.Name([x509.NameAttribute(CN, "univ", _type=_ASN1Type.UniversalString)]),
    x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                                               x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "b+c")]),
               x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "o")])]),
]
RANDOM_OIDS = [NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.LOCALITY_NAME,
               NameOID.STATE_OR_PROVINCE_NAME, NameOID.STREET_ADDRESS, NameOID.DOMAIN_COMPONENT, NameOID.USER_ID,
               NameOID.EMAIL_ADDRESS, NameOID.SERIAL_NUMBER, NameOID.TITLE, NameOID.GIVEN_NAME,
               ObjectIdentifier("1.3.6.1.4.1.99999.7")]
ALPHABET = "aZ09 -.'" + ',+"\\<>;#=' + "\r\n\0" + "éßİ€😀"
PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")


def random_attribute(rng: random.Random, oid: ObjectIdentifier) -> x509.NameAttribute:
    value = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8)))
    types = [_ASN1Type.UTF8String, _ASN1Type.UTF8String, _ASN1Type.BMPString, _ASN1Type.UniversalString]
    if value.isascii():
        types += [_ASN1Type.IA5String, _ASN1Type.T61String, _ASN1Type.VisibleString]
    if PRINTABLE.fullmatch(value):
        types.append(_ASN1Type.PrintableString)
    return x509.NameAttribute(oid, value, _type=rng.choice(types))


def random_names(count: int, seed: int = 2253) -> list[x509.Name]:
    rng = random.Random(seed)
    names = []
    for _ in range(count):
        rdns = []
        for _ in range(rng.randint(1, 4)):
            oids = rng.sample(RANDOM_OIDS, 2 if rng.random() < 0.15 else 1)
            rdns.append(x509.RelativeDistinguishedName([random_attribute(rng, oid) for oid in oids]))
        names.append(x509.Name(rdns))
    return names


def random_model_subjects(count: int, seed: int = 4514) -> list[tuple]:
    rng = random.Random(seed)
    letters = "aZ09 -.'" + ',+"\\<>;#=' + "éßİ€😀"
    return [tuple((short, "".join(rng.choice(letters) for _ in range(rng.randint(1, 8))))
                  for short in ("ST", "L", "O", "OU", "CN") if rng.random() < 0.7) + (("CN", "x"),)
            for _ in range(count)]


def certificate(name: x509.Name, serial: int) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "principal test issuer")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(KEY.public_key())
            .serial_number(serial).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(KEY, hashes.SHA256()))


@pytest.fixture(scope="module")
def printed(probe, tmp_path_factory) -> list[tuple[x509.Certificate, object, str]]:
    """(certificate, model subject or None, Java's getName()) for every test subject."""
    models = TRICKY_MODEL_SUBJECTS + random_model_subjects(150)
    sources = [(name_of(model), model) for model in models]
    sources += [(name, None) for name in TRICKY_NAMES + random_names(350)]
    certificates = [certificate(name, serial) for serial, (name, _) in enumerate(sources, 1)]
    names = java_names(probe, certificates, tmp_path_factory.mktemp("names"))
    assert len(names) == len(certificates)
    return [(cert, model, name) for cert, (_, model), name in zip(certificates, sources, names)]


def test_rfc2253_is_what_java_prints(printed):
    wrong = [f"{cert.subject!r}: tlsgen {rfc2253(cert.subject)!r}, Java {name!r}"
             for cert, _, name in printed if rfc2253(cert.subject) != name]
    wrong += [f"model {model!r}: tlsgen {rfc2253(model)!r}, Java {name!r}"
              for _, model, name in printed if model is not None and rfc2253(model) != name]
    assert not wrong, "\n".join(wrong[:20])
    hex_values = [name for _, _, name in printed if re.search(r"=#[0-9a-f]{4}", name)]
    assert len(hex_values) > 50 and any("\\00" in name for _, _, name in printed)  # the subjects reach Java's branches


def test_rfc4514_text_is_caught_differing_from_java(printed):
    """Negative control: cryptography's RFC 4514 text is not what Java prints, and the comparison sees it."""
    wrong = [name for cert, _, name in printed if cert.subject.rfc4514_string() != name]
    assert len(wrong) > 100


# --- rules × subjects -----------------------------------------------------------------------------------

RULE_LISTS = [
    ["DEFAULT"],
    ["RULE:^CN=([^,]+),OU=ServiceUsers.*$/$1/L", "DEFAULT"],
    ["RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L", "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
     "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U", "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U", "DEFAULT"],
    ["RULE:^CN=((\\\\, *|\\w)+)(,.*|$)/$1/", "DEFAULT"],
    ["RULE:^CN=([^,]*)(,.*)?$/$1/L"], ["RULE:^CN=([^,]*)(,.*)?$/$1/U"], ["RULE:^CN=([^,]*)(,.*)?$/$1/"],
    ["RULE:^CN=(\\d+).*$/$1/"], ["RULE:^CN=(\\w+)(,.*)?$/$1/"], ["RULE:^CN=([^\\s,]+)\\s*(,.*)?$/$1/"],
    ["RULE:(?i)^cn=([a-z]+)(,.*)?$/$1/U"], ["RULE:(?i)^CN=(k+)$/$1/"], ["RULE:^CN=(?i:duke)(,.*)?$/ok/"],
    ["RULE:^CN=(?i)([A-Z]+)(?-i),OU=.*$/$1/", "DEFAULT"], ["RULE:^(?:CN=(?i)a|B)(.*)$/$1/"],
    ["RULE:^CN=(.*)$/$1/"], ["RULE:^CN=(.*?)$/$1/"], ["RULE:(?s)^CN=(.*)$/$1/"], ["RULE:^CN=(?s)(.*)$/[$1]/"],
    ["RULE:(?s)CN=(.*?)$/[$1]/"], ["RULE:(?s)CN=(.*?)\\Z/[$1]/"], ["RULE:(?s)CN=(.*?)\\z/[$1]/"],
    ["RULE:.*/<$0>/"], ["RULE:(.*)/[$1]/"], ["RULE:(?s).*?/<$0>/"], ["RULE:(CN=[^,]*)?+.*/<$1>/"],
    ["RULE:^(CN)=(\\w*).*$/$2@$3/"], ["RULE:^(CN)=(\\w*).*$/$2@$25/"], ["RULE:^(CN)=(\\w*).*$/$02|$0/"],
    ["RULE:^(?<cn>CN)=(?<v>[^,]*).*$/${v}@${cn}/"], ["RULE:^CN=([^,]*).*$/$1 \\$1 \\\\/"],
    ["RULE:^CN=(?>a*)a.*$/x/", "DEFAULT"], ["RULE:^CN=(a*+)(.*)$/$1|$2/"], ["RULE:^CN=(a{1,2}+)(.*)$/$1|$2/"],
    ["RULE:^CN=(?<=CN=)(\\w+).*$/$1/"], ["RULE:^CN=(?!duke)([^,]*).*$/$1/", "DEFAULT"],
    ["RULE:^CN=([\\x41-\\u005A]+).*$/$1/"], ["RULE:^CN=([]a-z]*).*$/$1/"], ["RULE:^CN=([^]a]*).*$/$1/"],
    ["RULE:^CN=[-a]*(.*)$/$1/"], ["RULE:^(\\0103)N=(.*)$/$1$2/"], ["RULE:^C\\x{4E}=(\\w*)(.*)$/$1/"],
    ["RULE:^CN=(\\w)\\1(.*)$/$1$2/"], ["RULE:^CN=(\\w)(\\w)\\12(.*)$/$3/"], ["RULE:^CN=\\/(.*)$/\\/$1/"],
    ["RULE:CN=(\\w+)/$1/"], ["RULE:^CN=[^,]*,OU=([^,]*).*$/$1/", "RULE:^CN=([^,]*).*$/cn-$1/"],
    ["RULE:^CN=\\Q.\\E$/x/", "DEFAULT"], ["RULE:^CN=(\\p{L}+)$/$1/"], ["RULE:^CN=([a-z&&[^e]]+)$/$1/"],
    ["RULE:^CN=([^,]+)\\b.*$/$1/"], ["RULE:(?m)^CN=(.*)$/$1/"],
    # Kafka refuses these at startup
    ["RULE:^CN=(a{,2})$/$1/"], ["RULE:^CN=(x$/$1/"], ["RULE:^CN=\\y$/x/"], ["RULE:a/b"], ["DEFAULT/L"],
    ["rule:^CN=(.*)$/$1/"], ["RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U"], ["RULE:^CN=(.*)$/$1\\/"], ["RULE:**/x/"],
    ["RULE:^CN=(?<1a>x)$/x/"], ["RULE:[z-a]/x/"], ["RULE:(?i-s-m)a/x/"],
    # Kafka accepts these, then fails every subject they match
    ["RULE:^(CN)=(\\w*).*$/$3$4/"], ["RULE:^CN=.*$/$1/"], ["RULE:^(CN).*$/${name}/"], ["RULE:(.*)/$/"],
    ["RULE:(.*)/x\\/"], ["RULE:(.*)/$a/"], ["RULE:(.*)/$99999999999/"],
    # Kafka reads these lists otherwise
    ["RULE:^CN=(.*)$/$1/\u2028", "DEFAULT"], ["RULE:^CN=(.*)$/$1/,DEFAULT"], ["DEFAULT", ""],
]
SUBJECTS = [
    "CN=Duke,OU=ServiceUsers,O=Org,C=US", "CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "cn=duke,ou=sme,dc=mycp,dc=com",
    "cN=duke,OU=JavaSoft,O=Sun Microsystems", "OU=JavaSoft,O=Sun Microsystems,C=US",
    "CN=Tkac\\, Adam,OU=ITZ,DC=geodis,DC=cz",
    "CN=kafka,OU=Brokers,O=UK Home Office,L=London,ST=England,C=GB", "CN=duke", "CN=DUKE,OU=x", "CN=aaa,O=x", "CN=aab",
    "CN=\\#hash\\+plus,O=a\\;b,C=GB", "CN=\\ lead,OU=trail\\ ,C=GB", "CN=Zoë Ünïcödé,O=Ørsted,C=DK",
    "CN=İstanbul,O=ΟΔΟΣ,C=TR", "CN=straße,O=ŉ ǅ ﬁ ΐ", "CN=٣٤,OU=123", "CN=12,OU=x", "CN=\u212a", "CN=kK",
    "CN=x\n", "CN=x\r", "CN=x\r\n", "CN=x\u2028", "CN=x\u0085y", "CN=line\nbreak", "CN=a\\\rb", "",
    "CN=😀emoji,O=𝒳", "UID=user1,DC=example,DC=com", "1.2.840.113549.1.9.1=#160b6140622e6578616d706c65,CN=mail",
    "CN=a+OU=b,O=c", "CN=/slash", "CN=\t tab", "CN=ABC", "CN=a,OU=Zed", "CN=bb,OU=x", "OU=only",
]
# Cases where an obvious Python port differs from Java: each translation choice above is needed.
NAIVE_TRAPS = [
    (["RULE:^CN=(\\d+).*$/$1/"], "CN=٣٤,OU=123"),  # Python's \d takes Arabic-Indic digits
    (["RULE:(?i)^CN=(k+)$/$1/"], "CN=\u212a"),  # Python's Unicode (?i) folds the Kelvin sign to k
    (["RULE:^CN=(.*)$/$1/"], "CN=x\r"),  # Java's . stops at \r
    (["RULE:(?s)CN=(.*?)$/[$1]/"], "CN=x\u2028"),  # Java's $ sees \u2028 as a final line terminator
    (["RULE:^(CN)=(\\w*).*$/$2@$3/"], "CN=duke"),  # $3 beyond the groups stays literal in Kafka
    (["RULE:^(?<cn>CN)=(?<v>[^,]*).*$/${v}@${cn}/"], "CN=duke"),  # (?<name>) and ${name}
    (["RULE:(?s)CN=(.*?)\\z/[$1]/"], "CN=x\n"),  # \z is Python's \Z
]


@pytest.fixture(scope="module")
def cases(printed) -> list[tuple[list[str], str]]:
    subjects = SUBJECTS + [name for _, _, name in printed[::12]]
    return [(rules, subject) for rules in RULE_LISTS for subject in subjects] + NAIVE_TRAPS


@pytest.fixture(scope="module")
def java(probe, cases) -> list[tuple[str, str]]:
    return java_outcomes(probe, cases)


def test_tlsgen_maps_subjects_as_kafka_does(cases, java):
    python = [tlsgen_outcome(rules, subject) for rules, subject in cases]
    wrong = disagreements(cases, python, java)
    assert not wrong, f"{len(wrong)} disagreements:\n" + "\n".join(wrong[:25])
    kinds = {kind for kind, _ in python}
    assert kinds == {"NAME", "NOMATCH", "INVALID", "FAILS", "UNSUPPORTED", "MISREAD", "GARBLED"}, kinds
    assert sum(kind == "NAME" for kind, _ in python) > 500


def test_rules_that_fail_throw_in_java(cases, java):
    failing = {tuple(rules) for rules, _ in cases if tlsgen_outcome(rules, "")[0] == "FAILS"}
    threw = {tuple(rules) for (rules, _), (kind, _) in zip(cases, java) if kind == "ERROR"}
    assert failing and failing == threw


def test_rules_kafka_refuses_are_invalid_for_tlsgen(cases, java):
    refused = {tuple(rules) for (rules, _), (kind, _) in zip(cases, java) if kind == "INVALID"}
    assert all(tlsgen_outcome(list(rules), "")[0] in (INVALID.upper(), "UNSUPPORTED") for rules in refused)
    assert sum(tlsgen_outcome(list(rules), "")[0] == INVALID.upper() for rules in refused) >= 10


def test_kafka_drops_a_rule_ending_in_u2028_from_the_joined_value(probe):
    """Why MISREAD: the item alone maps CN=duke to duke, but in the joined value Kafka keeps only DEFAULT."""
    rule = "RULE:^CN=(.*)$/$1/\u2028"
    assert java_outcomes(probe, [([rule], "CN=duke"), ([rule, "DEFAULT"], "CN=duke")]) == [
        ("NAME", "duke"), ("NAME", "CN=duke")]


def test_naive_port_is_caught_differing_from_java(cases, java):
    """Negative control: the comparison catches a plausible but wrong Python answer, on every trap."""
    naive = [naive_outcome(rules, subject) for rules, subject in cases]
    assert len(disagreements(cases, naive, java)) > 100
    traps = cases[-len(NAIVE_TRAPS):]
    for case, naive_answer, java_answer in zip(traps, naive[-len(NAIVE_TRAPS):], java[-len(NAIVE_TRAPS):]):
        assert disagreements([case], [naive_answer], [java_answer]), case
