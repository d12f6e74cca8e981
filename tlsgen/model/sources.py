"""Reading what the spec points at: environment variables, password files, imported CA certificates
and keys, `trusted:` PEM files.

The gathering step of validation: it reads and parses, records every file it read (watch follows
them) and reports what cannot be read at the spec place that names it, but judges nothing; what
it found out about an imported certificate goes to `rules` as `CertFacts`. Files are read with
`spec.files.read_regular_file`: regular files only, at most 1 MiB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ..diagnostics import Diagnostic, display_path
from ..spec import schema
from ..spec.compose_file import ComposeServices, NotAComposeFile, compose_services
from ..spec.files import UnreadableFile, read_regular_file
from ..spec.loader import Locations, SpecPath
from .topology import ImportedCA, Secret, Trusted


@dataclass(frozen=True)
class CertFacts:
    """What an imported CA certificate (and its key) says about itself; `rules` decides what is wrong."""

    file: Path
    not_before: datetime
    not_after: datetime
    is_ca: bool  # basicConstraints CA:TRUE
    key_cert_sign: bool | None  # keyUsage keyCertSign; None without a keyUsage extension
    key_type: str  # "rsa-2048", "ec-p256", "ec-secp521r1", "ed25519", "dsa-2048", ...
    key_matches: bool | None  # None when no key was given


class Sources:
    def __init__(self, locations: Locations):
        self.locations = locations
        self.inputs: list[Path] = list(locations.files)
        self.environment: list[str] = []  # the variables the spec reads, like inputs for files
        self.problems: list[Diagnostic] = []

    def error(self, path: SpecPath, message: str, hint: str | None = None) -> None:
        self.problems.append(self.locations.diagnostic(path, message, hint))

    def file(self, path: SpecPath, name: str) -> Path:
        """A path written in the spec, relative to the spec file it was written in."""
        return self.locations.file_of(path).parent / name

    def read_file(self, path: SpecPath, file: Path) -> bytes | None:
        self.inputs.append(file)
        try:
            return read_regular_file(file)
        except UnreadableFile as exc:
            self.error(path, f"cannot read {display_path(file)}: {exc}")
            return None

    def secret(self, path: SpecPath, source: schema.EnvRef | schema.FileRef, *, strip: bool) -> str | None:
        """The text of an {env: NAME} or {file: PATH}; for a password, without its line break."""
        if isinstance(source, schema.EnvRef):
            self.environment.append(source.env)
            value = os.environ.get(source.env)
            if value is None:
                self.error(path + ("env",), f"environment variable {source.env} is not set",
                           f"export {source.env}=... before running tlsgen")
                return None
        else:
            file = self.file(path + ("file",), source.file)
            data = self.read_file(path + ("file",), file)
            if data is None:
                return None
            try:
                value = data.decode("utf-8")
            except UnicodeDecodeError:
                self.error(path + ("file",), f"cannot read {display_path(file)}: it is not UTF-8 text")
                return None
        return value.rstrip("\r\n") if strip else value

    def imported_ca(self, path: SpecPath, spec: schema.ImportSpec) -> tuple[ImportedCA, CertFacts] | None:
        cert_at = path + ("import", "cert")
        cert_file = self.file(cert_at, spec.cert)
        data = self.read_file(cert_at, cert_file)
        if data is None:
            return None
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            self.error(cert_at, f"{display_path(cert_file)} is not a PEM certificate")
            return None
        password = self.secret(path + ("import", "password"), spec.password, strip=True) if spec.password else None
        key_text, key = None, None
        if spec.key is not None:
            key_text = self.secret(path + ("import", "key"), spec.key, strip=False)
            key = self.private_key(path + ("import", "key"), key_text, password)
            if key is None:
                return None
        try:  # cryptography reads extensions and the public key only when asked
            public = cert.public_key()
            facts = CertFacts(file=cert_file, not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                              is_ca=_is_ca(cert), key_cert_sign=_key_cert_sign(cert), key_type=key_type(public),
                              key_matches=None if key is None else _spki(key.public_key()) == _spki(public))
        except (ValueError, UnsupportedAlgorithm) as exc:
            self.error(cert_at, f"{display_path(cert_file)} holds a certificate tlsgen cannot read: {exc}")
            return None
        imported = ImportedCA(cert_file=cert_file, cert_pem=cert.public_bytes(serialization.Encoding.PEM),
                              key_pem=key_text.encode() if key_text is not None else None,
                              key_password=Secret(password) if password else None)
        return imported, facts

    def private_key(self, path: SpecPath, text: str | None, password: str | None):
        if text is None:
            return None
        try:
            return serialization.load_pem_private_key(text.encode(), password.encode() if password else None)
        except TypeError:
            self.error(path, "the CA key is encrypted", "add import.password")
        except ValueError:
            self.error(path, "not a PEM private key, or the password is wrong")
        except UnsupportedAlgorithm:
            self.error(path, "a private key of a kind tlsgen cannot read")
        return None

    def compose_services(self, path: SpecPath, file: Path) -> ComposeServices | None:
        """The services the user's compose file defines (`compose.services_from`); watch follows the file."""
        data = self.read_file(path, file)
        if data is None:
            return None
        try:
            return compose_services(data.decode("utf-8"))
        except UnicodeDecodeError:
            self.error(path, f"cannot read {display_path(file)}: it is not UTF-8 text")
        except NotAComposeFile as exc:
            self.error(path, f"cannot take services from {display_path(file)}: {exc}",
                       "name the compose file you run with docker compose -f")
        return None

    def trusted(self, name: str, item: schema.TrustedSpec) -> Trusted | None:
        path: SpecPath = ("trusted", name, "file")
        file = self.file(path, item.file)
        data = self.read_file(path, file)
        if data is None:
            return None
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            self.error(path, f"{display_path(file)} holds no PEM certificate")
            return None
        return Trusted(name, file, tuple(c.public_bytes(serialization.Encoding.PEM) for c in certs))


def key_type(public_key) -> str:
    """The spec's name for a key type tlsgen makes ("rsa-2048", "ec-p256"), and a descriptive one otherwise."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(public_key.curve.name, f"ec-{public_key.curve.name}")
    if isinstance(public_key, dsa.DSAPublicKey):
        return f"dsa-{public_key.key_size}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "ed448"
    return type(public_key).__name__


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _key_cert_sign(cert: x509.Certificate) -> bool | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return None
