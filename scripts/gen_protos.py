"""Compile modelserve's .proto files into the descriptor set that ``modelserve.protocols.pb`` loads.

    .venv/bin/python scripts/gen_protos.py            # rewrites src/modelserve/protocols/protos/descriptors.binpb
    .venv/bin/python scripts/gen_protos.py --out X    # writes X instead (the freshness test uses this)

Needs grpcio-tools (a development tool only: the server reads the committed ``descriptors.binpb`` and never
runs protoc). The set holds every file under ``protos/`` plus the well-known types they import
(``google/protobuf/any.proto``, ``wrappers.proto``, taken from grpc_tools' bundled includes), without source
info, dependencies before the files that import them. No ``_pb2.py`` modules are generated: our messages
live in a private descriptor pool, apart from TensorFlow's and tritonclient's copies of the same names.
Input files are passed in sorted order, so the output is byte-for-byte reproducible for a given protoc.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "src" / "modelserve" / "protocols" / "protos"
DEFAULT_OUT = PROTOS / "descriptors.binpb"


def proto_files(protos: Path = PROTOS) -> list[str]:
    """Our .proto files, relative to ``protos`` with forward slashes, sorted."""
    return sorted(path.relative_to(protos).as_posix() for path in protos.rglob("*.proto"))


def generate(out: Path = DEFAULT_OUT, protos: Path = PROTOS) -> Path:
    """Run protoc over ``protos`` and write the serialized ``FileDescriptorSet`` to ``out``."""
    from importlib import resources

    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"--proto_path={protos}",
        f"--proto_path={well_known}",
        "--include_imports",
        f"--descriptor_set_out={out}",
        *proto_files(protos),
    ]
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError(f"protoc failed with exit status {code}: {' '.join(args)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    path = generate(args.out)
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(proto_files())} .proto files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
