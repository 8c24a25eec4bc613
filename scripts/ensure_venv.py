"""Create .venv and pip-install into it, skipping installs that are already done.

Usage: python3 scripts/ensure_venv.py STAMP PIP_INSTALL_ARGS...
  e.g. python3 scripts/ensure_venv.py runtime -r requirements/face-service.txt -r requirements/gateway.txt

The stamp file .venv/.installed-STAMP records a hash of the pip arguments, the Python version and the text of
every requirements file they name (following nested `-r` lines). While the hash matches, nothing runs, so
repeated `make` calls cost a fraction of a second; editing a requirements file triggers a new install.
Standard library only: it runs before the virtualenv exists.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
MIN_PYTHON = (3, 10)


def requirement_files(pip_args: list[str]) -> list[Path]:
    """The requirements files named by `-r FILE` in pip_args, with the files they include, in order."""
    named = [Path(pip_args[i + 1]) for i, arg in enumerate(pip_args[:-1]) if arg in ("-r", "--requirement")]
    found: list[Path] = []
    while named:
        path = (ROOT / named.pop(0)).resolve()
        if path in found:
            continue
        found.append(path)
        for line in path.read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) == 2 and parts[0] in ("-r", "--requirement"):
                named.append(path.parent / parts[1])
    return found


def install_fingerprint(pip_args: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{sys.version_info[:2]}\0{pip_args}\0".encode())
    for path in requirement_files(pip_args):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    if VENV_PYTHON.exists() and subprocess.run([VENV_PYTHON, "-c", ""], check=False).returncode == 0:
        return
    print(f"creating virtualenv {VENV}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if sys.version_info < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        print(f"Python {wanted}+ is required; this is {sys.version.split()[0]}", file=sys.stderr)
        return 1
    stamp_name, pip_args = argv[0], argv[1:]
    ensure_venv()
    stamp = VENV / f".installed-{stamp_name}"
    fingerprint = install_fingerprint(pip_args)
    if stamp.exists() and stamp.read_text().strip() == fingerprint:
        return 0
    print(f"installing {stamp_name}: pip install {' '.join(pip_args)}", file=sys.stderr)
    subprocess.run([VENV_PYTHON, "-m", "pip", "install", "--quiet", *pip_args], check=True, cwd=ROOT)
    stamp.write_text(fingerprint + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
