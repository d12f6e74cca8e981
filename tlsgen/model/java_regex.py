"""Java's regular expressions (java.util.regex.Pattern), read as Java reads them and rewritten for Python's `re`.

Kafka's principal mapping rules are Java regexes, and so is the grammar Kafka splits and parses them with
(model/principals.py). Where Python's `re` would match something else, the pattern is refused naming the
construct (UNSUPPORTED); where Java itself throws (the broker would not start), it is INVALID. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Iterator

# Why a pattern is refused (Refusal.reason): Java's Pattern.compile throws; or it uses a construct tlsgen
# does not translate, since Python's re would give it another meaning.
INVALID, UNSUPPORTED = "invalid", "unsupported"


class Refusal(Exception):
    """A pattern (or, in principals.py, a rule) tlsgen does not accept: the reason code and the message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def _invalid(what: str) -> Refusal:
    return Refusal(INVALID, f"Kafka refuses this rule at startup: its Java regex is invalid ({what})")


def _unsupported(what: str) -> Refusal:
    return Refusal(UNSUPPORTED, f"tlsgen cannot predict what Kafka does with {what}; rewrite the rule without it")


# --- Java regex, rewritten for Python's re ------------------------------------------------------
#
# Kafka compiles each rule with java.util.regex.Pattern. Python's `re` shares most of the syntax but
# not all of the meaning, so every pattern is read here the way Pattern reads it and written out in
# Python syntax, compiled with re.ASCII (Java's \d \w \s and (?i) are ASCII-only unless (?U)/(?u)):
# - `.` is Java's "any but a line terminator" (\n \r \u0085 \u2028 \u2029), not Python's "any but \n";
# - `$` and `\Z` are Java's non-multiline Dollar: at the end, or before one final line terminator
#   ("\r\n" counting as one); `\z` is Python's `\Z`; `^` and `\A` are the start (Pattern.Begin);
# - (?i) and (?s) are tracked as Java scopes them (to the end of the enclosing group, across `|`) and
#   written per atom as (?i:...), since Python 3.11 refuses global flags after the start;
# - (?<name>X) becomes (?P<name>X); \k<name> and \1 become references to the same group numbers;
# - possessive quantifiers (*+ ++ ?+ {n,m}+) and atomic groups (?>X) mean the same in Python 3.11;
# - refused, naming the construct: \p{..} \P{..} (Unicode classes), \Q..\E, [a-d[m-p]] and
#   [a-z&&[^e]] (class union and intersection), \h \H \v \V \R \X \N{..} \G, \b \B (Java 19 changed
#   what \b counts as a word character, JDK-8264160, so the answer depends on the broker's JVM), the
#   flags (?m) (?d) (?u) (?U) (?x) (?c), back-references under (?i) or to a group not yet closed.
# Anything Java itself rejects (Pattern.compile throws, so the broker does not start) is INVALID.

_DOT = "[^\\n\\r\\x85\\u2028\\u2029]"
_DOLLAR = "(?=(?:\\r\\n|(?<!\\r)\\n|[\\r\\x85\\u2028\\u2029])?\\Z)"
_CHAR_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "a": "\a", "e": "\x1b"}
_REFUSED_ESCAPES = {
    "p": "\\p{...} (Unicode classes; Python's re has none)", "P": "\\P{...} (Unicode classes; Python's re has none)",
    "Q": "\\Q...\\E quoting (escape each special character with a backslash instead)",
    "h": "\\h (horizontal whitespace; write the characters, e.g. [ \\t])", "H": "\\H (not horizontal whitespace)",
    "v": "\\v (vertical whitespace in Java, only \\x0B in Python)", "V": "\\V (not vertical whitespace)",
    "R": "\\R (any line break)", "X": "\\X (grapheme clusters)", "N": "\\N{...} (write the character itself)",
    "G": "\\G (end of the previous match)",
    "b": "\\b (word boundary: Java 19 changed which characters count, so it depends on the broker's JVM)",
    "B": "\\B (not a word boundary: Java 19 changed which characters count, so it depends on the broker's JVM)",
}
_REFUSED_FLAGS = {
    "m": "(?m) multi-line mode (Java's ^ and $ then also see \\r, \\u0085, \\u2028, \\u2029 as line ends)",
    "d": "(?d) UNIX_LINES", "u": "(?u) Unicode case folding", "U": "(?U) Unicode character classes",
    "x": "(?x) comments mode (Java also ignores whitespace inside [...], Python does not)",
    "c": "(?c) canonical equivalence",
}
_JAVA_INT_MAX = 2**31 - 1


def java_int(digits: str) -> int | None:
    """Decimal digits as a Java int, or None where Java's int overflows (checked before Python's int()
    meets its own limit on very long digit strings)."""
    return int(digits) if len(digits) <= 10 and int(digits) <= _JAVA_INT_MAX else None


def _char(code: int) -> str:
    """One character as a Python regex atom, literal both inside and outside [...]."""
    if code < 0x80 and chr(code).isalnum():
        return chr(code)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class _JavaPattern:
    """Reads one Java regex as java.util.regex.Pattern does and writes the same matcher in Python syntax."""

    def __init__(self, java: str):
        self.java, self.pos = java, 0
        self.flags: frozenset[str] = frozenset()  # "i" and "s" in force at this point, scoped as in Java
        self.groups = 0  # capturing groups opened so far: Java and Python number them in this order
        self.closed: set[int] = set()
        self.names: dict[str, int] = {}

    def peek(self, ahead: int = 0) -> str:
        at = self.pos + ahead
        return self.java[at] if at < len(self.java) else ""

    def take(self) -> str:
        if self.pos >= len(self.java):
            raise _invalid("it ends in the middle of a construct")
        self.pos += 1
        return self.java[self.pos - 1]

    def match(self, syntax: str) -> re.Match | None:
        found = re.compile(syntax).match(self.java, self.pos)
        if found:
            self.pos = found.end()
        return found

    def translate(self) -> str:
        python = self.alternation()
        if self.pos < len(self.java):
            raise _invalid("unmatched closing ')'")
        return python

    def alternation(self) -> str:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.sequence())
        return "|".join(branches)

    def sequence(self) -> str:
        parts = []
        while self.peek() not in ("", "|", ")"):
            atom, quantifiable = self.atom()
            if atom is None:  # (?i) and the like: they change flags and match nothing
                continue
            if self.peek() and self.peek() in "*+?{":
                if not quantifiable:
                    raise _unsupported(f"a quantifier on an anchor or look-around ('{self.peek()}' at {self.pos})")
                atom += self.quantifier()
                if self.peek() == "{":
                    raise _unsupported(f"a repetition of a repetition ('{{' at {self.pos})")
            parts.append(atom)
        return "".join(parts)

    def atom(self) -> tuple[str | None, bool]:
        """The next atom in Python syntax (None for a flags-only group), and whether it may be quantified."""
        c = self.take()
        if c in "*+?":
            raise _invalid(f"dangling meta character '{c}'")
        if c == "{":
            raise _unsupported("a '{' with nothing to repeat (write \\{ for the character)")
        if c == "(":
            return self.group()
        if c == "[":
            return self.case_scoped(self.char_class()), True
        if c == "\\":
            return self.escape()
        if c == ".":
            return ("(?s:.)" if "s" in self.flags else _DOT), True
        if c in "^$":
            return ("\\A" if c == "^" else _DOLLAR), False
        return self.case_scoped(_char(ord(c))), True

    def case_scoped(self, atom: str) -> str:
        return f"(?i:{atom})" if "i" in self.flags else atom

    def quantifier(self) -> str:
        c = self.take()
        if c == "{":
            counted = self.match(r"([0-9]+)(,([0-9]*))?\}")
            if counted is None:
                raise _invalid("illegal repetition: a literal '{' must be written \\{")
            low, high = java_int(counted.group(1)), java_int(counted.group(3)) if counted.group(3) else 0
            if low is None or high is None or (counted.group(3) and high < low):
                raise _invalid(f"illegal repetition range {{{counted.group()}")
            c = "{" + counted.group()
        if self.peek() and self.peek() in "?+":  # lazy, possessive
            c += self.take()
        return c

    def group(self) -> tuple[str | None, bool]:
        saved_flags, number, opener = self.flags, None, "("
        if self.peek() == "?":
            self.pos += 1
            opened = self.group_opener()
            if opened is None:
                return None, False  # flags-only: they stay until the enclosing group closes, as in Java
            opener, number = opened
        else:
            self.groups += 1
            number = self.groups
        body = self.alternation()
        if self.peek() != ")":
            raise _invalid("unclosed group")
        self.pos += 1
        self.flags = saved_flags
        if number is not None:
            self.closed.add(number)
        return opener + body + ")", not opener.startswith(("(?=", "(?!", "(?<=", "(?<!"))

    def group_opener(self) -> tuple[str, int | None] | None:
        """After "(?": the Python opener and group number, or None for a flags-only group like (?i)."""
        c = self.take()
        if c in ":=!>":
            return "(?" + c, None
        if c == "<":
            if self.peek() in ("=", "!") and self.peek():
                return "(?<" + self.take(), None
            name = self.group_name()
            if name in self.names:
                raise _invalid(f"named capturing group <{name}> is already defined")
            self.groups += 1
            self.names[name] = self.groups
            return f"(?P<{name}>", self.groups
        self.pos -= 1
        found = self.match(r"([idmsuxUc]*)(?:-([idmsuxUc]*))?([:)])")
        if found is None:
            raise _invalid("unknown inline modifier")
        on, off, end = found.group(1), found.group(2) or "", found.group(3)
        for flag in on:
            if flag in _REFUSED_FLAGS:
                raise _unsupported(_REFUSED_FLAGS[flag])
        self.flags = frozenset((self.flags | set(on)) - set(off))
        return None if end == ")" else ("(?:", None)

    def group_name(self) -> str:
        found = self.match(r"([A-Za-z][A-Za-z0-9]*)>")
        if found is None:
            raise _invalid("a group name is a Latin letter, then letters or digits, then '>'")
        return found.group(1)

    def escape(self) -> tuple[str, bool]:
        c = self.take()
        if c in "123456789":
            number = int(c)  # Java takes more digits while the number stays a group opened so far (Pattern.ref)
            while self.peek() in tuple("0123456789") and number * 10 + int(self.peek()) <= self.groups:
                number = number * 10 + int(self.take())
            return self.group_reference(number, f"\\{number}"), True
        if c == "k":
            if self.take() != "<":
                raise _invalid("\\k is not followed by '<' for a named group")
            name = self.group_name()
            if name not in self.names:
                raise _invalid(f"named capturing group <{name}> does not exist")
            return self.group_reference(self.names[name], f"\\k<{name}>"), True
        if c in "AzZ":
            return {"A": "\\A", "z": "\\Z", "Z": _DOLLAR}[c], False
        escaped = self.escaped(c)
        return (escaped if isinstance(escaped, str) else self.case_scoped(_char(escaped))), True

    def group_reference(self, number: int, written: str) -> str:
        if number not in self.closed or number > 99:
            raise _unsupported(f"the back-reference {written} to a group not closed before it")
        if "i" in self.flags:
            raise _unsupported(f"the case-insensitive back-reference {written}")
        return f"(?:\\{number})"

    def escaped(self, c: str) -> int | str:
        """After a backslash, where a character or a class may stand: a code point, or a Python class escape."""
        if c in "dDsSwW":
            return "\\" + c  # ASCII under re.ASCII, as Java's without (?U)
        if c in _CHAR_ESCAPES:
            return ord(_CHAR_ESCAPES[c])
        if c == "0":
            return self.code(r"[0-3][0-7]{2}|[0-7]{1,2}", 8, "octal escape")  # Pattern.o(): \0n \0nn \0mnn
        if c == "x":
            return self.code(r"[0-9a-fA-F]{2}|\{[0-9a-fA-F]+\}", 16, "hexadecimal escape")
        if c == "u":
            return self.code(r"[0-9a-fA-F]{4}", 16, "Unicode escape")
        if c == "c":
            if not self.peek():
                raise _invalid("illegal control escape \\c")
            return ord(self.take()) ^ 64
        if c in _REFUSED_ESCAPES:
            raise _unsupported(_REFUSED_ESCAPES[c])
        if c.isascii() and c.isalnum():
            raise _invalid(f"illegal/unsupported escape sequence \\{c}")
        return ord(c)  # Java: a backslash before any other character makes it literal

    def code(self, syntax: str, base: int, what: str) -> int:
        digits = self.match(syntax)
        if digits is None:
            raise _invalid(f"illegal {what}")
        code = int(digits.group().strip("{}"), base)
        if code > 0x10FFFF:
            raise _invalid("hexadecimal code point is too big")
        if 0xD800 <= code <= 0xDFFF:
            raise _unsupported("an escaped surrogate (write the character itself)")
        return code

    def char_class(self) -> str:
        negated = self.peek() == "^"
        self.pos += negated
        items: list[str] = []
        while True:
            c = self.peek()
            if not c:
                raise _invalid("unclosed character class")
            if c == "]" and items:  # a ']' first in the class is a literal (Pattern.clazz)
                self.pos += 1
                return "[" + "^" * negated + "".join(items) + "]"
            if c == "[":
                raise _unsupported("a class inside a class (union, e.g. [a-d[m-p]])")
            if self.java.startswith("&&", self.pos):
                raise _unsupported("class intersection (&&, e.g. [a-z&&[^e]])")
            items.append(self.class_item())

    def class_item(self) -> str:
        low = self.class_member()
        if self.peek() != "-" or self.peek(1) in ("]", "["):  # '-' before ']' or '[' is literal (Pattern.range)
            return low if isinstance(low, str) else _char(low)
        self.pos += 1
        high = self.class_member()
        if isinstance(low, str) or isinstance(high, str):
            raise _unsupported("a range next to a class escape such as \\d")
        if high < low:
            raise _invalid("illegal character range")
        return f"{_char(low)}-{_char(high)}"

    def class_member(self) -> int | str:
        c = self.take()
        if c != "\\":
            return ord(c)
        c = self.take()
        if c in "123456789kAzZ":
            raise _invalid(f"illegal/unsupported escape sequence \\{c} in a character class")
        return self.escaped(c)


def compile_java_regex(pattern: str) -> re.Pattern:
    """A Python regex that matches exactly what the Java regex `pattern` matches; _Refusal if there is none."""
    translator = _JavaPattern(pattern)
    try:
        python = translator.translate()
        compiled = re.compile(python, re.ASCII)
    except RecursionError:
        raise _unsupported("groups nested this deep") from None
    except (re.error, OverflowError) as error:
        raise _unsupported(f"a construct Python's re cannot run ({error})") from None
    assert compiled.groups == translator.groups, (pattern, python)
    return compiled


def java_find_all(regex: re.Pattern, text: str) -> Iterator[re.Match]:
    """The matches Java's Matcher.find() reports in turn: each search starts where the last match ended,
    one character further after an empty match (java/util/regex/Matcher.java, find())."""
    start = 0
    while start <= len(text):
        found = regex.search(text, start)
        if found is None:
            return
        yield found
        start = found.end() + (found.end() == found.start())
