"""Pin the public surface so changes to it are deliberate."""

import modelserve


def test_public_names():
    assert sorted(modelserve.__all__) == sorted(
        [
            "Code",
            "FailedPrecondition",
            "InvalidArgument",
            "Model",
            "ModelLoadError",
            "NotFound",
            "RuntimeOptions",
            "ServingError",
            "Signature",
            "TensorSpec",
            "Unavailable",
            "Unimplemented",
            "__version__",
            "load_model",
        ]
    )
    for name in modelserve.__all__:
        assert hasattr(modelserve, name)
