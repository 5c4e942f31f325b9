"""The errors tokentrail raises. Each refines a built-in so callers can catch either."""

from __future__ import annotations

__all__ = [
    "BudgetExceededError",
    "ConfigError",
    "SchemaVersionError",
    "StoreError",
    "StoreUnavailableError",
    "TokentrailError",
    "UnknownModelError",
    "ValidationError",
]


class TokentrailError(Exception):
    """Base of every error tokentrail raises on purpose."""


class ConfigError(TokentrailError, ValueError):
    """A setting has a bad value; the message names the setting, the value and where it came from."""


class ValidationError(TokentrailError, ValueError):
    """A value given to a public entry point is invalid; the message names the field and the value."""


class UnknownModelError(TokentrailError, LookupError):
    """No price is known for a model."""


class StoreError(TokentrailError):
    """A store could not be opened, read or written."""


class StoreUnavailableError(StoreError):
    """A store cannot be reached or written for now (network, disk, locks, timeouts); the data is not at fault."""


class SchemaVersionError(StoreError):
    """A store was written by a newer tokentrail than this one."""


class BudgetExceededError(TokentrailError):
    """A call was refused before it reached the provider because it would break an enforced budget."""
