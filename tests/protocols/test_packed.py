"""pb.packed_numbers: packed float fields read from the wire bytes, with a fallback for anything else."""

from __future__ import annotations

import numpy as np

from modelserve.protocols import pb

TensorProto = pb.message_class("tensorflow.TensorProto")


def test_packed_floats_and_doubles_equal_the_container():
    proto = TensorProto(dtype=1, float_val=[1.5, -2.25, 3e-8], double_val=[1e300])
    proto.tensor_shape.dim.add(size=3)
    floats = pb.packed_numbers(proto, "float_val", "<f4")
    np.testing.assert_array_equal(floats, np.array(proto.float_val, np.float32))
    np.testing.assert_array_equal(pb.packed_numbers(proto, "double_val", "<f8"), [1e300])
    assert pb.packed_numbers(TensorProto(dtype=1), "float_val", "<f4").size == 0


def test_values_sent_unpacked_are_read_too():
    # float_val (field 5) written unpacked: one fixed32 per value, which proto3 parsers also accept.
    unpacked = TensorProto.FromString(b"\x08\x01" + b"".join(b"\x2d" + np.float32(v).tobytes() for v in (1, 2)))
    assert list(unpacked.float_val) == [1.0, 2.0]
    serialized_again = unpacked.SerializeToString()  # upb writes packed: the fast path applies again
    assert pb.packed_numbers(TensorProto.FromString(serialized_again), "float_val", "<f4").tolist() == [1.0, 2.0]
