"""Signed evidence: in-toto Statements v1 in DSSE envelopes, and signed version stickers.

The envelope (its pre-authentication encoding, signing and verification) is
securesystemslib's ``dsse.Envelope``, the reference Python implementation the in-toto
project maintains, with its ``CryptoSigner`` over our Ed25519 key. The Statement is a
plain JSON object built here: it is four fields, and the ``in-toto-attestation``
bindings would add protobuf for nothing.

A verifier needs only the envelope and the published public keys
(``GET /api/v1/signing-keys``); ``verify_envelope`` (``shiplane_sdk.evidence``, shared
with shiplanectl) says in one sentence what is wrong.
"""

from __future__ import annotations

import base64
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

# The verifier is the SDK's (the offline one shiplanectl uses): one set of checks.
from shiplane_sdk.evidence import (  # noqa: F401 - re-exported for the server's callers
    PAYLOAD_TYPE,
    STATEMENT_TYPE,
    EvidenceInvalid,
    Verified,
    verify_envelope,
)

from shiplane.platform.signing import Signer

#: What a version sticker's signature covers (DSSE's encoding of the canonical sticker).
STICKER_PAYLOAD_TYPE = "application/vnd.shiplane.version-sticker.v1+json"
PREDICATE_PREFIX = "https://shiplane.dev/evidence/"


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
