"""Releases on a real server: config file reloads, labels, weighted and sticky traffic, shadow calls.

The model ``mult`` has version 1 (x -> 5x, from ``multiply_five``) and version 2 (x -> 10x, from
``multiply_ten``), so every answer shows which version computed it, besides the ``X-Model-Version`` header.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from servers import wait_for

PREDICT = "/v1/models/mult:predict"
ONE = {"signature_name": "predict", "instances": [[1.0]]}
ANSWER = {5: 1, 10: 2}  # the multiply models are trained: 5.0005 and 10.0019


def config_text(repo: Path, labels: dict[str, int], policy: str = "all {}", extra_models: str = "") -> str:
    label_lines = "".join(f'    version_labels {{ key: "{k}" value: {v} }}\n' for k, v in labels.items())
    return (
        "model_config_list {\n"
        "  config {\n"
        f'    name: "mult"\n    base_path: "{repo / "mult"}"\n    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ {policy} }}\n"
        f"{label_lines}"
        "  }\n"
        f"{extra_models}"
        "}\n"
    )


@pytest.fixture
def repo(examples_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(examples_dir / "multiply_five/1", root / "mult/1")
    shutil.copytree(examples_dir / "multiply_ten/1", root / "mult/2")
    shutil.copytree(examples_dir / "half_plus_two", root / "half_plus_two")
    return root


def predict(server, headers: dict[str, str] | None = None, path: str = PREDICT) -> tuple[int, int]:
    """(version from the header, version from the answer)."""
    response = requests.post(server.url + path, json=ONE, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return int(response.headers["x-model-version"]), ANSWER[round(response.json()["predictions"][0][0])]


def admin(server, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{server.url}/admin{path}", timeout=60, **kwargs)


def test_weighted_routes_sticky_keys_and_shadow_comparisons(start_server, repo: Path, tmp_path: Path):
    config = tmp_path / "models.config"
    config.write_text(config_text(repo, {"stable": 1, "canary": 2}))
    traffic = tmp_path / "traffic.yaml"
    traffic.write_text("models:\n  mult:\n    routes: {stable: 90, canary: 10}\n    seed: 1234\n")
    server = start_server(f"--model_config_file={config}", f"--traffic_config_file={traffic}", ready_path="/readyz")

    # Weighted: 1000 requests with no version or label, a fixed seed; version 2 should get ~10%.
    seen = [predict(server) for _ in range(1000)]
    assert all(header == answer for header, answer in seen)  # the header names the version that answered
    canary_share = sum(v == 2 for v, _ in seen) / len(seen)
    assert 0.06 < canary_share < 0.14, canary_share  # Binomial(1000, 0.1): sd 0.0095, 4 sd either side

    # Explicit versions and labels are never re-routed.
    assert predict(server, path="/v1/models/mult/versions/2:predict") == (2, 2)
    assert {predict(server, path="/v1/models/mult/labels/stable:predict")[0] for _ in range(30)} == {1}

    # Sticky: the same key always reaches the same version, over REST and gRPC alike.
    picks = {f"user-{i}": predict(server, {"X-Routing-Key": f"user-{i}"})[0] for i in range(60)}
    for key, version in list(picks.items())[:20]:
        assert predict(server, {"X-Routing-Key": key})[0] == version
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "mult"
        request.model_spec.signature_name = "predict"
        request.inputs["x"].CopyFrom(_tensor([[1.0]]))
        for key, version in list(picks.items())[:10]:
            reply = stub.Predict(request, metadata=[("x-routing-key", key)], timeout=30)
            assert reply.model_spec.version.value == version

    # Admin view: counts per route and version.
    report = admin(server, "GET", "/traffic").json()["models"]["mult"]
    routed = {(r["route"], r["version"]): r["requests"] for r in report["routed"]}
    assert sum(routed.values()) == 1000 + 60 + 20 + 10
    assert set(routed) == {("stable", 1), ("canary", 2)}
    assert [r["version"] for r in report["routes"]] == [1, 2]

    # Shadow: mirror every routed request to version 2 while version 1 serves all of them.
    body = {"models": {"mult": {"routes": {"stable": 100}, "shadow": {"target": "canary", "fraction": 1.0}}}}
    assert admin(server, "PUT", "/traffic", json=body).status_code == 200
    assert all(predict(server) == (1, 1) for _ in range(50))  # the shadow's answer is never returned

    def shadow_stats() -> dict:
        return admin(server, "GET", "/traffic").json()["models"]["mult"]["shadow"].get("2", {})

    wait_for(lambda: shadow_stats().get("calls") == 50, timeout=30)
    stats = shadow_stats()
    assert (stats["mismatches"], stats["matches"], stats["errors"]) == (50, 0, 0)  # 10x vs 5x
    assert stats["max_abs_diff"] == pytest.approx(5.0, abs=0.05)
    assert stats["mean_shadow_ms"] > 0 and stats["mean_served_ms"] > 0
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert 'modelserve_shadow_requests_total{model="mult",outcome="mismatch",version="2"} 50.0' in metrics
    assert 'modelserve_routed_requests_total{model="mult",route="stable",version="1"}' in metrics


def _tensor(value):
    import tensorflow as tf

    return tf.make_tensor_proto(value, dtype=tf.float32)


def test_labels_follow_tf_serving_rules_and_reloads(start_server, repo: Path, tmp_path: Path):
    config = tmp_path / "models.config"
    config.write_text(config_text(repo, {"stable": 1}, policy="specific { versions: 1 }"))
    server = start_server(f"--model_config_file={config}", ready_path="/readyz")
    assert predict(server, path="/v1/models/mult/labels/stable:predict") == (1, 1)

    # A label on a version that is not loaded is refused with TF Serving's code and message; labels stay.
    config.write_text(config_text(repo, {"stable": 1, "canary": 3}, policy="specific { versions: 1 }"))
    refused = admin(server, "POST", "/reload")
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "Request to assign label to version 3 of model mult, which is not currently available for inference"
    }
    assert admin(server, "GET", "/config").json()["last_reload"]["code"] == "FAILED_PRECONDITION"
    assert predict(server, path="/v1/models/mult/labels/stable:predict") == (1, 1)

    # Load version 2 and label it in the same reload (the label is applied after the load).
    config.write_text(config_text(repo, {"stable": 1, "canary": 2}, policy="all {}"))
    assert admin(server, "POST", "/reload").json() == {"reloaded": {"model_config_file": str(config)}}
    assert predict(server, path="/v1/models/mult/labels/canary:predict") == (2, 2)

    # Move stable to 2 (promote), then back (roll back).
    config.write_text(config_text(repo, {"stable": 2, "canary": 2}))
    assert admin(server, "POST", "/reload").status_code == 200
    assert predict(server, path="/v1/models/mult/labels/stable:predict") == (2, 2)
    config.write_text(config_text(repo, {"stable": 1, "canary": 2}))
    assert admin(server, "POST", "/reload").status_code == 200
    assert predict(server, path="/v1/models/mult/labels/stable:predict") == (1, 1)

    # A syntax error names the file and line and changes nothing.
    config.write_text(config_text(repo, {"stable": 2}).replace("base_path", "base_pat"))
    bad = admin(server, "POST", "/reload")
    assert bad.status_code == 400 and "models.config:4" in bad.json()["error"], bad.text
    assert predict(server, path="/v1/models/mult/labels/stable:predict") == (1, 1)


def test_labels_for_unavailable_versions_when_allowed(start_server, repo: Path, tmp_path: Path):
    config = tmp_path / "models.config"
    # At start-up, a new label may point at version 3, which does not exist (yet).
    config.write_text(config_text(repo, {"stable": 1, "next": 3}))
    server = start_server(
        f"--model_config_file={config}", "--allow_version_labels_for_unavailable_models", ready_path="/readyz"
    )
    missing = requests.post(f"{server.url}/v1/models/mult/labels/next:predict", json=ONE, timeout=30)
    assert missing.status_code == 404
    assert missing.json()["error"] == "Servable not found for request: Specific(mult, 3)"
    # Version 3 arrives; the label answers once it is loaded.
    shutil.copytree(repo / "mult/2", repo / "mult/3")
    wait_for(lambda: requests.post(f"{server.url}/v1/models/mult/labels/next:predict", json=ONE).status_code == 200)
    # Moving an existing label onto a version that is not available is still refused.
    config.write_text(config_text(repo, {"stable": 7, "next": 3}))
    refused = admin(server, "POST", "/reload")
    assert refused.status_code == 400 and "version 7 of model mult" in refused.json()["error"]


def test_start_up_refuses_a_label_on_a_missing_version(tmp_path: Path, repo: Path):
    import subprocess
    import sys

    config = tmp_path / "models.config"
    config.write_text(config_text(repo, {"stable": 9}))
    done = subprocess.run(
        [sys.executable, "-m", "modelserve.cli", "serve", f"--model_config_file={config}", "--rest_api_port=0",
         "--port=0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Request to assign label to version 9 of model mult" in done.stderr


def test_config_file_poll_adds_and_removes_models_and_keeps_the_old_config_on_errors(
    start_server, repo: Path, tmp_path: Path
):
    config = tmp_path / "models.config"
    config.write_text(config_text(repo, {}))
    server = start_server(
        f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=0.3", ready_path="/readyz"
    )
    half = f'  config {{ name: "half_plus_two" base_path: "{repo / "half_plus_two"}" model_platform: "tensorflow" }}\n'
    config.write_text(config_text(repo, {}, extra_models=half))
    wait_for(lambda: requests.get(f"{server.url}/v1/models/half_plus_two", timeout=5).status_code == 200)
    # A broken file: logged, reported, and the models keep serving.
    config.write_text("model_config_list { config { name: ")
    wait_for(lambda: (admin(server, "GET", "/config").json()["last_reload"] or {}).get("ok") is False)
    last = admin(server, "GET", "/config").json()["last_reload"]
    assert "models.config:1" in last["error"]
    assert requests.get(f"{server.url}/v1/models/half_plus_two", timeout=5).status_code == 200
    # Removing a model from the file unloads it.
    config.write_text(config_text(repo, {}))
    wait_for(lambda: requests.get(f"{server.url}/v1/models/half_plus_two", timeout=5).status_code == 404)
    assert predict(server)[0] in (1, 2)


def test_admin_token(start_server, repo: Path, tmp_path: Path):
    config = tmp_path / "models.config"
    config.write_text(config_text(repo, {}))
    server = start_server(f"--model_config_file={config}", "--admin_token=s3cret")
    assert admin(server, "GET", "/config").status_code == 401
    wrong = admin(server, "POST", "/reload", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "--admin_token" in wrong.json()["error"]
    ok = admin(server, "POST", "/reload", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert admin(server, "GET", "/nothing", headers={"Authorization": "Bearer s3cret"}).status_code == 404
    assert admin(server, "DELETE", "/traffic", headers={"Authorization": "Bearer s3cret"}).status_code == 501


def test_a_client_sees_no_failures_while_versions_labels_and_traffic_change(start_server, repo: Path, tmp_path: Path):
    config = tmp_path / "models.config"
    config.write_text(config_text(repo, {"stable": 1}, policy="specific { versions: 1 }"))
    traffic = tmp_path / "traffic.json"
    traffic.write_text(json.dumps({"models": {"mult": {"routes": {"stable": 1}}}}))
    server = start_server(
        f"--model_config_file={config}",
        f"--traffic_config_file={traffic}",
        "--file_system_poll_wait_seconds=0.2",
        ready_path="/readyz",
    )
    stop = threading.Event()
    outcomes: Counter = Counter()

    def client(path: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(server.url + path, json=ONE, timeout=30)
                outcomes[response.status_code] += 1
                if response.status_code != 200:
                    outcomes[response.text] += 1

    threads = [threading.Thread(target=client, args=(p,)) for p in (PREDICT, "/v1/models/mult/labels/stable:predict")]
    for thread in threads:
        thread.start()
    try:
        steps = [
            (config_text(repo, {"stable": 1, "canary": 2}, policy="all {}"), None),
            (None, {"stable": 50, "canary": 50}),
            (config_text(repo, {"stable": 2, "canary": 2}), {"stable": 1}),
            (config_text(repo, {"stable": 2}, policy="latest { num_versions: 1 }"), {"stable": 1}),
        ]
        for model_config, routes in steps:
            if model_config is not None:
                config.write_text(model_config)
            if routes is not None:
                traffic.write_text(json.dumps({"models": {"mult": {"routes": routes}}}))
            assert admin(server, "POST", "/reload").status_code == 200
            time.sleep(0.5)
        shutil.copytree(repo / "mult/2", repo / "mult/3")  # a new version arrives under a moving policy
        wait_for(lambda: "3" in str(requests.get(f"{server.url}/v1/models/mult", timeout=5).json()))
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert outcomes[200] > 100
    assert set(outcomes) == {200}, outcomes
