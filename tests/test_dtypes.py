"""The dtype table's spellings agree with each other and with numpy."""

import numpy as np
import pytest

from modelserve import Unimplemented, dtypes


def test_round_trips():
    assert dtypes.by_name("float32").tf_name == "DT_FLOAT"
    assert dtypes.by_tf_enum(7).name == "string"
    assert dtypes.by_numpy(np.int64).v2_name == "INT64"
    assert dtypes.by_numpy(np.dtype("S3")).name == "string"
    assert dtypes.by_name("half").numpy == np.float16


def test_unknown_dtype_is_unimplemented():
    with pytest.raises(Unimplemented):
        dtypes.by_name("float8")
    with pytest.raises(Unimplemented):
        dtypes.by_tf_enum(20)
