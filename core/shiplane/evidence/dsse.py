"""Signed evidence: in-toto Statements v1 in DSSE envelopes, and signed version stickers.

The envelope (its pre-authentication encoding, signing and verification) is
securesystemslib's ``dsse.Envelope``, the reference Python implementation the in-toto
project maintains, with its ``CryptoSigner`` over our Ed25519 key. The Statement is a
plain JSON object built here: it is four fields, and the ``in-toto-attestation``
bindings would add protobuf for nothing.

A verifier needs only the envelope and the published public keys
(``GET /api/v1/signing-keys``); ``verify_envelope`` says in one sentence what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
from securesystemslib.signer import CryptoSigner, Signature, SSlibKey

from shiplane.platform.signing import Signer

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: The DSSE payload type of an in-toto Statement.
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: What a version sticker's signature covers (DSSE's encoding of the canonical sticker).
STICKER_PAYLOAD_TYPE = "application/vnd.shiplane.version-sticker.v1+json"
PREDICATE_PREFIX = "https://shiplane.dev/evidence/"


class EvidenceInvalid(ValueError):
    """The packet does not verify; the message says why."""


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON: the bytes that are signed and hashed."""
    return bytes(rfc8785.dumps(value))


def statement(subject_name: str, digest: str, predicate_kind: str, predicate: dict[str, Any]) -> dict[str, Any]:
    algorithm, _, value = digest.partition(":")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {algorithm or "sha256": value or digest}}],
        "predicateType": f"{PREDICATE_PREFIX}{predicate_kind}/v1",
        "predicate": predicate,
    }


def _crypto_signer(signer: Signer) -> CryptoSigner:
    public = SSlibKey.from_crypto(signer.public_key, keyid=signer.key_id)
    return CryptoSigner(signer._key, public)  # noqa: SLF001 - the key stays in this process


def sign(signer: Signer, payload: bytes, payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    """The DSSE JSON envelope of ``payload`` signed with ``signer``."""
    envelope = Envelope(payload, payload_type, {})
    envelope.sign(_crypto_signer(signer))
    return envelope.to_dict()


def sign_statement(signer: Signer, value: dict[str, Any]) -> dict[str, Any]:
    return sign(signer, canonical(value))


@dataclass
class Verified:
    statement: dict[str, Any]
    key_id: str
    payload_sha256: str


def public_keys(published: list[dict[str, Any]]) -> list[SSlibKey]:
    """The keys of ``GET /signing-keys`` (``keyId``, ``publicKey`` PEM) as verification keys."""
    keys = []
    for entry in published:
        try:
            keys.append(
                SSlibKey.from_crypto(load_pem_public_key(str(entry["publicKey"]).encode()), keyid=entry["keyId"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EvidenceInvalid(f"a published key cannot be read: {exc}") from None
    return keys


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise EvidenceInvalid(f"the envelope's {what} is not a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EvidenceInvalid(f"the envelope's {what} is not valid base64 (it was changed)") from None
    if base64.b64encode(raw).decode() != text:
        # Base64 has spare bits: a changed last character can decode to the same bytes.
        raise EvidenceInvalid(f"the envelope's {what} is not canonical base64 (it was changed)")
    return raw


def verify_envelope(envelope: Any, keys: list[SSlibKey], *, in_toto: bool = True) -> Verified:
    """Check a DSSE envelope against ``keys``; the decoded in-toto Statement if it holds."""
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


def sign_sticker(signer: Signer, sticker: dict[str, Any]) -> dict[str, Any]:
    """``sticker`` with ``signature`` {keyId, sig}: DSSE's encoding of its canonical JSON (without the signature)."""
    body = {k: v for k, v in sticker.items() if k != "signature"}
    envelope = sign(signer, canonical(body), STICKER_PAYLOAD_TYPE)
    [entry] = envelope["signatures"]
    return {**body, "signature": {"keyId": entry["keyid"], "sig": entry["sig"], "payloadType": STICKER_PAYLOAD_TYPE}}


def verify_sticker(sticker: dict[str, Any], keys: list[SSlibKey]) -> str:
    """The key id that signed ``sticker``; EvidenceInvalid when it does not verify."""
    signature = sticker.get("signature")
    if not isinstance(signature, dict):
        raise EvidenceInvalid("the sticker is not signed")
    body = {k: v for k, v in sticker.items() if k != "signature"}
    envelope = {
        "payload": base64.b64encode(canonical(body)).decode(),
        "payloadType": STICKER_PAYLOAD_TYPE,
        "signatures": [{"keyid": signature.get("keyId"), "sig": signature.get("sig")}],
    }
    return verify_envelope(envelope, keys, in_toto=False).key_id
