"""tlsgen.model.principals and java_regex (the Java regexes its rules are written in): Kafka's own
SslPrincipalMapperTest vectors, then each place where Java and Python differ (regex syntax and meaning,
$n replacement, case, RFC 2253 printing).

tests/interop/test_principals_java.py checks the same answers against Java itself.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from tlsgen.model.principals import (
    FAILS,
    INVALID,
    MISREAD,
    UNSUPPORTED,
    PrincipalError,
    RuleError,
    map_principal,
    parse_rules,
    principal,
    rfc2253,
    rules_config_value,
    split_rules,
)


def kafka_rules(value: str):
    """SslPrincipalMapper.fromRules(value): the rules of one config value, empty pieces skipped."""
    return parse_rules([piece for piece in split_rules(value) if piece])


def name_of(rule: str, subject: str) -> str | None:
    mapped = map_principal(parse_rules([rule]), subject)
    return mapped.name if mapped else None


def refusal(rule: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse_rules([rule])
    return caught.value


# --- Kafka's vectors: clients/src/test/java/org/apache/kafka/common/security/ssl/SslPrincipalMapperTest.java

KAFKA_VALID = [
    "DEFAULT",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
    "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
    "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
    "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
    "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
    "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
]
KAFKA_INVALID = [
    "default", "DEFAUL", "DEFAULT/L", "DEFAULT/U",
    "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
    "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
]
KAFKA_MAPPER_RULES = ", ".join([
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
    "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
    "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
    "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
    "DEFAULT",
])
KAFKA_MAPPINGS = [
    ("CN=Duke,OU=ServiceUsers,O=Org,C=US", "duke", 0),
    ("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme", 1),
    ("cn=duke,ou=sme,dc=mycp,dc=com", "DUKE@SME", 2),
    ("cN=duke,OU=JavaSoft,O=Sun Microsystems", "DUKE", 3),
    ("OU=JavaSoft,O=Sun Microsystems,C=US", "OU=JavaSoft,O=Sun Microsystems,C=US", 4),
]
KAFKA_SPLITTING = [  # (SslPrincipalMapper.toString()'s list, the config value)
    ("[]", ""),
    ("[DEFAULT]", "DEFAULT"),
    ("[RULE:/]", "RULE://"),
    ("[RULE:/.*]", "RULE:/.*/"),
    ("[RULE:/.*/L]", "RULE:/.*/L"),
    ("[RULE:/, DEFAULT]", "RULE://,DEFAULT"),
    ("[RULE:/, DEFAULT]", "  RULE:// ,  DEFAULT  "),
    ("[RULE:   /     , DEFAULT]", "  RULE:   /     / ,  DEFAULT  "),
    ("[RULE:  /     /U, DEFAULT]", "  RULE:  /     /U   ,DEFAULT  "),
    ("[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]", "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  "),
    ("[]", ",   , , ,      , , ,   "),
    ("[RULE:/, DEFAULT]", ",,RULE://,,,DEFAULT,,"),
    ("[RULE: /   , DEFAULT]", ",  , RULE: /   /    ,,,   DEFAULT, ,   "),
    ("[RULE:   /  /U, DEFAULT]", "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,"),
    (r"[RULE:\/\\\(\)\n\t/\/\/]", r"RULE:\/\\\(\)\n\t/\/\//"),
    (r"[RULE:\**\/+/*/L, RULE:\/*\**/**]", r"RULE:\**\/+/*/L,RULE:\/*\**/**/"),
    (r"[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]",
     r"RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT"),
]


@pytest.mark.parametrize("value", KAFKA_VALID)
def test_kafka_valid_rules(value):
    assert kafka_rules(value)


@pytest.mark.parametrize("value", KAFKA_INVALID)
def test_kafka_invalid_rules(value):
    with pytest.raises(RuleError) as caught:
        kafka_rules(value)
    assert caught.value.reason == INVALID
    assert "Kafka refuses this rule at startup" in caught.value.message


@pytest.mark.parametrize("subject, name, rule_index", KAFKA_MAPPINGS)
def test_kafka_mapper(subject, name, rule_index):
    mapped = map_principal(kafka_rules(KAFKA_MAPPER_RULES), subject)
    assert (mapped.name, mapped.rule_index) == (name, rule_index)


@pytest.mark.parametrize("expected, value", KAFKA_SPLITTING)
def test_kafka_rules_splitting(expected, value):
    assert "[" + ", ".join(map(str, kafka_rules(value))) + "]" == expected


def test_kafka_comma_with_whitespace():
    rules = kafka_rules(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT")
    assert map_principal(rules, r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz").name == r"Tkac\, Adam"


# --- the spec's list: one rule per item ----------------------------------------------------------


def test_items_are_joined_with_commas_and_read_back_as_the_same_rules():
    items = ["RULE:^CN=([^,]+),OU=ServiceUsers.*$/$1/L", "DEFAULT"]
    assert rules_config_value(items) == "RULE:^CN=([^,]+),OU=ServiceUsers.*$/$1/L,DEFAULT"
    assert [str(rule) for rule in parse_rules(items)] == items


def test_an_item_kafka_reads_as_two_rules_is_refused_at_its_index():
    error = refusal_at(["DEFAULT", "RULE:^CN=(.*)$/$1/, DEFAULT"])
    assert (error.index, error.reason) == (1, MISREAD)
    assert error.message == "Kafka reads this item as 2 rules (it splits at the commas between rules); write one rule per item"


def test_an_empty_item_is_refused():
    error = refusal_at(["DEFAULT", "  "])
    assert (error.index, error.reason) == (1, MISREAD)
    assert error.message == "Kafka reads this item as an empty rule; write one rule per item"


def test_an_item_the_joined_value_swallows_is_refused():
    """Alone, the rule reads fine (Java's `$` matches before a final U+2028, which String.trim() keeps);
    joined, Kafka's splitter cannot end the rule at the U+2028 and keeps only DEFAULT."""
    assert [str(rule) for rule in parse_rules(["RULE:^CN=(.*)$/$1/\u2028"])] == ["RULE:^CN=(.*)$/$1"]
    error = refusal_at(["RULE:^CN=(.*)$/$1/\u2028", "DEFAULT"])
    assert (error.index, error.reason) == (0, MISREAD)
    assert error.message == "Kafka reads the comma-joined rules differently from this list; it sees 1 rules: ['DEFAULT']"


def test_huge_numbers_are_java_int_overflows_not_crashes():
    assert refusal("RULE:(a)/$" + "9" * 5000 + "/").reason == FAILS
    assert refusal("RULE:a{" + "9" * 5000 + "}/x/").reason == INVALID


def test_an_invalid_java_regex_is_refused_at_its_index():
    error = refusal_at(["RULE:^CN=(kafka)$/$1/", "RULE:^CN=(x$/$1/"])
    assert (error.index, error.reason) == (1, INVALID)
    assert error.message == "Kafka refuses this rule at startup: its Java regex is invalid (unclosed group)"


def refusal_at(items: list[str]) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse_rules(items)
    return caught.value


# --- Java regex constructs tlsgen refuses, each named ---------------------------------------------

REFUSED = [
    (r"^CN=(\p{L}+)$", r"\p{...}"), (r"^CN=(\P{L}+)$", r"\P{...}"), (r"^CN=\Qa.b\E$", r"\Q...\E"),
    (r"^CN=[a-z&&[^e]]+$", "class intersection"), (r"^CN=[a-d[m-p]]+$", "a class inside a class"),
    (r"^CN=\h$", r"\h"), (r"^CN=\H$", r"\H"), (r"^CN=\v$", r"\v"), (r"^CN=\V$", r"\V"), (r"^CN=\R$", r"\R"),
    (r"^CN=\X$", r"\X"), (r"^CN=\N{LATIN SMALL LETTER A}$", r"\N{...}"), (r"\Ga", r"\G"),
    (r"^CN=(\w+)\b.*$", r"\b (word boundary: Java 19 changed"), (r"^CN=\B$", r"\B"),
    (r"(?m)^CN=(.*)$", "(?m) multi-line mode"), (r"(?x)^CN = (.*)$", "(?x) comments mode"),
    (r"(?u)^CN=(.*)$", "(?u) Unicode case folding"), (r"(?U)^CN=(\w*)$", "(?U) Unicode character classes"),
    (r"(?d)^CN=(.*)$", "(?d) UNIX_LINES"), (r"(?c)^CN=(.*)$", "(?c) canonical equivalence"),
    (r"^CN=(a)(?i)\1$", r"the case-insensitive back-reference \1"),
    (r"^CN=(a\1)$", r"the back-reference \1 to a group not closed before it"),
    (r"^*CN=(.*)$", "a quantifier on an anchor or look-around"),
    (r"^CN=(?<=a+)b$", "a construct Python's re cannot run (look-behind requires fixed-width pattern)"),
    (r"^CN=[\d-z]$", r"a range next to a class escape such as \d"),
    (r"^CN=a{2}{3}$", "a repetition of a repetition"), (r"{2}", "a '{' with nothing to repeat"),
    (r"^CN=\uD83D\uDE00$", "an escaped surrogate"),
]


@pytest.mark.parametrize("pattern, construct", REFUSED)
def test_untranslatable_java_constructs_are_refused_by_name(pattern, construct):
    error = refusal(f"RULE:{pattern}/x/")
    assert error.reason == UNSUPPORTED
    assert error.message.startswith(f"tlsgen cannot predict what Kafka does with {construct}")
    assert error.message.endswith("; rewrite the rule without it")


@pytest.mark.parametrize("pattern, problem", [
    ("^CN=a{,2}$", "illegal repetition: a literal '{' must be written \\{"),
    ("**", "dangling meta character '*'"),
    (r"^CN=\y$", r"illegal/unsupported escape sequence \y"),
    ("[z-a]", "illegal character range"),
    ("(?i-s-m)a", "unknown inline modifier"),
    ("(?<1a>x)", "a group name is a Latin letter, then letters or digits, then '>'"),
    (r"\k<x>(?<x>a)", "named capturing group <x> does not exist"),
    ("(?<x>a)(?<x>b)", "named capturing group <x> is already defined"),
    ("[a", "unclosed character class"),
    ("a)", "unmatched closing ')'"),
    (r"\x{110000}", "hexadecimal code point is too big"),
    ("a{2147483648}", "illegal repetition range {2147483648}"),
    (r"[\1]", r"illegal/unsupported escape sequence \1 in a character class"),
])
def test_regexes_java_rejects_are_invalid(pattern, problem):
    error = refusal(f"RULE:{pattern}/x/")
    assert error.reason == INVALID
    assert error.message == f"Kafka refuses this rule at startup: its Java regex is invalid ({problem})"


# --- Java regex meaning, translated ---------------------------------------------------------------

@pytest.mark.parametrize("rule, subject, name", [
    ("RULE:^CN=(a*+)a$/$1/", "CN=aaa", None),  # possessive: gives nothing back
    ("RULE:^CN=(a*+)(b)$/$1$2/", "CN=aab", "aab"),
    ("RULE:^CN=(?>a*)a$/x/", "CN=aaa", None),  # atomic group
    ("RULE:^CN=(?<first>\\w+)\\.(?<last>\\w+)$/${last}.${first}/", "CN=jane.doe", "doe.jane"),
    ("RULE:^CN=(.*)$/$1/", "CN=x\r", None),  # Java's . stops at \r, \u0085, \u2028, \u2029 too
    ("RULE:^CN=(.*)$/$1/", "CN=x\u2028", None),
    ("RULE:(?s)^CN=(.*)$/$1/", "CN=x\r", "x\r"),
    ("RULE:(?s)CN=(.*?)$/[$1]/", "CN=x\r\n", "[x]\r\n"),  # $ before a final line terminator, "\r\n" as one
    ("RULE:(?s)CN=(.*?)\\Z/[$1]/", "CN=x\u0085", "[x]\u0085"),
    ("RULE:(?s)CN=(.*?)\\z/[$1]/", "CN=x\n", "[x\n]"),  # \z: only the very end
    ("RULE:^CN=(\\d+)$/$1/", "CN=٣٤", None),  # \d, \w, \s are ASCII in Java
    ("RULE:^CN=(\\w+)$/$1/", "CN=é", None),
    ("RULE:(?i)^CN=(k+)$/$1/", "CN=\u212a", None),  # (?i) folds ASCII only: not the Kelvin sign
    ("RULE:(?i)^CN=(k+)$/$1/", "CN=kK", "kK"),
    ("RULE:^(?:(?i)a)b$/ok/", "Ab", "ok"),  # (?i) ends with its group
    ("RULE:^(?:(?i)a)b$/ok/", "AB", None),
    ("RULE:^(?:CN=(?i)a|b)(.*)$/$1/", "BX", "X"),  # ... and reaches the group's later alternatives
    ("RULE:^CN=[]a]+$/ok/", "CN=]a]", "ok"),  # ']' first in a class is a literal
    ("RULE:^(\\0103)\\x{4E}=\\cJ$/$1/", "CN=\n", "C"),  # octal, \x{...}, control escapes
    ("RULE:^CN=(\\w)\\1(\\w*)$/$1$2/", "CN=aab", "ab"),  # back-reference
    ("RULE:CN=(\\w+)/$1/", "CN=duke,OU=x", None),  # the whole subject must match (Matcher.matches)
    ("RULE:CN=(\\w+)/$1/", "CN=duke", "duke"),
    ("RULE:.*/<$0>/", "CN=a", "<CN=a><>"),  # replaceAll also replaces the empty match at the end
    ("RULE:^CN=\\/(.*)$/\\/$1/", "CN=/x", "/x"),  # \/ in pattern and replacement
])
def test_java_regex_meaning(rule, subject, name):
    assert name_of(rule, subject) == name


# --- $n and the replacement -------------------------------------------------------------------------

@pytest.mark.parametrize("replacement, name", [
    ("$2@$3", "duke@$3"),  # beyond the group count: literal (Kafka's escapeLiteralBackReferences)
    ("$25", "duke5"),  # cut down to $2, then "5"
    ("$02", "duke"),  # Kafka leaves $0… alone; Java reads $0 then takes the 2 while it is a group
    ("\\$1", "$1"),
    ("$1\\\\", "CN\\"),
    ("$0", "CN=duke"),
])
def test_replacement_references(replacement, name):
    assert name_of(f"RULE:^(CN)=(\\w*)$/{replacement}/", "CN=duke") == name


@pytest.mark.parametrize("rule, java_error", [
    ("RULE:^(CN)=(\\w*)$/$3$4/", "No group 4"),  # Kafka escapes $3, then puts $4's backslash one place early
    ("RULE:^CN=\\w*$/$1/", "No group 1"),  # with no groups Kafka escapes nothing
    ("RULE:^(CN).*$/${name}/", "No group with name {name}"),
    ("RULE:(.*)/x$/", "Illegal group reference: group index is missing"),
    ("RULE:(.*)/$a/", "Illegal group reference"),
    ("RULE:(.*)/${1x}/", "capturing group name {1x} starts with digit character"),
    ("RULE:(.*)/$99999999999/", 'NumberFormatException: For input string: "99999999999"'),
])
def test_replacements_that_fail_every_match(rule, java_error):
    error = refusal(rule)
    assert error.reason == FAILS
    assert error.message == ("Kafka accepts this rule, but its replacement fails on every subject the rule matches, "
                             f"so those clients cannot authenticate ({java_error})")


@pytest.mark.parametrize("case, subject, name", [
    ("L", "CN=İstanbul", "i\u0307stanbul"),  # Java's toLowerCase(Locale.ENGLISH): İ becomes i + combining dot
    ("L", "CN=ΟΔΟΣ", "οδος"),  # final sigma
    ("U", "CN=straße", "STRASSE"),
    ("U", "CN=ŉ ǅ ﬁ", "ʼN Ǆ FI"),
    ("", "CN=MiXed", "MiXed"),
])
def test_lower_and_upper_case_as_java_english(case, subject, name):
    assert name_of(f"RULE:^CN=(.*)$/$1/{case}", subject) == name


# --- principals -------------------------------------------------------------------------------------

def test_no_matching_rule_means_no_principal():
    rules = parse_rules(["RULE:^CN=([^,]+),OU=ServiceUsers.*$/$1/L"])
    assert map_principal(rules, "CN=billing,OU=Apps,O=Acme") is None
    with pytest.raises(PrincipalError) as caught:
        principal(rules, "CN=billing,OU=Apps,O=Acme")
    assert str(caught.value) == ("no principal mapping rule matches CN=billing,OU=Apps,O=Acme, so Kafka fails that "
                                 "client's authentication (rules: RULE:^CN=([^,]+),OU=ServiceUsers.*$/$1/L)")


def test_principal_of_a_model_subject_and_of_a_name():
    rules = parse_rules(["RULE:^CN=([^,]+),OU=ServiceUsers.*$/$1/L", "DEFAULT"])
    subject = (("C", "GB"), ("O", "Acme"), ("OU", "ServiceUsers"), ("CN", "Billing"))
    assert principal(rules, subject) == "User:billing"
    assert principal(rules, (("O", "Acme, Inc."), ("CN", "kafka"))) == "User:CN=kafka,O=Acme\\, Inc."
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ServiceUsers"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Ops")])
    assert principal(rules, name) == "User:ops"


def test_a_rule_that_would_cut_a_character_in_two_is_an_error():
    rules = parse_rules(["RULE:(?s).*?/<$0>/"])
    assert map_principal(rules, "CN=a").name == "<>C<>N<>=<>a<>"
    with pytest.raises(PrincipalError, match="would cut '😀'"):
        map_principal(rules, "CN=😀")


# --- RFC 2253 as X500Principal.getName() --------------------------------------------------------------

@pytest.mark.parametrize("subject, text", [
    ((("C", "GB"), ("O", "UK Home Office"), ("CN", "kafka")), "CN=kafka,O=UK Home Office,C=GB"),
    ((("O", "a,b+c=d"), ("CN", '#x "q" \\ <>;')), 'CN=\\#x \\"q\\" \\\\ \\<\\>\\;,O=a\\,b\\+c\\=d'),
    ((("CN", "  both  "),), "CN=\\ \\ both\\ \\ "),
    ((("CN", " "),), "CN=\\ "),
    ((("CN", "Zoë 😀"),), "CN=Zoë 😀"),
])
def test_rfc2253_of_model_subjects(subject, text):
    assert rfc2253(subject) == text


@pytest.mark.parametrize("attributes, text", [
    ([], ""),
    ([x509.NameAttribute(NameOID.COMMON_NAME, "cr\r"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "\rx")],
     "O=\\\rx,CN=cr\\\r"),  # Java escapes a leading or trailing \r like a space
    ([x509.NameAttribute(NameOID.COMMON_NAME, "nul\0")], "CN=nul\\00"),
    ([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@b.example")], "1.2.840.113549.1.9.1=#160b6140622e6578616d706c65"),
    ([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"), x509.NameAttribute(NameOID.USER_ID, "u1")],
     "UID=u1,DC=example"),
    # Java decodes every string type's bytes as UTF-8: "ab" in UTF-16 is NUL a NUL b
    ([x509.NameAttribute(NameOID.COMMON_NAME, "ab", _type=_ASN1Type.BMPString)], "CN=\\00a\\00b"),
    ([x509.NameAttribute(NameOID.COMMON_NAME, "ab", _type=_ASN1Type.UniversalString)], "CN=#1c080000006100000062"),
])
def test_rfc2253_of_names(attributes, text):
    assert rfc2253(x509.Name(attributes)) == text


def test_rfc2253_of_a_multi_valued_rdn():
    name = x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                                                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "b+c")]),
                      x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "o")])])
    assert rfc2253(name) == "O=o,CN=a+OU=b\\+c"


def test_rfc2253_refuses_attributes_tlsgen_does_not_write():
    with pytest.raises(ValueError, match="not a subject attribute tlsgen writes"):
        rfc2253((("EMAIL", "a@b"),))
