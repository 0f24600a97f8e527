"""Tokens at rest: AES-256-GCM (the `cryptography` package), a fresh 96-bit nonce per
encryption, stored as nonce || ciphertext || tag. The 256-bit key is never in the database or
a repository: it lives in the OS keyring (`keyring`) or, where there is none, in a key file in
the data directory that only the user can read (mode 0600).

Which one: an existing key file is used (so installing a keyring later does not orphan the
tokens); otherwise the OS keyring when it is a real one (priority >= 1, or the backend chosen
explicitly with PYTHON_KEYRING_BACKEND); otherwise a new key file.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger(__name__)

KEYRING_SERVICE = "codecortex"
KEYRING_USER = "github-token-key"
KEY_FILE_NAME = "github-token.key"
NONCE_BYTES = 12


class VaultError(Exception):
    """The key cannot be read or created, or a stored token cannot be decrypted."""


def _usable_keyring() -> KeyringBackend | None:
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:  # pragma: no cover - a dependency
        return None
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring configuration: use the key file
        log.debug("keyring unavailable: %s", exc)
        return None
    if isinstance(backend, fail.Keyring) or type(backend).__name__ == "NullKeyring":
        return None
    explicit = bool(os.environ.get("PYTHON_KEYRING_BACKEND"))
    try:
        priority = float(getattr(backend, "priority", 0))
    except Exception:
        priority = 0.0
    if not explicit and priority < 1:
        return None  # e.g. keyrings.alt's plaintext file: the 0600 key file is no worse
    return backend


class TokenVault:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.key_file = data_dir / KEY_FILE_NAME
        self._key: bytes | None = None
        self.where = ""

    # --- the key ---------------------------------------------------------------------------

    def key(self) -> bytes:
        if self._key is None:
            self._key = self._load_or_create()
        return self._key

    def key_id(self) -> str:
        return hashlib.sha256(b"codecortex github key id\x00" + self.key()).hexdigest()[:16]

    def _load_or_create(self) -> bytes:
        if self.key_file.exists():
            return self._read_key_file()
        backend = _usable_keyring()
        if backend is not None:
            try:
                stored = backend.get_password(KEYRING_SERVICE, KEYRING_USER)
                if not stored:
                    backend.set_password(
                        KEYRING_SERVICE, KEYRING_USER, base64.b64encode(os.urandom(32)).decode()
                    )
                    stored = backend.get_password(KEYRING_SERVICE, KEYRING_USER)
                key = base64.b64decode(stored or "")
                if len(key) == 32:
                    self.where = f"OS keyring ({type(backend).__module__}.{type(backend).__name__})"
                    return key
                log.warning("the keyring's CodeCortex key is malformed; using a key file")
            except Exception as exc:  # locked or broken keyring: the key file instead
                log.debug("keyring failed (%s); using a key file", type(exc).__name__)
        return self._create_key_file()

    def _read_key_file(self) -> bytes:
        path = self.key_file
        try:
            st = path.stat()
            if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise VaultError(
                    f"key file {path} can be read by other users: run `chmod 600 {path}`"
                )
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                raise VaultError(f"key file {path} belongs to another user")
            key = base64.b64decode(path.read_text().strip())
        except VaultError:
            raise
        except (OSError, ValueError) as exc:
            raise VaultError(f"cannot read the key file {path}: {exc}") from None
        if len(key) != 32:
            raise VaultError(f"key file {path} is not a 256-bit key")
        self.where = f"key file {path}"
        return key

    def _create_key_file(self) -> bytes:
        path = self.key_file
        key = os.urandom(32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._read_key_file()  # another process created it just now
        except OSError as exc:
            raise VaultError(f"cannot create the key file {path}: {exc}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(key).decode() + "\n")
        os.chmod(path, 0o600)
        self.where = f"key file {path}"
        return key

    # --- tokens ----------------------------------------------------------------------------

    def encrypt(self, token: str, purpose: str) -> bytes:
        """`purpose` (e.g. "access https://api.github.com") is authenticated, not secret: a
        refresh token cannot be swapped in for an access token."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.key()).encrypt(nonce, token.encode("utf-8"), purpose.encode())

    def decrypt(self, blob: bytes, purpose: str) -> str:
        data = bytes(blob)
        if len(data) <= NONCE_BYTES + 16:
            raise VaultError("the stored GitHub token is damaged: run `codecortex github login`")
        try:
            plain = AESGCM(self.key()).decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], purpose.encode()
            )
        except InvalidTag:
            raise VaultError(
                f"the stored GitHub token cannot be decrypted with the key in {self.where}"
                " (the key changed?): run `codecortex github login`"
            ) from None
        return plain.decode("utf-8")
