"""The server's Ed25519 signing key (the evidence key of DESIGN §3/§5).

Development generates one in the data directory; production points
``SHIPLANE_SIGNING_KEY_PATH`` at a PEM private key. The key id is the first 16 hex
digits of the SHA-256 of the raw public key, so a verifier can tell keys apart
after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shiplane.platform.settings import Settings


class SigningKeyUnavailable(RuntimeError):
    pass


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)
        # Set once the key is in ``signing_keys`` (evidence/service.py).
        self.published = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        path = settings.signing_key_path
        if path is None:
            if not settings.is_development:
                raise SigningKeyUnavailable("SHIPLANE_SIGNING_KEY_PATH is not set")
            path = settings.data_dir / "dev-signing-key.pem"
            if not path.exists():
                _write_new_key(path)
        try:
            key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise SigningKeyUnavailable(f"cannot read the signing key {path}: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyUnavailable(f"{path} is not an Ed25519 private key")
        return cls(key)

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self._key.sign(payload)).decode()

    @property
    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign_raw(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def verify(self, payload: bytes, signature: str) -> bool:
        try:
            self.public_key.verify(base64.b64decode(signature), payload)
        except (InvalidSignature, ValueError):
            return False
        return True


def signer_of(session: Any) -> Signer:
    """The key a session's transaction signs with: its database's (``Database.signer``)."""
    signer = session.info.get("signer")
    if signer is None:
        raise SigningKeyUnavailable("no signing key is loaded in this process")
    return signer  # type: ignore[no-any-return]


def _write_new_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem)
    path.chmod(0o600)
