"""``modelserve serve`` with s3:// and gs:// base paths, against real storage servers on 127.0.0.1.

S3: moto's server, driven with boto3. GCS: gcp-storage-emulator (the JSON API gcsfs speaks), found by the
server through ``STORAGE_EMULATOR_HOST`` as Google's client libraries do.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from servers import free_port, wait_for

PREDICT = '{"signature_name": "predict", "instances": [[1.0], [2.0]]}'


def statuses(server, model: str) -> dict[str, str]:
    body = requests.get(f"{server.url}/v1/models/{model}", timeout=10).json()
    return {s["version"]: s["state"] for s in body.get("model_version_status", [])}


def predict(server, model: str) -> tuple[list, str]:
    response = requests.post(f"{server.url}/v1/models/{model}:predict", data=PREDICT, timeout=30)
    assert response.status_code == 200, response.text
    rounded = np.round(np.array(response.json()["predictions"]), 1).tolist()  # the models are trained: ~5x, ~10x
    return rounded, response.headers["x-model-version"]


def upload(client, bucket: str, local: Path, prefix: str, only: str | None = None) -> None:
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = path.relative_to(local).as_posix()
        if only is None or key == only:
            client.upload_file(str(path), bucket, f"{prefix}/{key}")


def test_s3_versions_arrive_swap_half_uploads_wait_and_deletions_unload(
    s3, s3_endpoint: str, examples_dir: Path, tmp_path: Path, start_server
):
    client, bucket = s3
    upload(client, bucket, examples_dir / "multiply_five/1", "mult/1")
    cache = tmp_path / "cache"
    server = start_server(
        "--model_name=mult",
        f"--model_base_path=s3://{bucket}/mult",
        f"--s3_endpoint={s3_endpoint}",
        f"--remote_cache_dir={cache}",
        "--file_system_poll_wait_seconds=0.2",
        ready_path="/readyz",
    )
    assert predict(server, "mult") == ([[5.0], [10.0]], "1")

    upload(client, bucket, examples_dir / "multiply_ten/1", "mult/2")
    wait_for(lambda: statuses(server, "mult") == {"2": "AVAILABLE", "1": "END"})
    assert predict(server, "mult") == ([[10.0], [20.0]], "2")

    # Half an upload: the graph without its variables. It never serves; version 2 keeps answering.
    upload(client, bucket, examples_dir / "multiply_five/1", "mult/3", only="saved_model.pb")
    wait_for(lambda: "3" in statuses(server, "mult"))
    time.sleep(1.0)  # several polls
    assert statuses(server, "mult")["3"] != "AVAILABLE"
    assert predict(server, "mult") == ([[10.0], [20.0]], "2")
    upload(client, bucket, examples_dir / "multiply_five/1", "mult/3")  # the rest arrives
    wait_for(lambda: statuses(server, "mult").get("3") == "AVAILABLE")
    assert predict(server, "mult") == ([[5.0], [10.0]], "3")

    # Deleting the newest version unloads it; version 2 comes back from the local cache, not from S3.
    client.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [{"Key": o["Key"]} for o in client.list_objects_v2(Bucket=bucket, Prefix="mult/3/")["Contents"]]
        },
    )
    wait_for(lambda: statuses(server, "mult") == {"3": "END", "2": "AVAILABLE", "1": "END"})
    assert predict(server, "mult") == ([[10.0], [20.0]], "2")
    log = server.log()
    assert f"s3://{bucket}/mult/2: using the cached copy {cache}/s3/{bucket}/mult/2-" in log
    cached = sorted(p.name.split("-")[0] for p in (cache / "s3" / bucket / "mult").iterdir())
    assert cached == ["1", "2"], "the deleted version's copy is removed, no temporary folder is left"


@pytest.fixture
def gcs_endpoint(monkeypatch: pytest.MonkeyPatch):
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="gcs-models")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_config_file_mixes_s3_gs_and_a_bad_bucket(
    s3, gcs_endpoint: str, s3_endpoint: str, examples_dir: Path, digits_test, tmp_path: Path, start_server
):
    """(``start_server`` last: the server stops before the storage servers it polls.)"""
    from gcsfs.core import GCSFileSystem

    client, bucket = s3
    upload(client, bucket, examples_dir / "digits_onnx/1", "digits/1")
    GCSFileSystem(endpoint_url=gcs_endpoint, token="anon").put(
        str(examples_dir / "digits_onnx/1"), "gcs-models/digits/1", recursive=True
    )
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list {\n"
        f'  config {{ name: "from_s3" base_path: "s3://{bucket}/digits" model_platform: "onnx" }}\n'
        '  config { name: "from_gs" base_path: "gs://gcs-models/digits" model_platform: "onnx" }\n'
        '  config { name: "bad" base_path: "s3://no-such-bucket-zz/digits" }\n'
        f'  config {{ name: "local" base_path: "{examples_dir / "digits_onnx"}" }}\n'
        "}\n"
    )
    server = start_server(
        f"--model_config_file={config}",
        f"--s3_endpoint={s3_endpoint}",
        f"--remote_cache_dir={tmp_path / 'cache'}",
        "--file_system_poll_wait_seconds=0.2",
    )
    images, _labels = digits_test
    body = json.dumps({"instances": images[:8].tolist()})
    answers = {}
    for model in ("from_s3", "from_gs", "local"):
        response = requests.post(f"{server.url}/v1/models/{model}:predict", data=body, timeout=30)
        assert response.status_code == 200, response.text
        answers[model] = np.array(response.json()["predictions"])
    np.testing.assert_array_equal(answers["from_s3"], answers["local"])
    np.testing.assert_array_equal(answers["from_gs"], answers["local"])

    bad = requests.get(f"{server.url}/v1/models/bad", timeout=10)
    assert bad.status_code == 404
    assert "Could not find any versions of model bad" in bad.json()["error"]
    message = "s3://no-such-bucket-zz/digits: no such bucket or object (The specified bucket does not exist)"
    assert message in server.log()
    assert message in bad.json()["error"]  # the reason is in the status answer too
