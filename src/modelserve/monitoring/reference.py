"""Reference datasets: the rows a version's drift baseline is drawn from, when a team has them.

    find_reference(Path("models/digits/3"))   # models/digits/3/reference.npz (or assets.extra/...), or None
    read_reference(path, input_names)         # {"images": float32[n, 8, 8, 1], "probabilities"?: ...}

Contract: a reference is an ``.npz`` whose arrays are named after the signature's inputs (and optionally its
outputs, which then need not be computed), or a Parquet file (pyarrow, imported only for it) whose columns
are named after inputs (a scalar or a list per row, stacked into ``[n, ...]``), or, for a model with one
input, any numeric columns taken in order as that input's ``[n, F]`` matrix. Looked for in the version
folder as ``reference.npz`` / ``reference.parquet``, then under ``assets.extra/`` (where TF Serving keeps
extra files such as warmup records). Raises ValueError saying what is wrong with a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["find_reference", "read_reference"]

_NAMES = ("reference.npz", "reference.parquet")


def find_reference(version_folder: Path) -> Path | None:
    for folder in (version_folder, version_folder / "assets.extra"):
        for name in _NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def read_reference(path: Path, input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Arrays by tensor name, every one with the same number of rows."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    elif path.suffix == ".parquet":
        arrays = _read_parquet(path, input_names)
    else:
        raise ValueError(f"{path}: a reference dataset is .npz or .parquet")
    missing = [name for name in input_names if name not in arrays]
    if missing:
        raise ValueError(f"{path}: no array for input(s) {missing} (has {sorted(arrays)})")
    sizes = {name: len(value) for name, value in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{path}: arrays have different numbers of rows: {sizes}")
    return arrays


def _read_parquet(path: Path, input_names: Sequence[str]) -> dict[str, np.ndarray]:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise ValueError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    table = parquet.read_table(path)
    if all(name in table.column_names for name in input_names):
        return {name: np.asarray(table.column(name).to_pylist()) for name in table.column_names}
    if len(input_names) == 1:
        numeric = [
            name for name, kind in zip(table.column_names, table.schema.types)
            if str(kind).startswith(("int", "uint", "float", "double"))
        ]  # fmt: skip
        if numeric:
            return {input_names[0]: np.column_stack([table.column(name).to_numpy() for name in numeric])}
    raise ValueError(f"{path}: columns {table.column_names} name none of the inputs {list(input_names)}")
