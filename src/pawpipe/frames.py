"""Where the SVR's feature tables live: cuDF frames and CuPy arrays on a GPU with cuML, pandas frames
and numpy arrays elsewhere, behind one small interface so both run the same code.

With cuML, a feature table is read straight into GPU memory (cudf.read_parquet), joined on Id there,
turned into a CuPy matrix (DataFrame.to_cupy), concatenated and standardised with CuPy and handed to
cuML: nothing goes back to the host until the predictions are written. Without cuML the same steps
run with pandas and numpy. Tests run the numpy side; a GPU test checks that both give the same numbers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import ModuleType

import numpy as np


@dataclass(frozen=True)
class ArrayLib:
    """A dataframe library and its array library: (pandas, numpy) or (cudf, cupy)."""

    name: str  # host | gpu
    df: ModuleType
    xp: ModuleType

    def matrix(self, frame) -> object:
        """A frame's values as a float32 matrix of this library (CuPy stays on the GPU)."""
        values = frame.to_cupy() if self.name == "gpu" else frame.to_numpy()
        return self.xp.asarray(values, dtype=self.xp.float32)

    def asarray(self, values, dtype=None) -> object:
        return self.xp.asarray(values, dtype=dtype)


@functools.cache
def host_lib() -> ArrayLib:
    import pandas

    return ArrayLib("host", pandas, np)


@functools.cache
def gpu_lib() -> ArrayLib:
    import cudf
    import cupy

    return ArrayLib("gpu", cudf, cupy)


def lib_for(backend: str) -> ArrayLib:
    """cuDF and CuPy where the SVR runs on cuML, pandas and numpy otherwise."""
    return gpu_lib() if backend == "cuml" else host_lib()


def read_table(lib: ArrayLib, path: str, columns: list[str] | None = None):
    """A parquet feature table (its Id column and `columns`, or all), read by `lib` (cuDF: on the GPU)."""
    return lib.df.read_parquet(path, columns=None if columns is None else ["Id", *columns])


def align(lib: ArrayLib, frame, ids: list[str], where: str):
    """The rows of `frame` for `ids`, in that order (joined on Id); every Id must be there exactly once."""
    order = lib.df.DataFrame({"Id": list(ids), "_row": np.arange(len(ids))})
    joined = order.merge(frame, on="Id", how="inner")
    if len(joined) != len(ids):
        have = set(frame["Id"].to_pandas() if lib.name == "gpu" else frame["Id"])
        missing = [i for i in ids if i not in have]
        detail = f"no row for Id {missing[0]!r} ({len(missing)} missing)" if missing else "Ids repeated"
        raise ValueError(f"{where}: {detail}; rerun the rule that writes it")
    return joined.sort_values("_row").drop(columns=["Id", "_row"])


def standardise(lib: ArrayLib, x_fit, *x_other) -> tuple[object, object, list]:
    """(mean, scale, [standardised x_fit, *x_other]) with the fit rows' mean and population std; a
    constant column keeps scale 1, as scikit-learn's StandardScaler does."""
    xp = lib.xp
    x_fit = xp.asarray(x_fit, dtype=xp.float64)
    mean = x_fit.mean(axis=0)
    scale = x_fit.std(axis=0)
    scale = xp.where(scale < 10 * xp.finfo(xp.float64).eps, 1.0, scale)
    return (
        mean,
        scale,
        [((xp.asarray(x, dtype=xp.float64) - mean) / scale).astype(xp.float32) for x in (x_fit, *x_other)],
    )
