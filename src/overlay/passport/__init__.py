"""Passports: what a dataset, adapter or overlay carries, pinned by hashes, with a signature
probe set that tells whether a model carries the imprint (`overlay passport build | verify`)."""

from overlay.errors import TamperedError
from overlay.passport.document import build
from overlay.passport.verify import check_files, load, verify

__all__ = ["TamperedError", "build", "check_files", "load", "verify"]
