"""Overlay: knowledge and ways of thinking kept outside the language model, in a layer the
user can read, edit, grow and undo. This module is the public Python API."""

from overlay.config import IngestConfig, RetrieveConfig, Settings
from overlay.engine import Overlay
from overlay.errors import (
    ConfigError,
    IngestError,
    ModelError,
    NotFoundError,
    OverlayError,
    PluginError,
    SchemaError,
    StoreError,
)
from overlay.graph import Edge, EdgeKind, Node, NodeKind
from overlay.ingest import IngestReport
from overlay.plugins import hookimpl, load_plugins
from overlay.retrieve import Hit

__all__ = [
    "ConfigError",
    "Edge",
    "EdgeKind",
    "Hit",
    "IngestConfig",
    "IngestError",
    "IngestReport",
    "ModelError",
    "Node",
    "NodeKind",
    "NotFoundError",
    "Overlay",
    "OverlayError",
    "PluginError",
    "RetrieveConfig",
    "SchemaError",
    "Settings",
    "StoreError",
    "hookimpl",
    "load_plugins",
]
__version__ = "0.1.0"
