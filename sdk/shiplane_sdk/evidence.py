"""Verify a Shiplane evidence packet offline: a DSSE envelope against the published keys.

The one verifier: ``shiplanectl evidence verify``, the server's ``shiplane evidence
verify`` and its signed version stickers all use it. No server code and no network:
the envelope (``GET /evidence-packets/{id}/download``) and the keys (``GET
/signing-keys``, saved) are files. The checks: canonical base64, a signature by a
published key over DSSE's pre-authentication encoding (securesystemslib's ``Envelope``,
the in-toto project's reference implementation), and an in-toto Statement v1 as
payload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
from securesystemslib.signer import Signature, SSlibKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


class EvidenceInvalid(ValueError):
    """The packet does not verify; the message says why."""


@dataclass
class Verified:
    statement: dict[str, Any]
    key_id: str
    payload_sha256: str

    def summary(self) -> str:
        predicate = self.statement.get("predicate") or {}
        subjects = self.statement.get("subject") or [{}]
        subject = subjects[0] if isinstance(subjects, list) and subjects else {}
        return (
            f"{self.statement.get('predicateType')} ({predicate.get('outcome')}) for {subject.get('name')} "
            f"{subject.get('digest')}, signed by key {self.key_id}"
        )


def _key_id_of_pem(pem: bytes) -> tuple[str, Any]:
    """A PEM public key and its Shiplane key id (first 16 hex digits of the SHA-256 of the raw key)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = load_pem_public_key(pem)
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16], key


def load_keys(paths: list[Path]) -> list[SSlibKey]:
    """Keys from files: the saved answer of ``GET /signing-keys`` (the envelope or its ``data``
    list) or a PEM public key."""
    keys: list[SSlibKey] = []
    for path in paths:
        text = path.read_bytes()
        if text.lstrip().startswith(b"-----BEGIN"):
            try:
                key_id, key = _key_id_of_pem(text)
            except (ValueError, TypeError) as exc:
                raise EvidenceInvalid(f"{path}: not a public key: {exc}") from None
            keys.append(SSlibKey.from_crypto(key, keyid=key_id))
            continue
        try:
            document = json.loads(text)
        except ValueError:
            raise EvidenceInvalid(f"{path}: neither a PEM key nor JSON") from None
        entries = document.get("data") if isinstance(document, dict) else document
        if not isinstance(entries, list):
            raise EvidenceInvalid(f"{path}: not a list of signing keys")
        for entry in entries:
            try:
                public = load_pem_public_key(str(entry["publicKey"]).encode())
                keys.append(SSlibKey.from_crypto(public, keyid=str(entry["keyId"])))
            except (KeyError, TypeError, ValueError) as exc:
                raise EvidenceInvalid(f"{path}: a published key cannot be read: {exc}") from None
    return keys


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise EvidenceInvalid(f"the envelope's {what} is not a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EvidenceInvalid(f"the envelope's {what} is not valid base64 (it was changed)") from None
    if base64.b64encode(raw).decode() != text:
        raise EvidenceInvalid(f"the envelope's {what} is not canonical base64 (it was changed)")
    return raw


def verify_envelope(envelope: Any, keys: list[SSlibKey], *, in_toto: bool = True) -> Verified:
    """Check a DSSE envelope against ``keys``; the decoded in-toto Statement if it holds
    (``in_toto=False``: any payload type, nothing decoded, as for version stickers)."""
    if not isinstance(envelope, dict):
        raise EvidenceInvalid("the packet is not a DSSE envelope (a JSON object)")
    missing = [f for f in ("payload", "payloadType", "signatures") if f not in envelope]
    if missing:
        raise EvidenceInvalid(f"the packet is not a DSSE envelope: {', '.join(missing)} missing")
    payload = _b64(envelope["payload"], "payload")
    payload_type = envelope["payloadType"]
    if not isinstance(payload_type, str):
        raise EvidenceInvalid("the envelope's payloadType is not a string")
    if in_toto and payload_type != PAYLOAD_TYPE:
        raise EvidenceInvalid(f"the payload type is {payload_type!r}, not an in-toto Statement ({PAYLOAD_TYPE})")
    signatures = envelope["signatures"]
    if not isinstance(signatures, list) or not signatures:
        raise EvidenceInvalid("the envelope carries no signature")
    known = {k.keyid: k for k in keys}
    parsed: dict[str, Signature] = {}
    for entry in signatures:
        if not isinstance(entry, dict) or not isinstance(entry.get("keyid"), str):
            raise EvidenceInvalid("a signature has no key id")
        parsed[entry["keyid"]] = Signature(entry["keyid"], _b64(entry.get("sig"), "signature").hex())
    usable = [k for k in parsed if k in known]
    if not usable:
        raise EvidenceInvalid(
            f"signed by key(s) {', '.join(sorted(parsed))}, none of them among the published keys"
            f" ({', '.join(sorted(known)) or 'none given'})"
        )
    try:
        accepted = Envelope(payload, payload_type, parsed).verify([known[k] for k in usable], 1)
    except (VerificationError, UnverifiedSignatureError):
        raise EvidenceInvalid(
            f"the signature by key {usable[0]} does not match the payload: the payload or the signature was changed"
        ) from None
    value: dict[str, Any] = {}
    if in_toto:
        try:
            value = json.loads(payload)
        except ValueError:
            raise EvidenceInvalid("the payload is not JSON") from None
        if not isinstance(value, dict) or value.get("_type") != STATEMENT_TYPE:
            raise EvidenceInvalid(f"the payload is not an in-toto Statement v1 ({STATEMENT_TYPE})")
    return Verified(value, next(iter(accepted)), hashlib.sha256(payload).hexdigest())


def verify_file(packet: Path, key_files: list[Path]) -> Verified:
    try:
        envelope = json.loads(packet.read_bytes())
    except ValueError:
        raise EvidenceInvalid(f"{packet}: not JSON") from None
    keys = load_keys(key_files)
    if not keys:
        raise EvidenceInvalid("no keys given")
    return verify_envelope(envelope, keys)
