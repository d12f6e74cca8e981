"""Durations as users write them: `Nd` or `Nh`.

Kept out of the pydantic schema module so that the resolved model (and every command that only
reads it) does not import pydantic; pydantic is imported only when it builds the schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


# Longer than any certificate can last (X.509 dates end in 9999), and short enough that timedelta
# arithmetic on it never overflows; how far a validity really reaches is checked against the clock.
MAX_DAYS = 3_650_000


@dataclass(frozen=True, order=True)
class Duration:
    """`Nd` or `Nh`, kept as written so messages can quote it ("renew_before 30d")."""

    hours: int

    PATTERN = r"^[1-9][0-9]*[dh]$"

    @classmethod
    def parse(cls, value: Any) -> "Duration":
        if isinstance(value, Duration):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise _error("duration", "a duration is a number of days or hours, such as 365d or 12h")
        text = str(value).strip()
        m = re.fullmatch(r"(\d+)\s*([dh])", text)
        if not m:
            hint = " (add a unit: d or h)" if text.isdigit() else ""
            raise _error("duration", "'{v}' is not a duration such as 365d or 12h{hint}",
                         {"v": text, "hint": hint})
        n = int(m.group(1)) if len(m.group(1)) <= 12 else MAX_DAYS * 24 + 1
        if n <= 0:
            raise _error("duration", "a duration must be positive, not '{v}'", {"v": text})
        hours = n * 24 if m.group(2) == "d" else n
        if hours > MAX_DAYS * 24:
            raise _error("duration", "'{v}' is longer than {max}d (10000 years): no certificate date reaches that far",
                         {"v": text if len(text) <= 20 else text[:20] + "…", "max": MAX_DAYS})
        return cls(hours)

    @property
    def delta(self) -> timedelta:
        return timedelta(hours=self.hours)

    def __str__(self) -> str:
        return f"{self.hours // 24}d" if self.hours % 24 == 0 else f"{self.hours}h"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(str),
            json_schema_input_schema=core_schema.str_schema(pattern=cls.PATTERN))


def _error(kind: str, message: str, context: dict | None = None) -> Exception:
    from pydantic_core import PydanticCustomError

    return PydanticCustomError(kind, message, context)
