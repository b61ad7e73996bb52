"""Atomic writes: a file is either its old self or its complete new self, never half-written; and
:func:`csv_flags`, the one way to read a yes/no column back from a CSV the suite wrote."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, fsync, then rename over ``path`` (same directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path, text: str) -> Path:
    return write_atomic(path, lambda p: p.write_text(text))


def write_json_atomic(path, data: Any) -> Path:
    """Strict JSON (NaN and infinities are written as null)."""
    text = json.dumps(_finite(data), indent=2, default=_jsonable, allow_nan=False)
    return write_text_atomic(path, text + "\n")


def _finite(value):
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def read_json(path) -> dict:
    """A JSON file's content, or {} when it is missing or unreadable (an optional file never stops a reader)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_csv_atomic(path, frame) -> Path:
    """Write a pandas DataFrame as CSV, atomically."""
    return write_atomic(path, lambda p: frame.to_csv(p, index=False))


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def csv_flags(values):
    """A yes/no column (a pandas Series) as booleans, whether it holds booleans already or the text a CSV gives
    back ("True", "false", 1, 0); anything else, a missing value included, is False."""
    return values.astype(str).str.strip().str.lower().isin(("true", "1", "1.0"))
