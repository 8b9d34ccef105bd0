"""The one error tree of sahid.

Every error a user can meet derives from :class:`SahidError` and carries a one-line
message that says what is wrong and what to do, an ``exit_code`` for the CLI and an
``http_status`` for the web app::

    SahidError                      exit 1
    ├── ConfigError                 sahid.toml or environment is wrong
    ├── InputError                  a file, field or argument is wrong
    │   └── NotFound                an id, file or archive does not exist
    ├── AuthError                   wrong passphrase or unusable key file
    ├── LockedError                 another process holds the archive
    ├── NetworkError                a service the user asked for (a TSA) cannot be used
    └── VerificationError           exit 2: integrity failure (tampering, corruption)

The CLI has one ``except SahidError``; it prints ``error: <message>`` and exits with
``exit_code``. Nothing else may escape to a user as a traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "ConfigError",
    "InputError",
    "LockedError",
    "NetworkError",
    "NotFound",
    "SahidError",
    "VerificationError",
]


class SahidError(Exception):
    """Root of every sahid error: a user-actionable one-line message."""

    exit_code: int = 1
    http_status: int = 400
    code: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def diagnostics(self) -> dict[str, Any]:
        """The one JSON shape of an error, shared by CLI ``--json`` and the web app."""
        return {"error": self.code, "message": self.message, "exit_code": self.exit_code}


class ConfigError(SahidError):
    code = "config"


class InputError(SahidError):
    code = "input"


class NotFound(InputError):
    code = "not_found"
    http_status = 404


class AuthError(SahidError):
    code = "auth"
    http_status = 401


class LockedError(SahidError):
    code = "locked"
    http_status = 409


class NetworkError(SahidError):
    """A remote service the user named (a timestamp authority) is unreachable or odd."""

    code = "network"
    http_status = 502


class VerificationError(SahidError):
    """Integrity failure: the message names the step and the first bad entry or file."""

    code = "verification"
    exit_code = 2
    http_status = 422

    def __init__(self, message: str, *, step: int | None = None, where: str | None = None):
        super().__init__(message)
        self.step = step
        self.where = where

    def diagnostics(self) -> dict[str, Any]:
        d = super().diagnostics()
        d["step"] = self.step
        d["where"] = self.where
        return d
