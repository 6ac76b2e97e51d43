"""A real JWKS endpoint on 127.0.0.1 and the key pairs it publishes, for RS256/ES256 tests.

`PyJWKClient` fetches keys over HTTP with urllib, so the tests serve them the same way an
OpenID Connect provider would: `http.server` in a daemon thread, the key set swappable to
play key rotation and revocation, every GET counted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass(frozen=True)
class KeyPair:
    """A provider's signing key: `kid`, algorithm and private key; `jwk` is what it publishes."""

    kid: str
    algorithm: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        published: dict[str, Any] = (
            RSAAlgorithm.to_jwk(public, as_dict=True)
            if isinstance(public, rsa.RSAPublicKey)
            else ECAlgorithm.to_jwk(public, as_dict=True)
        )
        published.update(kid=self.kid, alg=self.algorithm, use="sig")
        return published

    def public_pem(self, public_format: serialization.PublicFormat) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.PEM, public_format)

    def sign(
        self,
        claims: dict[str, Any],
        *,
        algorithm: str | None = None,
        kid: str | None = "",
    ) -> str:
        """A token signed with this key; `kid` "" means this key's own, None means no kid."""
        headers = {} if kid is None else {"kid": kid or self.kid}
        return jwt.encode(
            claims, self.private_key, algorithm=algorithm or self.algorithm, headers=headers
        )


@cache
def rsa_key(kid: str) -> KeyPair:
    """One RS256 key per kid for the whole run (generating them is the slow part)."""
    return KeyPair(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@cache
def ec_key(kid: str) -> KeyPair:
    return KeyPair(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


class _JwksHandler(BaseHTTPRequestHandler):
    server: JwksServer

    def do_GET(self) -> None:
        body = self.server.body()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is not an access log."""


class JwksServer(ThreadingHTTPServer):
    """Serves `{"keys": [...]}` at every path of `url`; `serve` swaps the published keys."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _JwksHandler)
        self._lock = threading.Lock()
        self._keys: list[dict[str, Any]] = []
        self._raw: bytes | None = None
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/.well-known/jwks.json"

    def serve(self, *keys: KeyPair) -> None:
        with self._lock:
            self._keys = [key.jwk() for key in keys]
            self._raw = None

    def serve_raw(self, body: bytes) -> None:
        """Answer with these bytes instead of a key set (a provider's error page, say)."""
        with self._lock:
            self._raw = body

    def body(self) -> bytes:
        with self._lock:
            self.requests += 1
            if self._raw is not None:
                return self._raw
            return json.dumps({"keys": self._keys}).encode()


@contextmanager
def jwks_server() -> Iterator[JwksServer]:
    """A running JWKS endpoint, shut down (and its thread joined) on the way out."""
    server = JwksServer()
    # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="jwks", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
