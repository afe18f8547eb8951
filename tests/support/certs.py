"""Certificates for TLS tests, made by the ``openssl`` command: a CA, and leaf certificates it
signs for the names and addresses a test needs (subjectAltName, which is what a TLS client
checks; the common name is ignored by Python's ssl).

Each ``TestCa`` lives in a directory of its own; keys are EC P-256 (fast to make). Imports
nothing outside the standard library and starts nothing on import.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl")


def openssl_available() -> bool:
    return OPENSSL is not None


@dataclass(frozen=True)
class Leaf:
    cert: Path
    key: Path


def _run(*args: str) -> None:
    assert OPENSSL is not None, "openssl not installed"
    subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=30)


class TestCa:
    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, name: str = "Switchboard Test CA") -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert = self.dir / "ca.pem"
        self.key = self.dir / "ca.key"
        _run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(self.key))
        _run(
            "req",
            "-x509",
            "-new",
            "-key",
            str(self.key),
            "-sha256",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            str(self.cert),
        )

    def issue(self, stem: str, names: list[str]) -> Leaf:
        """A server-and-client certificate for ``names`` (DNS names or IP addresses)."""
        key = self.dir / f"{stem}.key"
        request = self.dir / f"{stem}.csr"
        cert = self.dir / f"{stem}.pem"
        extensions = self.dir / f"{stem}.ext"
        alt = ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in names)
        extensions.write_text(
            f"subjectAltName={alt}\n"
            "basicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
        )
        _run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
        _run("req", "-new", "-key", str(key), "-subj", f"/CN={names[0]}", "-out", str(request))
        _run(
            "x509",
            "-req",
            "-in",
            str(request),
            "-CA",
            str(self.cert),
            "-CAkey",
            str(self.key),
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            str(extensions),
            "-out",
            str(cert),
        )
        return Leaf(cert, key)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
