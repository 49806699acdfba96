"""Verify a passport: every pinned file still has its hash (a tampered one is named), then the
signature probes tell, with a p-value, whether a given model carries the imprint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from overlay.errors import OverlayError, TamperedError
from overlay.files import sha256_file
from overlay.passport.probes import gains, probes_from, sign_test


def load(passport: Path) -> dict[str, Any]:
    path = passport / "passport.json" if passport.is_dir() else passport
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OverlayError(f"{path}: no such passport") from None
    except json.JSONDecodeError as exc:
        raise TamperedError(f"{path}: not valid JSON (line {exc.lineno})") from None
    if data.get("passport") != 1:
        raise OverlayError(f"{path}: not a passport this version reads")
    return data


def check_files(data: dict[str, Any], adapter: Path | None = None) -> int:
    """Compare every pinned file with its hash; returns how many were checked."""
    roots = {"dataset": Path(data["paths"]["dataset"]),
             "adapter": adapter or Path(data["paths"]["adapter"] or ".")}
    checked = 0
    for role, files in data["files"].items():
        for name, digest in files.items():
            path = roots[role] / name
            if not path.exists():
                raise TamperedError(f"{path}: pinned by the passport but missing")
            if sha256_file(path) != digest:
                raise TamperedError(f"{path}: changed since the passport was made (sha256 differs)")
            checked += 1
    return checked


def verify(
    data: dict[str, Any], model: Any, base: Any, alpha: float = 0.01, adapter: Path | None = None
) -> dict[str, Any]:
    """Files first, then the probes on `model` against `base`: carries when p < alpha."""
    checked = check_files(data, adapter)
    probes = probes_from(data["probes"])
    test = sign_test(gains(model, base, probes))
    carries = test["n"] > 0 and test["p_value"] < alpha and test["median_gain"] > 0
    return {"carries": carries, "alpha": alpha, "files_checked": checked, "model": model.name,
            "base": base.name, **test}
