"""Installed size of each image variant's Python layer, measured from an environment that has it installed.

There is no Docker engine on the build machines, so the layer an image's ``pip install ".[EXTRAS]"`` adds is
measured from the same packages installed here (``make examples`` installs every extra into ``.venv``):
the dependency closure of ``modelserve[EXTRAS]`` (markers evaluated for this interpreter and platform),
each distribution counted by the files its ``RECORD`` lists, as they lie on disk (bytecode included), plus
the ``pip`` and ``setuptools`` a Python 3.11 virtual environment starts with, plus modelserve's own package.
The versions are this environment's, so a fresh build resolves to the same or newer releases.

    .venv/bin/python deploy/docker/image_sizes.py            # a Markdown table for docs/containers.md

Contract: :func:`closure` never includes a distribution that is not installed (it reports it in
``missing``); :func:`variant_size` sums whole distributions, never parts of one.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

#: The variants docs/containers.md describes: image tag suffix -> the build's EXTRAS.
VARIANTS: dict[str, str] = {
    "": "tensorflow,tflite,remote",  # deploy/docker/Dockerfile's default
    "-lite": "tflite,remote",
    "-onnx": "remote",
}
#: What `python -m venv` puts in a Python 3.11 environment before anything is installed.
VENV_SEED = ("pip", "setuptools")
PACKAGE = Path(__file__).resolve().parents[2] / "src" / "modelserve"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Closure:
    names: set[str] = field(default_factory=set)  # canonical distribution names
    missing: set[str] = field(default_factory=set)  # required, not installed here


def closure(root: str, extras: set[str]) -> Closure:
    """Every distribution ``root[extras]`` needs at run time, found through installed metadata."""
    found = Closure()
    pending: list[tuple[str, frozenset[str]]] = [(root, frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, wanted = pending.pop()
        if (canonical(name), wanted) in seen:
            continue
        seen.add((canonical(name), wanted))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            found.missing.add(canonical(name))
            continue
        found.names.add(canonical(name))
        for text in dist.requires or ():
            requirement = Requirement(text)
            if requirement.marker is None or any(
                requirement.marker.evaluate({**default_environment(), "extra": extra}) for extra in ("", *wanted)
            ):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def distribution_bytes(name: str) -> int:
    """The bytes on disk of the files a distribution's RECORD lists (files since removed count 0)."""
    dist = metadata.distribution(name)
    total = 0
    for entry in dist.files or ():
        path = Path(str(dist.locate_file(entry)))
        if path.is_file():
            total += path.stat().st_size
    return total


def package_bytes(folder: Path = PACKAGE) -> int:
    """modelserve's own files (an editable install's RECORD does not list them)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def variant_size(extras: str) -> tuple[int, Closure]:
    """The Python layer of ``pip install ".[extras]"`` into a fresh virtual environment, in bytes."""
    found = closure("modelserve", {e for e in extras.split(",") if e})
    names = (found.names - {"modelserve"}) | {canonical(n) for n in VENV_SEED}
    return sum(distribution_bytes(n) for n in names) + package_bytes(), found


def main() -> int:
    print("| image | EXTRAS | distributions | Python layer (MB) | largest |")
    print("| --- | --- | --- | --- | --- |")
    for suffix, extras in VARIANTS.items():
        size, found = variant_size(extras)
        largest = sorted(found.names - {"modelserve"}, key=distribution_bytes, reverse=True)[:3]
        tops = ", ".join(f"{n} {distribution_bytes(n) / 1e6:.0f}" for n in largest)
        print(f"| modelserve:VERSION{suffix} | {extras} | {len(found.names)} | {size / 1e6:.0f} | {tops} |")
        if found.missing:
            print(f"  (not installed here, not counted: {', '.join(sorted(found.missing))})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
