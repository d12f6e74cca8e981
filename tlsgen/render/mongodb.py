"""Servers (MongoDB, or any other TLS server): their env file, which sets nothing.

mongod takes its TLS settings from its command line or config file, never from the environment
(and the official mongo image's entrypoint passes its arguments on), so there is nothing for
env_file to carry. The file says instead how to start mongod on these files, with the options that
give the entity's `client_auth` its meaning: mongod requires a client certificate whenever it has
a CA file, unless allowConnectionsWithoutCertificates (MongoDB manual, net.tls options).
"""

from __future__ import annotations

from ..model import Entity, Spec
from ..layout import CA_BUNDLE, CHAIN, cert_and_key_file, cert_file, key_file
from .inputs import WRITTEN_BY, Passwords
from .syntax import dotenv


def mongod_options(e: Entity) -> list[str]:
    options = ["--tlsMode", "requireTLS",
               "--tlsCertificateKeyFile", e.in_mount(cert_and_key_file(e)),
               "--tlsCAFile", e.in_mount(CA_BUNDLE)]
    if e.client_auth in ("requested", "none"):
        # mongod cannot be told not to ask: with a CA file it always requests a certificate.
        options.append("--tlsAllowConnectionsWithoutCertificates")
    return options


def render_server_env(spec: Spec, e: Entity, pw: Passwords) -> str:
    return dotenv([
        WRITTEN_BY,
        f"TLS server {e.name}. Nothing to set here: servers take TLS settings from their command line",
        f"or config file, not the environment. For MongoDB (client_auth: {e.client_auth or 'required'}):",
        "  mongod " + " ".join(mongod_options(e)),
        f"Other servers: {e.in_mount(cert_file(e))}, {e.in_mount(key_file(e))} (PKCS#8, unencrypted),",
        f"{e.in_mount(CHAIN)} (with intermediates), trusted CAs in {e.in_mount(CA_BUNDLE)}.",
    ])
