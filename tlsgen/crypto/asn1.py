"""The little DER that tlsgen writes and reads itself, where cryptography has no public API: an
encrypted PKCS#8 key with the PKCS#12 PBE (crypto/pki.py), the bag attributes of a PKCS12 file
(crypto/stores.py) and the PKCS12 files whose MAC cryptography cannot write (crypto/pfx.py). Only
definite-length DER; anything else is refused, never guessed at.
"""

from __future__ import annotations

import base64
from typing import Iterator


class DERError(ValueError):
    """Bytes that are not the DER tlsgen reads."""


# --- writing ------------------------------------------------------------------------------------

def der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def der_int(value: int) -> bytes:
    return der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def sequence(*parts: bytes) -> bytes:
    return der(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """DER's SET OF: its elements in the order of their encodings (X.690 11.6)."""
    return der(0x31, b"".join(sorted(parts)))


def octets(data: bytes) -> bytes:
    return der(0x04, data)


def oid_der(content: bytes) -> bytes:
    """An OBJECT IDENTIFIER element from the content `oid` gives."""
    return der(0x06, content)


def pem(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode()]) + b"\n"


# --- reading ------------------------------------------------------------------------------------

def oid(dotted: str) -> bytes:
    first, second, *rest = (int(n) for n in dotted.split("."))
    out = bytearray([40 * first + second])
    for n in rest:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def items(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(tag, content) of each DER element in `data`, in order."""
    pos = 0
    while pos < len(data):
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            size = length & 0x7F
            if size == 0:
                raise DERError("indefinite-length (BER) encoding, which tlsgen does not read")
            length = int.from_bytes(data[pos:pos + size], "big")
            pos += size
        if pos + length > len(data):
            raise DERError("truncated DER data")
        yield tag, data[pos:pos + length]
        pos += length


def fields(data: bytes) -> list[tuple[int, bytes]]:
    return list(items(data))


def inner(data: bytes) -> bytes:
    """The content of the single element in `data` (an [n] EXPLICIT wrapper or an OCTET STRING)."""
    return fields(data)[0][1]
