"""Kafka principals exactly as the broker maps them: `ssl.principal.mapping.rules` and RFC 2253 subjects.

A TLS client's principal is `User:` + the name Kafka's `SslPrincipalMapper` makes of the subject's
RFC 2253 text (`X500Principal.getName()`). This module reproduces both without a JVM: Kafka's rule
grammar and replacement loop (its Java regexes go through `java_regex`), and Java's RFC 2253 printing.
Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Sequence

from .java_regex import INVALID, UNSUPPORTED, Refusal, compile_java_regex, java_find_all, java_int

if TYPE_CHECKING:
    from cryptography import x509

    from .topology import Subject

# Why a rule is refused (RuleError.reason): Kafka refuses it at startup (INVALID); Kafka accepts it but
# fails the authentication of every client it matches (FAILS); its Java regex uses a construct tlsgen
# does not translate (UNSUPPORTED); or Kafka would read the item as something other than this one rule
# (MISREAD, see parse_rules).
FAILS, MISREAD = "fails", "misread"
__all__ = ["FAILS", "INVALID", "MISREAD", "UNSUPPORTED", "MappedName", "PrincipalError", "Rule", "RuleError",
           "map_principal", "parse_rules", "principal", "rfc2253", "rules_config_value", "split_rules"]


class RuleError(ValueError):
    """A rule (the `index`-th item of principal_mapping_rules) that tlsgen cannot accept, and why."""

    def __init__(self, index: int, message: str, reason: str):
        super().__init__(message)
        self.index, self.message, self.reason = index, message, reason


class PrincipalError(ValueError):
    """Kafka gives a subject no usable principal: no rule matches it (SslPrincipalMapper.NoMatchingRule, so
    authentication fails), or its replacement would cut a character in two (see Rule.apply)."""


# --- Kafka's rules ------------------------------------------------------------------------------
#
# Kafka trunk, clients/src/main/java/org/apache/kafka/common/security/ssl/SslPrincipalMapper.java
# (ssl.principal.mapping.rules is one STRING, BrokerSecurityConfigs.java; null means "DEFAULT"):
#   RULE_PATTERN  = "(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)"
#   RULE_SPLITTER = "\s*(" + RULE_PATTERN + ")\s*(,\s*|$)"     -- find() repeatedly in value.trim()
#   parseRules: RULE_PARSER.lookingAt() must end at the end of the piece, else "Invalid rule";
#               "empty rules are ignored"; group 1 -> DEFAULT, else Pattern.compile(group 2),
#               replacement group 4, "L"/"U" group 6.
#   Rule.apply: DEFAULT returns the DN; else if (m.matches()) result = distinguishedName.replaceAll(
#               pattern.pattern(), escapeLiteralBackReferences(replacement, m.groupCount()));
#               then result.toLowerCase(Locale.ENGLISH) for L, toUpperCase(Locale.ENGLISH) for U.
#   getName:    the first rule whose apply() is not null; none -> NoMatchingRule, and
#               DefaultKafkaPrincipalBuilder fails the authentication.
# The grammar's two regexes are Java regexes, so they go through the same translation as the rules.

_RULE = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)"
_RULE_SPLITTER = compile_java_regex(r"\s*(" + _RULE + r")\s*(,\s*|$)")
_RULE_PARSER = compile_java_regex(_RULE)


@dataclass(frozen=True)
class Rule:
    """One parsed rule: DEFAULT (pattern None) or RULE:pattern/replacement/[L|U]."""

    pattern: str | None = None
    replacement: str | None = None
    case: str = ""  # "L", "U" or ""
    regex: re.Pattern | None = field(default=None, compare=False, repr=False)
    template: tuple[str | int, ...] = field(default=(), compare=False, repr=False)  # literals and group numbers

    def __str__(self) -> str:
        """As Kafka's Rule.toString() prints it (in its NoMatchingRule message and its tests)."""
        if self.pattern is None:
            return "DEFAULT"
        return f"RULE:{self.pattern}/{self.replacement}" + (f"/{self.case}" if self.case else "")

    def apply(self, subject: str) -> str | None:
        """The name this rule makes of an RFC 2253 subject, or None when its regex does not match all of it."""
        if self.regex is None:
            return subject
        if self.regex.fullmatch(subject) is None:  # Matcher.matches(): the whole subject
            return None
        # replaceAll goes on finding matches after the whole-subject one: ".*" also matches the empty end
        pieces, tail = [], 0
        for found in java_find_all(self.regex, subject):
            pieces += [subject[tail:found.start()], *self.replacement_of(found)]
            tail = found.end()
            if found.start() == tail < len(subject) and ord(subject[tail]) > 0xFFFF:
                # Java strings are UTF-16: after an empty match, find() moves on one char, into the middle
                # of this character's surrogate pair, and the replacement can land between its halves.
                raise PrincipalError(f"Kafka's rule {self} would cut {subject[tail]!r} in {subject!r} in two "
                                     "(its replaceAll works on UTF-16 halves here); anchor the rule with ^")
        name = "".join(pieces) + subject[tail:]
        # Java's toLowerCase/toUpperCase(Locale.ENGLISH) are Unicode's full case mappings, as Python's
        # lower()/upper() are ("İ" -> "i̇", "ß" -> "SS", final sigma); both follow their runtime's Unicode
        # version, so a letter newer than the broker's JVM may be cased by Python and not by Kafka.
        return name.lower() if self.case == "L" else name.upper() if self.case == "U" else name

    def replacement_of(self, found: re.Match) -> Iterator[str]:
        for piece in self.template:  # a group that took no part adds nothing, as in Java
            yield piece if isinstance(piece, str) else found.group(piece) or ""


@dataclass(frozen=True)
class MappedName:
    """The name Kafka maps a subject to (the principal is "User:" + name)."""

    name: str
    rule_index: int  # which rule mapped it


def split_rules(value: str) -> list[str]:
    """The rule texts Kafka reads from one ssl.principal.mapping.rules value (SslPrincipalMapper.splitRules),
    empty ones included: Kafka's parseRules skips them (a value that ends with a rule yields a last "")."""
    trimmed = value.strip("".join(map(chr, range(33))))  # String.trim(): every char <= U+0020
    return [found.group(1) for found in java_find_all(_RULE_SPLITTER, trimmed)]


def rules_config_value(rules: Sequence[str]) -> str:
    """The ssl.principal.mapping.rules value for a list of rules, one rule per item."""
    return ",".join(rules)


def parse_rules(rules: Sequence[str]) -> list[Rule]:
    """The rules of a spec's list, one per item, parsed as Kafka parses their comma-joined value.

    RuleError for the first item tlsgen cannot accept: Kafka refuses it (INVALID); Kafka accepts it but
    its replacement throws on every subject it matches (FAILS); its regex uses a construct tlsgen does
    not translate (UNSUPPORTED); Kafka reads it as other than one rule (MISREAD): an empty item (Kafka
    skips it), an item holding several rules, or one that the comma-joined value swallows, e.g. a rule
    ending in U+2028, which String.trim() keeps and before which Java's `$` matches only at the end.
    """
    parsed, texts = [], []
    for index, item in enumerate(rules):
        pieces = [piece for piece in split_rules(item) if piece]  # Kafka skips empty pieces
        if len(pieces) != 1:
            what = f"{len(pieces)} rules (it splits at the commas between rules)" if pieces else "an empty rule"
            raise RuleError(index, f"Kafka reads this item as {what}; write one rule per item", MISREAD)
        try:
            parsed.append(_parse_rule(pieces[0]))
        except Refusal as refusal:
            raise RuleError(index, refusal.message, refusal.reason) from None
        texts.append(pieces[0])
    joined = [piece for piece in split_rules(rules_config_value(rules)) if piece]
    if joined != texts:
        index = next((i for i, (a, b) in enumerate(zip(joined, texts)) if a != b), min(len(joined), len(texts)))
        raise RuleError(index, "Kafka reads the comma-joined rules differently from this list; "
                               f"it sees {len(joined)} rules: {joined}", MISREAD)
    return parsed


def _parse_rule(text: str) -> Rule:
    found = _RULE_PARSER.match(text)  # Matcher.lookingAt()
    if found.end() != len(text):
        raise Refusal(INVALID, f"Kafka refuses this rule at startup: `{text[found.end():]}` is left over; "
                                "a rule is DEFAULT or RULE:pattern/replacement/ with an optional L or U")
    if found.group(1) is not None:
        return Rule()
    pattern, replacement, case = found.group(2), found.group(4), found.group(6)
    regex = compile_java_regex(pattern)
    escaped = _escape_literal_back_references(replacement, regex.groups)
    return Rule(pattern, replacement, case, regex, _replacement_template(escaped, regex))


def _fails(java_message: str) -> Refusal:
    return Refusal(FAILS, "Kafka accepts this rule, but its replacement fails on every subject the rule matches, "
                           f"so those clients cannot authenticate ({java_message})")


def _escape_literal_back_references(replacement: str, group_count: int) -> str:
    """Kafka's Rule.escapeLiteralBackReferences: a $n beyond the group count becomes the literal "$n".

    A number too big is cut down digit by digit first ("$25" with 2 groups is group 2, then "5"). Like
    Kafka, the loop finds the references in the original text but inserts its backslashes into the
    edited copy at those original positions, so a second escaped reference lands one character early:
    "$3$4" with 2 groups becomes "\\$\\3$4", and $4 then fails in Java's replaceAll.
    """
    if group_count == 0:
        return replacement
    value = replacement
    for reference in re.finditer(r"\$([0-9]+)", replacement):
        digits = reference.group(1)
        if digits.startswith("0"):
            continue
        number = java_int(digits)
        if number is None:
            raise _fails(f'NumberFormatException: For input string: "{digits}"')
        while number > group_count and number >= 10:
            number //= 10
        if number > group_count:
            at = reference.start(1) - 1
            value = value[:at] + "\\" + value[at:]
    return value


def _replacement_template(replacement: str, regex: re.Pattern) -> tuple[str | int, ...]:
    """Java's Matcher.appendReplacement syntax read once: literal text and group numbers, or _fails()."""
    pieces: list[str | int] = []
    literal, at = "", 0
    while at < len(replacement):
        c, at = replacement[at], at + 1
        if c == "\\":
            if at == len(replacement):
                raise _fails("character to be escaped is missing")
            literal, at = literal + replacement[at], at + 1
        elif c != "$":
            literal += c
        elif at == len(replacement):
            raise _fails("Illegal group reference: group index is missing")
        else:
            number, at = _group_reference(replacement, at, regex)
            pieces += [literal, number]
            literal = ""
    return tuple(p for p in [*pieces, literal] if p != "")


def _group_reference(replacement: str, at: int, regex: re.Pattern) -> tuple[int, int]:
    """The group number of the reference after a '$' at `at`, and where the text goes on."""
    if replacement[at] == "{":
        name = re.match(r"[A-Za-z0-9]*", replacement[at + 1:]).group()
        close = at + 1 + len(name)
        if not name:
            raise _fails("named capturing group has 0 length name")
        if replacement[close:close + 1] != "}":
            raise _fails("named capturing group is missing trailing '}'")
        if name[0].isdigit():
            raise _fails(f"capturing group name {{{name}}} starts with digit character")
        if name not in regex.groupindex:
            raise _fails(f"No group with name {{{name}}}")
        return regex.groupindex[name], close + 1
    if replacement[at] not in "0123456789":
        raise _fails("Illegal group reference")
    number, at = int(replacement[at]), at + 1
    # "Capture the largest legal group string": more digits only while the number stays a group
    while at < len(replacement) and replacement[at] in "0123456789":
        longer = number * 10 + int(replacement[at])
        if longer > regex.groups:
            break
        number, at = longer, at + 1
    if number > regex.groups:
        raise _fails(f"No group {number}")
    return number, at


def map_principal(rules: Sequence[Rule], subject_rfc2253: str) -> MappedName | None:
    """The name Kafka maps an RFC 2253 subject to, and which rule did it; None: authentication fails.

    PrincipalError when the rule that matches would garble the name (Rule.apply).
    """
    for index, rule in enumerate(rules):
        name = rule.apply(subject_rfc2253)
        if name is not None:
            return MappedName(name, index)
    return None


def principal(rules: Sequence[Rule], subject: Subject | x509.Name | str) -> str:
    """`User:<name>` as the broker sees the client (a model subject, an x509.Name, or RFC 2253 text)."""
    text = subject if isinstance(subject, str) else rfc2253(subject)
    mapped = map_principal(rules, text)
    if mapped is None:
        raise PrincipalError(f"no principal mapping rule matches {text}, so Kafka fails that client's "
                             f"authentication (rules: {', '.join(map(str, rules)) or 'none'})")
    return f"User:{mapped.name}"


# --- RFC 2253, as Java's X500Principal.getName() prints it --------------------------------------
#
# JDK 17, sun/security/x509/X500Name.java, RDN.java, AVA.java (toRFC2253String, AVAKeyword):
# - RDNs most specific first (the DER's last first), joined by ","; the AVAs of a multi-valued RDN
#   in DER order joined by "+";
# - the keyword only for CN C L ST O OU STREET DC UID (rfc2253Compliant); any other attribute, or a
#   value that is not Printable/T61/IA5/General/BMP/UTF8String, is the dotted OID and "#" + the hex
#   of the value's DER (lower case, HexFormat);
# - otherwise the value's bytes decoded as UTF-8 whatever their type (so a BMPString prints oddly),
#   each of ,=+<>#;"\ preceded by "\", NUL written "\00", then every leading and trailing ' ' or
#   '\r' preceded by "\". Nothing else is escaped: non-ASCII and control characters stay as they are.

_JAVA_KEYWORDS = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
                  "2.5.4.11": "OU", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
                  "0.9.2342.19200300.100.1.1": "UID"}
_MODEL_KEYWORDS = {"C", "ST", "L", "O", "OU", "CN"}
_JAVA_STRING_TAGS = {0x13, 0x14, 0x16, 0x1B, 0x1E, 0x0C}  # AVA.isDerString(value, false)
_JAVA_ESCAPED = ',=+<>#;"\\'


def rfc2253(subject: Subject | x509.Name) -> str:
    """A subject as Java's X500Principal.getName() prints it: what Kafka maps (and MongoDB's X.509 user)."""
    if isinstance(subject, tuple):  # a model Subject: one RDN per attribute, in the order C ST L O OU CN
        unknown = [short for short, _ in subject if short not in _MODEL_KEYWORDS]
        if unknown:
            raise ValueError(f"not a subject attribute tlsgen writes: {unknown}")
        rdns = [[f"{short}={_escape_value(value)}"] for short, value in subject]
    else:
        rdns = [[_ava_text(oid, value) for oid, value in rdn] for rdn in _der_rdns(subject.public_bytes())]
    return ",".join("+".join(avas) for avas in reversed(rdns))


def _escape_value(text: str) -> str:
    escaped = "".join("\\" + c if c in _JAVA_ESCAPED else "\\00" if c == "\0" else c for c in text)
    lead, trail = len(escaped) - len(escaped.lstrip(" \r")), len(escaped.rstrip(" \r"))
    return "".join("\\" + c if i < lead or i >= trail else c for i, c in enumerate(escaped))


def _ava_text(oid: str, value_der: bytes) -> str:
    keyword = _JAVA_KEYWORDS.get(oid, oid)
    if keyword[0].isdigit() or value_der[0] not in _JAVA_STRING_TAGS:
        return f"{keyword}=#{value_der.hex()}"
    _, content, _ = next(_der_elements(value_der))
    return f"{keyword}={_escape_value(content.decode('utf-8', 'replace'))}"


def _der_elements(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(tag, content, whole element) of each DER element in `data`, in order."""
    at = 0
    while at < len(data):
        start, tag, length = at, data[at], data[at + 1]
        at += 2
        if length & 0x80:
            size = length & 0x7F
            length, at = int.from_bytes(data[at:at + size], "big"), at + size
        yield tag, data[at:at + length], data[start:at + length]
        at += length


def _der_rdns(name_der: bytes) -> Iterator[list[tuple[str, bytes]]]:
    """The RDNs of a DER Name, each a list of (dotted OID, value's DER) in DER order."""
    _, rdn_sequence, _ = next(_der_elements(name_der))
    for _, rdn, _ in _der_elements(rdn_sequence):
        avas = []
        for _, ava, _ in _der_elements(rdn):
            (_, oid, _), (_, _, value) = _der_elements(ava)
            avas.append((_oid_text(oid), value))
        yield avas


def _oid_text(body: bytes) -> str:
    arcs, value = [], 0
    for byte in body:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))
