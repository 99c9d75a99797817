"""DKIM signing (RFC 6376, Ed25519 per RFC 8463) of the messages built in message.py.

A key is a PEM private key file: RSA (PKCS#1 ``BEGIN RSA PRIVATE KEY`` or
PKCS#8 ``BEGIN PRIVATE KEY``, at least 1024 bits, 2048 recommended) or
Ed25519 (PKCS#8, as ``openssl genpkey -algorithm ed25519`` writes it). RSA
keys are parsed with dkimpy and signed with its RSA, or with ``cryptography``
(OpenSSL, about 12 times faster) when that is installed; Ed25519 uses
PyNaCl, dkimpy's Ed25519 dependency.

Signatures are ``c=relaxed/simple``: our bodies are quoted-printable with
short lines and no trailing white space, so the simple body form is the
body's bytes as they are and the body hash is one ``hashlib.sha256`` pass
with no canonicalisation; headers are relaxed, so a relay that refolds them
does not break the signature.

The work is split like message building (:class:`TemplateSigner`): per
issue language the headers that are the same for every recipient (From,
Subject, Date, List-Id, ...) are canonicalised and hashed once; per
recipient it is the body hash, three short recipient headers (To,
Message-ID, List-Unsubscribe), the DKIM-Signature header and one signature.

``h=`` always lists :data:`SIGNED` (a header that is absent is signed as
absent, so it cannot be added), and :data:`OVERSIGNED` a second time, so no
second From, Subject or List-Unsubscribe can be added above the signed ones.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dkim import rfc822_parse  # type: ignore[import-untyped]
from dkim.asn1 import ASN1FormatError  # type: ignore[import-untyped]
from dkim.canonicalization import Relaxed, Simple  # type: ignore[import-untyped]
from dkim.crypto import (  # type: ignore[import-untyped]
    RSASSA_PKCS1_v1_5_sign,
    UnparsableKeyError,
    parse_private_key,
)

from outreach.errors import ConfigError, DkimKeyError, msg

__all__ = [
    "OVERSIGNED",
    "RECIPIENT_HEADERS",
    "SIGNED",
    "DkimKey",
    "DkimSigner",
    "TemplateSigner",
    "check_alignment",
    "load_key",
]

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]

#: Every header field the signature covers, in ``h=`` order: first those
#: that are the same for every recipient, then :data:`RECIPIENT_HEADERS`.
SIGNED: tuple[str, ...] = (
    "from",
    "subject",
    "date",
    "reply-to",
    "list-id",
    "list-unsubscribe-post",
    "precedence",
    "mime-version",
    "content-type",
    "content-language",
    "to",
    "message-id",
    "list-unsubscribe",
)
RECIPIENT_HEADERS: tuple[str, ...] = ("to", "message-id", "list-unsubscribe")
#: Signed once more than they occur: adding another instance breaks the signature.
OVERSIGNED: tuple[str, ...] = ("from", "subject", "list-unsubscribe", "list-unsubscribe-post")

MIN_RSA_BITS = 1024
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----")
_RSA_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption
# PKCS#8 Ed25519: SEQUENCE { INTEGER 0|1, SEQUENCE { OID 1.3.101.112 },
#                  OCTET STRING { OCTET STRING seed } }
_ED25519_ALG = bytes.fromhex("300506032b657004220420")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
SELECTOR_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")


@dataclass(frozen=True)
class DkimKey:
    """A loaded private key: its algorithm, a signer of SHA-256 digests, its DNS value."""

    path: Path
    algorithm: Algorithm
    bits: int
    public_key: bytes  # the p= value: SubjectPublicKeyInfo DER (RSA) or 32 raw bytes (Ed25519)
    sign_digest: Callable[[Any], bytes]  # takes a finished hashlib sha256 object
    implementation: str  # what signs: "dkimpy" (pure Python), "cryptography" or "pynacl"

    def dns_record(self) -> str:
        """The TXT record value to publish at ``<selector>._domainkey.<domain>``."""
        k = "rsa" if self.algorithm == "rsa-sha256" else "ed25519"
        return f"v=DKIM1; k={k}; p={base64.b64encode(self.public_key).decode()}"


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _rsa_key(path: Path, der: bytes, pkcs8: bool, use_openssl: bool) -> DkimKey:
    if pkcs8 and _RSA_OID not in der[:32]:
        raise DkimKeyError(
            msg("{path}: not an RSA or Ed25519 private key (another key type)"), path=path
        )
    try:
        pk = parse_private_key(der)
    except (UnparsableKeyError, ASN1FormatError, AssertionError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise DkimKeyError(
            msg("{path}: not a valid RSA private key ({error})"), path=path, error=first
        ) from exc
    bits = int(pk["modulus"]).bit_length()
    if bits < MIN_RSA_BITS:
        raise DkimKeyError(
            msg("{path}: the RSA key has {bits} bits; DKIM needs at least 1024 (2048 recommended)"),
            path=path,
            bits=bits,
        )
    rsa_public = _der(0x30, _der_int(pk["modulus"]) + _der_int(pk["publicExponent"]))
    algorithm_id = _der(0x30, _der(0x06, _RSA_OID) + _der(0x05, b""))
    spki = _der(0x30, algorithm_id + _der(0x03, b"\x00" + rsa_public))

    def sign(digest: Any) -> bytes:
        return bytes(RSASSA_PKCS1_v1_5_sign(digest, pk))

    fast = _openssl_rsa(der) if use_openssl else None
    if fast is not None:
        return DkimKey(path, "rsa-sha256", bits, spki, fast, "cryptography")
    return DkimKey(path, "rsa-sha256", bits, spki, sign, "dkimpy")


def _openssl_rsa(der: bytes) -> Callable[[Any], bytes] | None:
    """The same RSASSA-PKCS1-v1_5 signature through ``cryptography`` (OpenSSL), if installed.

    dkimpy's RSA is pure Python: about 6 ms per 2048-bit signature, holding
    the GIL. OpenSSL's takes about 0.5 ms and runs outside it. PKCS#1 v1.5
    signatures are deterministic, so both give the same bytes.
    """
    try:
        from cryptography.hazmat.primitives import (  # type: ignore[import-not-found,unused-ignore]
            hashes,
            serialization,
        )
        from cryptography.hazmat.primitives.asymmetric import (  # type: ignore[import-not-found,unused-ignore]
            padding,
            rsa,
            utils,
        )
    except ImportError:
        return None
    key = serialization.load_der_private_key(der, None)
    if not isinstance(key, rsa.RSAPrivateKey):
        return None
    scheme, prehashed = padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())

    def sign(digest: Any) -> bytes:
        return bytes(key.sign(digest.digest(), scheme, prehashed))

    return sign


def _ed25519_key(path: Path, seed: bytes) -> DkimKey:
    try:
        from nacl.signing import SigningKey
    except ImportError:
        raise DkimKeyError(
            msg(
                "{path}: Ed25519 DKIM keys need PyNaCl (pip install 'dkimpy[ed25519]'); "
                "or use an RSA key"
            ),
            path=path,
        ) from None
    key = SigningKey(seed)

    def sign(digest: Any) -> bytes:
        return bytes(key.sign(digest.digest()).signature)

    return DkimKey(path, "ed25519-sha256", 256, bytes(key.verify_key), sign, "pynacl")


def load_key(path: Path | str, *, use_openssl: bool = True) -> DkimKey:
    """Read a PEM RSA or Ed25519 private key; :class:`DkimKeyError` names the file.

    RSA signs through ``cryptography`` when it is installed (``use_openssl``),
    else with dkimpy's pure-Python RSA.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise DkimKeyError(
            msg("DKIM key file {path}: cannot read it: {reason}"), path=path, reason=reason
        ) from exc
    match = _PEM.search(data)
    if match is None:
        raise DkimKeyError(
            msg("{path}: not a PEM private key (expected -----BEGIN PRIVATE KEY-----)"), path=path
        )
    label = match.group(1).decode()
    if label not in ("PRIVATE KEY", "RSA PRIVATE KEY"):
        raise DkimKeyError(
            msg(
                "{path}: a PEM {label}, not an RSA or Ed25519 private key; "
                "decrypt it with openssl pkey"
            )
            if "ENCRYPTED" in label
            else msg("{path}: a PEM {label}, not an RSA or Ed25519 private key"),
            path=path,
            label=label,
        )
    try:
        der = base64.b64decode(re.sub(rb"\s+", b"", match.group(2)), validate=True)
    except ValueError as exc:
        raise DkimKeyError(msg("{path}: the PEM block is not valid base64"), path=path) from exc
    at = der.find(_ED25519_ALG, 0, 16)
    if label == "PRIVATE KEY" and at != -1 and len(der) >= at + len(_ED25519_ALG) + 32:
        start = at + len(_ED25519_ALG)
        return _ed25519_key(path, der[start : start + 32])
    return _rsa_key(path, der, label == "PRIVATE KEY", use_openssl)


def check_alignment(dkim_domain: str, from_address: str) -> None:
    """ConfigError unless ``d=`` is the From domain or a parent of it (DMARC alignment)."""
    domain = dkim_domain.lower().rstrip(".")
    from_domain = from_address.rpartition("@")[2].lower()
    if from_domain != domain and not from_domain.endswith("." + domain):
        raise ConfigError(
            msg(
                "DKIM domain {domain} does not match the sender {sender}: "
                "use {sender_domain} or a parent domain of it"
            ),
            domain=domain,
            sender=from_address,
            sender_domain=from_domain,
        )


@dataclass(frozen=True)
class DkimSigner:
    """One signing identity: ``s=``, ``d=`` and the key."""

    selector: str
    domain: str
    key: DkimKey

    def __post_init__(self) -> None:
        if not SELECTOR_RE.match(self.selector):
            raise ConfigError(
                msg("DKIM selector {selector} is not a DNS name"), selector=repr(self.selector)
            )
        if not DOMAIN_RE.match(self.domain):
            raise ConfigError(
                msg("DKIM domain {domain} is not a domain name"), domain=repr(self.domain)
            )

    @classmethod
    def load(cls, selector: str, domain: str, key_file: Path | str) -> DkimSigner:
        return cls(selector, domain.lower().rstrip("."), load_key(key_file))

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def zone_line(self) -> str:
        """The TXT record as a zone-file line, in strings of at most 255 characters."""
        value = self.key.dns_record()
        chunks = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        return f"{self.record_name}. IN TXT ( {chunks} )"

    def for_template(self, static_headers: bytes, timestamp: int | None = None) -> TemplateSigner:
        return TemplateSigner(self, static_headers, timestamp)


def _canonical(headers: list[list[bytes]]) -> dict[bytes, bytes]:
    """Relaxed form ``name:value`` CRLF of each header; the last instance of a name wins."""
    return {name: name + b":" + value for name, value in Relaxed.canonicalize_headers(headers)}


class TemplateSigner:
    """Signs every recipient's copy of one message template.

    ``static_headers`` is the header block shared by all recipients (CRLF
    line ends); it is parsed, canonicalised and hashed once here.
    """

    __slots__ = ("key", "prefix", "sig_prefix")

    def __init__(self, signer: DkimSigner, static_headers: bytes, timestamp: int | None) -> None:
        headers, _ = rfc822_parse(static_headers + b"\r\n")
        canonical = _canonical(headers)
        clash = set(canonical) & {h.encode() for h in RECIPIENT_HEADERS}
        if clash:
            raise ValueError(f"recipient headers in the shared header block: {sorted(clash)}")
        self.key = signer.key
        self.prefix = hashlib.sha256()
        for name in SIGNED:
            if name not in RECIPIENT_HEADERS and name.encode() in canonical:
                self.prefix.update(canonical[name.encode()])
        h = ":".join(SIGNED + OVERSIGNED)
        t = int(time.time()) if timestamp is None else timestamp
        fields = (
            f" v=1; a={signer.key.algorithm}; c=relaxed/simple; d={signer.domain};"
            f"\r\n s={signer.selector}; t={t};"
            f"\r\n h={_fold_list(h)};\r\n bh="
        )
        self.sig_prefix = fields.encode("ascii")

    def sign(self, recipient_headers: bytes, body: Iterable[bytes]) -> bytes:
        """The ``DKIM-Signature:`` header line(s), CRLF-terminated, to put on top.

        ``body`` is the message body after the blank line, in pieces; it must
        end with one CRLF (simple canonicalisation then leaves it unchanged).
        """
        pieces = list(body)
        digest = hashlib.sha256()
        for piece in pieces:
            digest.update(piece)
        last = pieces[-1] if pieces else b""
        if not last.endswith(b"\r\n") or last.endswith(b"\r\n\r\n") or len(last) < 4:
            # Not the shape message.py builds: canonicalise the slow way.
            digest = hashlib.sha256(Simple.canonicalize_body(b"".join(pieces)))
        bh = base64.b64encode(digest.digest())
        value = self.sig_prefix + bh + b";\r\n b="
        hashed = self.prefix.copy()
        if recipient_headers:
            headers, _ = rfc822_parse(recipient_headers + b"\r\n")
            canonical = _canonical(headers)
            for name in RECIPIENT_HEADERS:
                line = canonical.get(name.encode())
                if line is not None:
                    hashed.update(line)
        ((_, sig_value),) = Relaxed.canonicalize_headers([(b"DKIM-Signature", value)])
        hashed.update(b"dkim-signature:" + sig_value.rstrip())
        signature = base64.b64encode(self.key.sign_digest(hashed))
        return b"DKIM-Signature:" + value + signature + b"\r\n"


def _fold_list(names: str, width: int = 70) -> str:
    """``a:b:c`` folded after a colon so that no line passes ``width``."""
    lines: list[str] = []
    line = ""
    for name in names.split(":"):
        part = name if not line else ":" + name
        if line and len(line) + len(part) > width:
            lines.append(line + ":")
            line = name
        else:
            line += part
    lines.append(line)
    return "\r\n ".join(lines)
