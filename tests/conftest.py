"""Shared fixtures: the example models, built once per test session by the real frameworks.

Set ``MODELSERVE_EXAMPLES_DIR`` to a folder already built by ``modelserve examples build`` to skip the
build (``make test`` does, reusing ``models/`` when it is complete).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/factories.py


EXPECTED = (
    "half_plus_two/00000123",
    "digits/1",
    "digits_onnx/1",
    "digits_tflite/1",
    "digits_keras/1",
    "multiply_five/1",
    "multiply_ten/1",
    "digits_test.npz",
    "digits_png",
)


@pytest.fixture(scope="session")
def examples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prebuilt = os.environ.get("MODELSERVE_EXAMPLES_DIR")
    if prebuilt and all((Path(prebuilt) / item).exists() for item in EXPECTED):
        return Path(prebuilt).absolute()
    from modelserve.examples import build_examples

    out = tmp_path_factory.mktemp("examples")
    build_examples(out, log=lambda *_: None)
    return out


@pytest.fixture(scope="session")
def digits_test(examples_dir: Path):
    import numpy as np

    with np.load(examples_dir / "digits_test.npz") as data:
        return data["images"], data["labels"]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3-compatible server (moto) on 127.0.0.1 for one test module."""
    from moto.server import ThreadedMotoServer

    from servers import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """A boto3 client and a fresh bucket; scanners and server processes read the same credentials from the
    environment."""
    import uuid

    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket
