"""Generate the Python gRPC modules from protos/ (never edit the output; it is git-ignored)."""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"


def main() -> int:
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        *protos,
    ]
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    print(f"generated {len(protos)} proto file(s) into {ROOT}")
    for package_dir in {(ROOT / p).parent for p in protos}:
        for parent in [package_dir, *package_dir.relative_to(ROOT).parents]:
            if str(parent) != ".":
                (ROOT / parent / "__init__.py").touch()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
