"""TLS for SIP (RFC 3261 section 26.2, RFC 5922): the ``ssl`` contexts the transports use.

Outbound (toward the trunk) the server's certificate is verified against the configured CA
file (the system's CAs without one) and, unless turned off, its name is checked against the
domain we meant to reach: the trunk's host as configured, never a name DNS handed us (an SRV
target or a NAPTR replacement), since DNS answers are not authenticated (RFC 5922 section 4).
Our certificate, when configured, is offered as the client certificate (mutual TLS).

Inbound (a trunk's in-dialog requests to our ``sips:`` Contact) we present that same
certificate. Peers' client certificates are not asked for.

TLS 1.2 at least; the ciphers are OpenSSL's defaults.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass


class TlsConfigError(ValueError):
    """A certificate, key or CA file that cannot be used; the message names which."""


@dataclass(frozen=True)
class TlsFiles:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify_hostname: bool = True


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """The context for connections we open: the peer must prove who it is."""
    if files.ca_file is None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        # Only the configured CAs: a trunk's private CA should not sit beside every public one.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _load_ca(context, files.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = files.verify_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if files.cert_file is not None:
        _load_chain(context, files)
    return context


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The context for connections peers open to our TLS port."""
    if files.cert_file is None or files.key_file is None:
        raise TlsConfigError("listening on TLS needs a certificate and its key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, files)
    return context


def _load_ca(context: ssl.SSLContext, path: str) -> None:
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"CA file {path}: {_why(exc)}") from exc


def _load_chain(context: ssl.SSLContext, files: TlsFiles) -> None:
    assert files.cert_file is not None
    try:
        context.load_cert_chain(files.cert_file, files.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            f"certificate {files.cert_file} / key {files.key_file}: {_why(exc)}"
        ) from exc


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)
