"""Shared fixtures: the example models, built once per test session by the real frameworks.

Set ``MODELSERVE_EXAMPLES_DIR`` to a folder already built by ``modelserve examples build`` to skip the
build (``make test`` does, reusing ``models/`` when it is complete).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/factories.py

_INTEGRATION = Path(__file__).parent / "integration"
#: Fixtures that bring real framework models, servers or brokers: a test using one is an integration test.
_REAL_FIXTURES = {"examples_dir", "digits_test", "s3_endpoint", "s3"}


_IMPORTS_TENSORFLOW = re.compile(
    r"^\s*(?:import|from)\s+(?:tensorflow|tensorflow_serving)\b|importorskip\(\s*[\"'](?:tensorflow|tensorflow_serving)\b",
    re.MULTILINE,
)


@functools.cache
def _uses_tensorflow(path: str) -> bool:
    """Whether a test module imports TensorFlow (or TF Serving's client, which does) to compare with it."""
    return bool(_IMPORTS_TENSORFLOW.search(Path(path).read_text(encoding="utf-8")))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In the fast loop, do not even import the integration test modules (they import the frameworks)."""
    if config.getoption("markexpr") != "not integration":
        return None
    if collection_path == _INTEGRATION or _INTEGRATION in collection_path.parents:
        return True
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return _uses_tensorflow(str(collection_path)) or None
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``integration`` every test under tests/integration/, every test that uses real models, and every
    test module that compares with TensorFlow itself; the rest is the fast unit loop (``make test-fast``:
    ``pytest -m "not integration"``)."""
    for item in items:
        path = Path(str(item.fspath))
        real = _REAL_FIXTURES & set(getattr(item, "fixturenames", ()))
        if real or _INTEGRATION in path.parents or _uses_tensorflow(str(path)):
            item.add_marker(pytest.mark.integration)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The fast loop must never import TensorFlow: fail it when a unit test did."""
    if session.config.getoption("markexpr") == "not integration" and sys.modules.get("tensorflow") is not None:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nthe fast loop (-m 'not integration') imported tensorflow; mark that test integration")


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
