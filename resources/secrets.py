"""Secrets (pseudonymisation keys): environment variables locally, AWS Secrets Manager in
production. Values are returned to the caller only; never logged, never written to the lake.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, get_args

from resources.errors import Refused

Backend = Literal["env", "aws"]
BACKENDS: tuple[str, ...] = get_args(Backend)


class SecretNotFound(KeyError):
    pass


class UnknownSecretsBackend(Refused, ValueError):
    """``NGRL_SECRETS_BACKEND`` names no backend."""

    rule = "secrets_backend_unknown"


@dataclass(frozen=True)
class Secrets:
    """Looks up a named secret. ``backend="env"`` reads ``NGRL_SECRET_<NAME>``;
    ``backend="aws"`` reads the Secrets Manager secret ``<prefix><name>`` (``prefix``: the
    Secrets Manager name prefix). A plain class, handed to assets as a resource."""

    backend: Backend = "env"
    prefix: str = "ngrl/"

    @classmethod
    def from_env(cls) -> Secrets:
        backend = os.environ.get("NGRL_SECRETS_BACKEND", "env")
        if backend not in BACKENDS:
            allowed = " or ".join(repr(b) for b in BACKENDS)
            raise UnknownSecretsBackend(f"NGRL_SECRETS_BACKEND must be {allowed}, not {backend!r}")
        return cls(backend=backend, prefix=os.environ.get("NGRL_SECRETS_PREFIX", "ngrl/"))  # type: ignore[arg-type]

    def get(self, name: str) -> str:
        if self.backend == "env":
            var = "NGRL_SECRET_" + name.upper().replace("-", "_").replace("/", "_")
            value = os.environ.get(var)
            if not value:
                raise SecretNotFound(f"secret {name!r} not set (environment variable {var})")
            return value
        import boto3

        client = boto3.client("secretsmanager")
        try:
            response = client.get_secret_value(SecretId=self.prefix + name)
        except client.exceptions.ResourceNotFoundException as exc:
            raise SecretNotFound(f"secret {self.prefix + name!r} not in Secrets Manager") from exc
        return str(response["SecretString"])

    def get_bytes(self, name: str) -> bytes:
        """The secret as key material for HMAC (hex-encoded secrets are decoded)."""
        value = self.get(name)
        try:
            return bytes.fromhex(value)
        except ValueError:
            return value.encode()
