"""numpy <-> TensorProto without TensorFlow, cross-checked against TensorFlow's own encoder and decoder."""

from __future__ import annotations

import numpy as np
import pytest

from modelserve.errors import InvalidArgument, ResourceExhausted, Unimplemented
from modelserve.protocols import pb
from modelserve.protocols.tfs import tensor_proto
from modelserve.protocols.tfs.tensor_proto import from_numpy, to_numpy

NUMERIC = [
    np.float32,
    np.float64,
    np.float16,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
    np.complex64,
    np.complex128,
]
SHAPES = [(), (0,), (2, 0, 3), (5,), (2, 3, 4)]


def sample(dtype, shape) -> np.ndarray:
    """Values that use the dtype's range: negatives, extremes, fractions, NaN/inf for floats."""
    count = int(np.prod(shape, dtype=np.int64))
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        flat = np.arange(count) % 3 == 0
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        pool = np.array([info.min, info.max, 0, 1, info.max // 3, info.min // 7], dtype=dtype)
        flat = np.resize(pool, count)
    elif dtype.kind == "f":
        pool = np.array([0.5, -1.25, np.inf, -np.inf, 3.0e3, -0.0], dtype=dtype)
        flat = np.resize(pool, count)
        if count > 7:
            flat[7] = np.nan
    else:
        flat = (np.arange(count) - 2.5) + 1j * (np.arange(count) * 0.25)
        flat = flat.astype(dtype)
    return flat.reshape(shape)


def strings(shape) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    pool = [b"", b"abc", b"\x00\xff\x00", "é".encode(), b"x" * 300]
    out = np.empty(count, dtype=object)
    out[:] = [pool[i % len(pool)] for i in range(count)]
    return out.reshape(shape)


def reparse(proto):
    return pb.TensorProto.FromString(proto.SerializeToString())


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    if expected.dtype == object:
        assert actual.tolist() == expected.tolist()
    else:
        np.testing.assert_array_equal(actual, expected)  # NaNs compare equal here


# --- round trips without TensorFlow ---


@pytest.mark.parametrize("use_tensor_content", [True, False], ids=["content", "typed"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
def test_numeric_round_trip(dtype, shape, use_tensor_content: bool) -> None:
    array = sample(dtype, shape)
    proto = from_numpy(array, use_tensor_content=use_tensor_content)
    assert [d.size for d in proto.tensor_shape.dim] == list(shape)
    assert bool(proto.tensor_content) == (use_tensor_content and array.size > 0)
    assert_same(to_numpy(reparse(proto)), array)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_string_round_trip(shape) -> None:
    array = strings(shape)
    proto = from_numpy(array)
    assert proto.dtype == pb.DataType.Value("DT_STRING")
    assert not proto.tensor_content
    assert_same(to_numpy(reparse(proto)), array)


def test_str_and_fixed_width_string_arrays_become_bytes() -> None:
    assert to_numpy(from_numpy(np.array(["a", "é"]))).tolist() == [b"a", "é".encode()]
    assert to_numpy(from_numpy(np.array([b"ab", b"c"]))).tolist() == [b"ab", b"c"]
    mixed = np.array(["x", b"y"], dtype=object)
    assert to_numpy(from_numpy(mixed)).tolist() == [b"x", b"y"]
    assert to_numpy(from_numpy("scalar")).tolist() == b"scalar"


def test_string_array_with_other_objects_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="not bytes or str"):
        from_numpy(np.array([b"a", 3], dtype=object))


def test_unsupported_numpy_dtype_is_unimplemented() -> None:
    with pytest.raises(Unimplemented):
        from_numpy(np.array(["2020-01-01"], dtype="datetime64[D]"))


def test_big_endian_input_is_written_little_endian() -> None:
    array = np.arange(4, dtype=">i4")
    proto = from_numpy(array)
    assert proto.tensor_content == np.arange(4, dtype="<i4").tobytes()
    assert_same(to_numpy(proto), np.arange(4, dtype=np.int32))


def test_dtype_enums() -> None:
    for dtype, name in [
        (np.float16, "DT_HALF"),
        (np.uint32, "DT_UINT32"),
        (np.uint64, "DT_UINT64"),
        (np.bool_, "DT_BOOL"),
        (np.complex64, "DT_COMPLEX64"),
        (np.int8, "DT_INT8"),
    ]:
        assert from_numpy(np.zeros(1, dtype)).dtype == pb.DataType.Value(name)


def test_tensor_content_is_little_endian_raw_bytes() -> None:
    proto = from_numpy(np.array([[1.0, 2.0]], dtype=np.float32))
    assert proto.tensor_content == b"\x00\x00\x80\x3f\x00\x00\x00\x40"
    half = from_numpy(np.array([1.0], dtype=np.float16), use_tensor_content=False)
    assert list(half.half_val) == [0x3C00]
    complex_ = from_numpy(np.array([1 + 2j], dtype=np.complex64), use_tensor_content=False)
    assert list(complex_.scomplex_val) == [1.0, 2.0]


def test_typed_fields_hold_the_values() -> None:
    def typed(values, dtype):
        return from_numpy(np.array(values, dtype=dtype), use_tensor_content=False)

    assert list(typed([[1.5, -2.0]], np.float32).float_val) == [1.5, -2.0]
    assert list(typed([1e300], np.float64).double_val) == [1e300]
    assert list(typed([True, False, True], np.bool_).bool_val) == [True, False, True]
    assert list(typed([1 - 2j], np.complex128).dcomplex_val) == [1.0, -2.0]
    assert list(typed([-1, 2], np.int8).int_val) == [-1, 2]
    assert list(typed([-(1 << 62)], np.int64).int64_val) == [-(1 << 62)]
    assert list(typed([(1 << 64) - 1], np.uint64).uint64_val) == [(1 << 64) - 1]
    assert list(typed([(1 << 32) - 1], np.uint32).uint32_val) == [(1 << 32) - 1]
    assert list(typed([65535], np.uint16).int_val) == [65535]


# --- decoding what clients send ---


def tensor(dtype: str, shape, **fields):
    proto = pb.TensorProto(dtype=pb.DataType.Value(dtype), **fields)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def test_one_typed_value_fills_the_tensor() -> None:
    assert_same(to_numpy(tensor("DT_FLOAT", [2, 3], float_val=[0.5])), np.full((2, 3), 0.5, np.float32))
    assert_same(to_numpy(tensor("DT_STRING", [2], string_val=[b"a"])), np.array([b"a", b"a"], dtype=object))
    assert_same(to_numpy(tensor("DT_HALF", [3], half_val=[0x3C00])), np.ones(3, np.float16))
    assert_same(to_numpy(tensor("DT_COMPLEX64", [2], scomplex_val=[1.0, -1.0])), np.full(2, 1 - 1j, dtype=np.complex64))


def test_fewer_typed_values_are_padded_with_the_last_like_tensorflow() -> None:
    assert_same(to_numpy(tensor("DT_INT32", [5], int_val=[1, 2])), np.array([1, 2, 2, 2, 2], np.int32))


def test_no_typed_values_mean_zeros() -> None:
    assert_same(to_numpy(tensor("DT_INT64", [2, 2])), np.zeros((2, 2), np.int64))
    assert_same(to_numpy(tensor("DT_STRING", [2])), np.array([b"", b""], dtype=object))


def test_values_in_another_dtypes_field_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="float_val"):
        to_numpy(tensor("DT_INT32", [2], float_val=[1.0, 2.0]))


def test_more_typed_values_than_elements_are_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"float_val has 3 values but shape \[2\] of DT_FLOAT has 2 elements"):
        to_numpy(tensor("DT_FLOAT", [2], float_val=[1.0, 2.0, 3.0]))


def test_tensor_content_size_mismatch_says_expected_and_got() -> None:
    with pytest.raises(InvalidArgument, match=r"tensor_content has 8 bytes but shape \[3\] of DT_FLOAT needs 12"):
        to_numpy(tensor("DT_FLOAT", [3], tensor_content=b"\x00" * 8))
    with pytest.raises(InvalidArgument, match="needs 0"):
        to_numpy(tensor("DT_FLOAT", [0], tensor_content=b"\x00" * 4))


def test_scalar_and_empty() -> None:
    assert_same(to_numpy(tensor("DT_DOUBLE", [], double_val=[2.5])), np.array(2.5))
    assert_same(to_numpy(tensor("DT_FLOAT", [0, 4])), np.zeros((0, 4), np.float32))
    assert_same(to_numpy(tensor("DT_STRING", [0])), np.empty(0, dtype=object))


def test_narrow_ints_in_int_val() -> None:
    assert_same(to_numpy(tensor("DT_UINT8", [3], int_val=[0, 128, 255])), np.array([0, 128, 255], np.uint8))
    assert_same(to_numpy(tensor("DT_INT8", [2], int_val=[-128, 127])), np.array([-128, 127], np.int8))
    assert_same(to_numpy(tensor("DT_UINT16", [1], int_val=[65535])), np.array([65535], np.uint16))


def test_bool_tensor_content_nonzero_bytes_are_true() -> None:
    assert to_numpy(tensor("DT_BOOL", [3], tensor_content=b"\x00\x01\x02")).tolist() == [False, True, True]


def test_content_arrays_are_read_only_views() -> None:
    array = to_numpy(tensor("DT_FLOAT", [2], tensor_content=np.ones(2, np.float32).tobytes()))
    assert not array.flags.writeable


@pytest.mark.parametrize(
    ("proto", "error", "match"),
    [
        (pb.TensorProto(), InvalidArgument, "DT_INVALID"),
        (tensor("DT_BFLOAT16", [1], half_val=[0]), Unimplemented, "DT_BFLOAT16"),
        (tensor("DT_RESOURCE", [1]), Unimplemented, "DT_RESOURCE"),
        (tensor("DT_VARIANT", [1]), Unimplemented, "DT_VARIANT"),
        (tensor("DT_QINT8", [1]), Unimplemented, "DT_QINT8"),
        (pb.TensorProto(dtype=999), Unimplemented, "999"),
        (tensor("DT_FLOAT", [-1]), InvalidArgument, "negative"),
        (pb.TensorProto(dtype=1, tensor_shape=pb.TensorShapeProto(unknown_rank=True)), InvalidArgument, "unknown"),
        (tensor("DT_STRING", [1], tensor_content=b"ab"), InvalidArgument, "string_val"),
        (tensor("DT_COMPLEX64", [1], scomplex_val=[1.0, 2.0, 3.0]), InvalidArgument, "pairs"),
        (tensor("DT_FLOAT", [1 << 40], float_val=[1.0]), ResourceExhausted, "limit"),
        (tensor("DT_FLOAT", [1 << 40, 1 << 40]), InvalidArgument, "too many elements"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_tensors(proto, error, match) -> None:
    with pytest.raises(error, match=match):
        to_numpy(proto)


def test_fill_limit_is_configurable(monkeypatch) -> None:
    monkeypatch.setattr(tensor_proto, "MAX_EXPANDED_BYTES", 16)
    assert to_numpy(tensor("DT_FLOAT", [4], float_val=[1.0])).size == 4
    with pytest.raises(ResourceExhausted):
        to_numpy(tensor("DT_FLOAT", [5], float_val=[1.0]))


# --- against real TensorFlow ---


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


TF_VALUES = [
    *(pytest.param(sample(d, s), id=f"{np.dtype(d).name}-{s}") for d in NUMERIC for s in SHAPES),
    *(pytest.param(strings(s), id=f"string-{s}") for s in SHAPES),
]


@pytest.mark.parametrize("value", TF_VALUES)
def test_reads_tf_make_tensor_proto(tf, value: np.ndarray) -> None:
    theirs = tf.make_tensor_proto(value)
    assert_same(to_numpy(reparse(theirs)), value)


@pytest.mark.parametrize("use_tensor_content", [True, False], ids=["content", "typed"])
@pytest.mark.parametrize("value", TF_VALUES)
def test_tf_make_ndarray_reads_ours(tf, value: np.ndarray, use_tensor_content: bool) -> None:
    data = from_numpy(value, use_tensor_content=use_tensor_content).SerializeToString()
    theirs = tf.make_ndarray(type(tf.make_tensor_proto(0)).FromString(data))
    assert_same(theirs.astype(object) if value.dtype == object else theirs, value)


@pytest.mark.parametrize(
    ("value", "dtype", "shape"),
    [
        (0.5, "float32", [2, 3]),
        (-2.0, "float64", [4]),
        (7, "int32", [2, 2]),
        (-3, "int8", [3]),
        (200, "uint8", [2]),
        (60000, "uint16", [2]),
        (1 << 40, "int64", [3, 1]),
        ((1 << 32) - 1, "uint32", [2]),
        ((1 << 64) - 1, "uint64", [2]),
        (True, "bool", [2, 2]),
        (1.5, "float16", [5]),
        (1 + 2j, "complex64", [2]),
        (-1 - 0.5j, "complex128", [3]),
        (b"fill", "string", [2, 2]),
    ],
)
def test_reads_tensorflow_single_value_fill(tf, value, dtype, shape) -> None:
    theirs = tf.make_tensor_proto(value, dtype=getattr(tf, dtype), shape=shape)
    assert not theirs.tensor_content  # the typed field holds one value for the whole shape
    expected = tf.make_ndarray(theirs)
    actual = to_numpy(reparse(theirs))
    assert_same(actual, expected.astype(object) if dtype == "string" else expected)
    assert actual.shape == tuple(shape)


def test_tensorflow_c_plus_plus_reads_ours(tf) -> None:
    """The C++ decoder (Tensor::FromProto, what TF Serving uses) through tf.io.parse_tensor."""
    for value in [sample(np.float32, (2, 3)), sample(np.float16, (4,)), sample(np.int8, (3,)), strings((2, 2))]:
        for use_tensor_content in (True, False):
            data = from_numpy(value, use_tensor_content=use_tensor_content).SerializeToString()
            dtype = tf.string if value.dtype == object else tf.as_dtype(value.dtype)
            parsed = tf.io.parse_tensor(data, out_type=dtype).numpy()
            assert_same(parsed.astype(object) if value.dtype == object else parsed, value)
