"""One exception tree with a common root, so faces (CLI, server) can turn any of them into
a one-line message while unexpected errors still surface as tracebacks under tests."""

from __future__ import annotations

from pathlib import Path


class OverlayError(Exception):
    """Root of every error the overlay raises on purpose."""


class ConfigError(OverlayError):
    """A setting has a bad value; the message names it."""


class ConflictError(ConfigError):
    """The request contradicts the current state (a second verdict, an undo of an undo)."""


class AccessError(OverlayError):
    """A path lies outside what this face may read or write (the vault roots, the store)."""


class PluginError(OverlayError):
    """A backend failed to register or is unknown; the message says the fix."""


class StoreError(OverlayError):
    """The store cannot be opened or written."""


class SchemaError(StoreError):
    """The store was written by another schema version than this code knows."""


class StoreBusyError(StoreError):
    """The database gave up a transaction because another one wrote the same rows (a
    deadlock, a serialization failure): nothing of it was written, and the same change may
    simply be tried again."""


class NotFoundError(OverlayError):
    """A node, trace or event that was asked for does not exist."""


class ModelError(OverlayError):
    """A model (embedder, LM) is missing or cannot be loaded; the message says what to install."""


class IngestError(OverlayError):
    """A file could not be read or parsed; carries the file and line."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(where + message)


class MethodError(IngestError):
    """A method note does not follow the step grammar; carries the file and line."""


class SignalError(OverlayError):
    """A signal source cannot be read, or lacks what a rule needs (a channel, a rate high
    enough for a band); the message names the file or stream."""


class SpecError(IngestError):
    """A YAML file that does not parse or does not fit its schema; names file, line, column."""

    def __init__(self, message: str, path: Path | str | None, line: int | None, col: int | None):
        super().__init__(message, path, line)
        self.col, self.detail = col, message
        if self.path is not None and line is not None and col is not None:
            self.args = (f"{self.path}:{line}:{col}: {message}",)


class TamperedError(OverlayError):
    """A file a passport pins is missing or no longer has its recorded sha256."""


class LimitError(ConfigError):
    """A request is over one of the limits (question length, candidates, body size); the
    message names the limit and its setting."""


class CancelledError(OverlayError):
    """The work was stopped before it finished: its client went away, it ran past its time
    budget, or the server is shutting down. Nothing of it was written."""
