"""The DSSE code against the published test vectors (secure-systems-lab/dsse, protocol.md
"Test Vectors"), and the verifier's answers to every kind of tampering."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from securesystemslib.dsse import Envelope
from shiplane.evidence.dsse import (
    EvidenceInvalid,
    public_keys,
    sign_statement,
    sign_sticker,
    statement,
    verify_envelope,
    verify_sticker,
)
from shiplane.platform.signing import Signer

# protocol.md: "Test Vectors" (ECDSA P-256, SHA-256, deterministic RFC 6979, raw r||s).
VECTOR_PAYLOAD_TYPE = "http://example.com/HelloWorld"
VECTOR_PAYLOAD = b"hello world"
VECTOR_PAE = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
VECTOR_X = 46950820868899156662930047687818585632848591499744589407958293238635476079160
VECTOR_Y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
VECTOR_D = 97358161215184420915383655311931858321456579547487070936769975997791359926199
VECTOR_ENVELOPE = {
    "payload": "aGVsbG8gd29ybGQ=",
    "payloadType": "http://example.com/HelloWorld",
    "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}],
}
VECTOR_KEYID = "66301bbf"  # the reference implementation's example key id


def _vector_public_pem() -> str:
    public = ec.EllipticCurvePublicNumbers(VECTOR_X, VECTOR_Y, ec.SECP256R1()).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _der_envelope() -> dict:
    """The vector's envelope with its raw r||s signature in DER (what ECDSA verifiers take)."""
    raw = base64.b64decode(VECTOR_ENVELOPE["signatures"][0]["sig"])
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    return {**VECTOR_ENVELOPE, "signatures": [{"keyid": VECTOR_KEYID, "sig": base64.b64encode(der).decode()}]}


def test_the_pre_authentication_encoding_is_the_vectors() -> None:
    envelope = Envelope.from_dict(json.loads(json.dumps(_der_envelope())))
    assert envelope.payload == VECTOR_PAYLOAD and envelope.payload_type == VECTOR_PAYLOAD_TYPE
    assert envelope.pae() == VECTOR_PAE


def test_signing_the_vectors_pae_gives_the_vectors_signature() -> None:
    private = ec.derive_private_key(VECTOR_D, ec.SECP256R1())
    envelope = Envelope(VECTOR_PAYLOAD, VECTOR_PAYLOAD_TYPE, {})
    try:
        der = private.sign(envelope.pae(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    except TypeError:
        pytest.skip("this cryptography has no deterministic ECDSA (RFC 6979)")
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert base64.b64encode(raw).decode() == VECTOR_ENVELOPE["signatures"][0]["sig"]
    assert base64.b64encode(envelope.payload).decode() == VECTOR_ENVELOPE["payload"]


def test_the_vectors_envelope_verifies_and_a_changed_one_does_not() -> None:
    keys = public_keys([{"keyId": VECTOR_KEYID, "publicKey": _vector_public_pem()}])
    assert verify_envelope(_der_envelope(), keys, in_toto=False).key_id == VECTOR_KEYID
    changed = {**_der_envelope(), "payload": base64.b64encode(b"hello world!").decode()}
    with pytest.raises(EvidenceInvalid, match="does not match the payload"):
        verify_envelope(changed, keys, in_toto=False)
    other_type = {**_der_envelope(), "payloadType": "http://example.com/Other"}
    with pytest.raises(EvidenceInvalid, match="does not match the payload"):
        verify_envelope(other_type, keys, in_toto=False)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def _published(*signers: Signer) -> list:
    return public_keys([{"keyId": s.key_id, "publicKey": s.public_pem} for s in signers])


def test_a_statement_round_trips_and_every_changed_byte_is_caught(signer: Signer) -> None:
    value = statement("release/r1", "sha256:" + "ab" * 32, "promotion-decision", {"outcome": "approved", "n": 1})
    envelope = sign_statement(signer, value)
    verified = verify_envelope(envelope, _published(signer))
    assert verified.statement == value and verified.key_id == signer.key_id
    assert value["_type"] == "https://in-toto.io/Statement/v1"
    assert value["subject"] == [{"name": "release/r1", "digest": {"sha256": "ab" * 32}}]

    payload = base64.b64decode(envelope["payload"])
    for index in range(len(payload)):
        changed = bytearray(payload)
        changed[index] ^= 0x01
        tampered = {**envelope, "payload": base64.b64encode(bytes(changed)).decode()}
        with pytest.raises(EvidenceInvalid, match="does not match the payload"):
            verify_envelope(tampered, _published(signer))
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    for index in range(len(signature)):
        changed = bytearray(signature)
        changed[index] ^= 0x80
        tampered = {
            **envelope,
            "signatures": [{**envelope["signatures"][0], "sig": base64.b64encode(changed).decode()}],
        }
        with pytest.raises(EvidenceInvalid, match="does not match the payload"):
            verify_envelope(tampered, _published(signer))
    # Every character of the text as downloaded: never accepted, never an unexplained crash.
    for field in ("payload",):
        text = envelope[field]
        for index in range(len(text)):
            replacement = "A" if text[index] != "A" else "B"
            tampered = {**envelope, field: text[:index] + replacement + text[index + 1 :]}
            with pytest.raises(EvidenceInvalid):
                verify_envelope(tampered, _published(signer))


def test_the_verifier_says_what_is_wrong(signer: Signer) -> None:
    other = Signer(Ed25519PrivateKey.generate())
    envelope = sign_statement(signer, statement("release/r1", "sha256:00", "x", {}))
    with pytest.raises(EvidenceInvalid, match="none of them among the published keys"):
        verify_envelope(envelope, _published(other))
    with pytest.raises(EvidenceInvalid, match="not a DSSE envelope"):
        verify_envelope({"payload": envelope["payload"]}, _published(signer))
    with pytest.raises(EvidenceInvalid, match="carries no signature"):
        verify_envelope({**envelope, "signatures": []}, _published(signer))
    with pytest.raises(EvidenceInvalid, match="not valid base64"):
        verify_envelope({**envelope, "payload": "%%%"}, _published(signer))
    # A key id swapped for one that is published but did not sign.
    relabelled = {**envelope, "signatures": [{**envelope["signatures"][0], "keyid": other.key_id}]}
    with pytest.raises(EvidenceInvalid, match="does not match"):
        verify_envelope(relabelled, _published(signer, other))
    not_in_toto = sign_statement(signer, {"hello": "world"})
    with pytest.raises(EvidenceInvalid, match="not an in-toto Statement"):
        verify_envelope(not_in_toto, _published(signer))


def test_after_a_rotation_old_and_new_packets_verify_with_the_published_keys(signer: Signer) -> None:
    rotated = Signer(Ed25519PrivateKey.generate())
    old = sign_statement(signer, statement("release/r1", "sha256:00", "x", {"n": 1}))
    new = sign_statement(rotated, statement("release/r2", "sha256:01", "x", {"n": 2}))
    keys = _published(signer, rotated)
    assert verify_envelope(old, keys).key_id == signer.key_id
    assert verify_envelope(new, keys).key_id == rotated.key_id
    with pytest.raises(EvidenceInvalid, match="none of them"):
        verify_envelope(old, _published(rotated))  # the old key must stay published


def test_a_sticker_signature_covers_every_field(signer: Signer) -> None:
    sticker = sign_sticker(signer, {"release": {"name": "r1"}, "components": [{"name": "api", "version": "1"}]})
    assert verify_sticker(sticker, _published(signer)) == signer.key_id
    changed = {**sticker, "components": [{"name": "api", "version": "2"}]}
    with pytest.raises(EvidenceInvalid, match="does not match"):
        verify_sticker(changed, _published(signer))
    with pytest.raises(EvidenceInvalid, match="not signed"):
        verify_sticker({"release": {"name": "r1"}}, _published(signer))
