"""Overlay: knowledge and ways of thinking kept outside the language model, in a layer the
user can read, edit, grow and undo. This module is the public Python API."""

from overlay.config import IngestConfig, LMConfig, RetrieveConfig, SelectConfig, Settings
from overlay.engine import Overlay
from overlay.errors import (
    ConfigError,
    IngestError,
    MethodError,
    ModelError,
    NotFoundError,
    OverlayError,
    PluginError,
    SchemaError,
    SignalError,
    StoreError,
)
from overlay.graph import Edge, EdgeKind, Node, NodeKind
from overlay.hookspecs import hookimpl
from overlay.ingest import IngestReport
from overlay.lm import LM, Generation, Scored
from overlay.plugins import load_plugins
from overlay.retrieve import Hit
from overlay.trace import Candidate, Span, Step, Trace

__all__ = [
    "LM",
    "Candidate",
    "ConfigError",
    "Edge",
    "EdgeKind",
    "Generation",
    "Hit",
    "IngestConfig",
    "IngestError",
    "IngestReport",
    "LMConfig",
    "MethodError",
    "ModelError",
    "Node",
    "NodeKind",
    "NotFoundError",
    "Overlay",
    "OverlayError",
    "PluginError",
    "RetrieveConfig",
    "SchemaError",
    "Scored",
    "SelectConfig",
    "Settings",
    "SignalError",
    "Span",
    "Step",
    "StoreError",
    "Trace",
    "hookimpl",
    "load_plugins",
]
__version__ = "0.1.0"
