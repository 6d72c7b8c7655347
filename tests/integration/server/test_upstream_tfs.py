"""TensorFlow Serving's own expectations, replayed case by case on its own testdata models.

The models and golden files are read from ``../shared/upstream/tfs-testdata`` (TF Serving's
``servables/tensorflow/testdata``, never copied here). Test names follow the upstream cases:
``test_py_*`` from ``model_servers/tensorflow_model_server_test.py``, ``test_cc_*`` from
``http_rest_api_handler_test.cc`` (served here over real HTTP). Skipped upstream cases and why are listed
in docs/serving.md ("TF Serving's own tests").
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import grpc
import pytest
import requests
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from servers import MODELSERVE, ServerProcess

TESTDATA = Path(__file__).resolve().parents[4] / "shared" / "upstream" / "tfs-testdata"
pytestmark = pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"TF Serving's testdata not found at {TESTDATA}")
M = "saved_model_half_plus_two_2_versions"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One server per upstream serving set-up, started on first use, all stopped at the end."""
    started: dict[str, ServerProcess] = {}
    logs = tmp_path_factory.mktemp("upstream")

    def server(key: str, *args: str) -> ServerProcess:
        if key not in started:
            process = ServerProcess(*args, "--file_system_poll_wait_seconds=0", log_path=logs / f"{key}.log")
            started[key] = process
            process.wait_ready(path="/readyz")
        return started[key]

    yield server
    for process in started.values():
        process.stop()


@pytest.fixture(scope="module")
def socket_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("uds") / "tf-serving.sock"


#: The flags upstream's ``RunServer`` gives every server, besides the ports and the model.
HARNESS_FLAGS = ("--rest_api_timeout_in_ms=5000", "--grpc_channel_arguments=grpc.so_reuseaddr=1")


@pytest.fixture
def server_a(servers, socket_path):
    """Upstream's usual server: ``--model_name=default --model_base_path=saved_model_half_plus_two_cpu``, with
    the harness's own flags (a Unix socket for gRPC too)."""
    return servers(
        "a", "--model_name=default", f"--model_base_path={TESTDATA / 'saved_model_half_plus_two_cpu'}",
        *HARNESS_FLAGS, f"--grpc_socket_path={socket_path}",
    )  # fmt: skip


@pytest.fixture
def server_tf2(servers):
    return servers("tf2", "--model_name=default", f"--model_base_path={TESTDATA / 'saved_model_half_plus_two_tf2_cpu'}")


@pytest.fixture
def server_m(servers, tmp_path_factory):
    """The C++ handler test's set-up: only version 123 of M, labelled ``Version_Label``."""
    config = tmp_path_factory.mktemp("m") / "m.config"
    config.write_text(
        f'model_config_list: {{ config: {{ name: "{M}", base_path: "{TESTDATA / M}", model_platform: "tensorflow",'
        " model_version_policy: { specific: { versions: 123 } },"
        ' version_labels: { key: "Version_Label" value: 123 } } }'
    )
    return servers("m", f"--model_config_file={config}", "--allow_version_labels_for_unavailable_models")


def _stubs(server: ServerProcess):
    channel = grpc.insecure_channel(server.grpc_target)
    return prediction_service_pb2_grpc.PredictionServiceStub(channel), channel


def _verify_predict(
    server, expected, model="default", specify_output=True, batch_input=False, signature="", target=None
):
    """Upstream's ``VerifyPredictRequest``: x = [2.0] (or [[2.0]]), the answer in ``float_val``."""
    channel = grpc.insecure_channel(target or server.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    with channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature or "serving_default"
        request.inputs["x"].dtype = 1
        request.inputs["x"].float_val.append(2.0)
        request.inputs["x"].tensor_shape.dim.add(size=1)
        if batch_input:
            request.inputs["x"].tensor_shape.dim.add(size=1)
        if specify_output:
            request.output_filter.append("y")
        response = stub.Predict(request, 5.0)
    assert "y" in response.outputs
    assert response.outputs["y"].dtype == 1
    assert list(response.outputs["y"].float_val) == [expected]
    assert response.model_spec.name == model
    assert response.model_spec.signature_name == (signature or "serving_default")
    assert response.model_spec.version.value == 123


def _example_input(request) -> None:
    example = request.input.example_list.examples.add()
    example.features.feature["x"].float_list.value.extend([2.0])


# ------------------------------------------------------------------ tensorflow_model_server_test.py


def test_py_get_model_status(server_a):
    with grpc.insecure_channel(server_a.grpc_target) as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "default"
        response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, 20.0)
    assert len(response.model_version_status) == 1
    assert response.model_version_status[0].version == 123
    assert response.model_version_status[0].status.error_code == 0


def test_py_get_model_metadata(server_a):
    stub, channel = _stubs(server_a)
    with channel:
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = "default"
        request.metadata_field.append("signature_def")
        response = stub.GetModelMetadata(request, 5.0)
    assert response.model_spec.name == "default" and response.model_spec.version.value == 123
    assert list(response.metadata) == ["signature_def"]


@pytest.mark.parametrize("model", ["server_a", "server_tf2"], ids=["classify", "classify_tf2"])
def test_py_classify(model, request):
    stub, channel = _stubs(request.getfixturevalue(model))
    with channel:
        message = classification_pb2.ClassificationRequest()
        message.model_spec.name = "default"
        message.model_spec.signature_name = "classify_x_to_y"
        _example_input(message)
        response = stub.Classify(message, 5.0)
    assert len(response.result.classifications) == 1
    assert len(response.result.classifications[0].classes) == 1
    assert response.result.classifications[0].classes[0].score == 3.0
    assert (response.model_spec.name, response.model_spec.signature_name) == ("default", "classify_x_to_y")
    assert response.model_spec.version.value == 123


@pytest.mark.parametrize("model", ["server_a", "server_tf2"], ids=["regress", "regress_tf2"])
def test_py_regress(model, request):
    stub, channel = _stubs(request.getfixturevalue(model))
    with channel:
        message = regression_pb2.RegressionRequest()
        message.model_spec.name = "default"
        message.model_spec.signature_name = "regress_x_to_y"
        _example_input(message)
        response = stub.Regress(message, 5.0)
    assert [r.value for r in response.result.regressions] == [3.0]
    assert (response.model_spec.signature_name, response.model_spec.version.value) == ("regress_x_to_y", 123)


@pytest.mark.parametrize("model", ["server_a", "server_tf2"], ids=["multi_inference", "multi_inference_tf2"])
def test_py_multi_inference(model, request):
    stub, channel = _stubs(request.getfixturevalue(model))
    with channel:
        message = inference_pb2.MultiInferenceRequest()
        for signature, method in (("regress_x_to_y", "regress"), ("classify_x_to_y", "classify")):
            task = message.tasks.add()
            task.model_spec.name = "default"
            task.model_spec.signature_name = signature
            task.method_name = f"tensorflow/serving/{method}"
        _example_input(message)
        response = stub.MultiInference(message, 5.0)
    assert len(response.results) == 2
    assert response.results[0].regression_result.regressions[0].value == 3.0
    assert response.results[1].classification_result.classifications[0].classes[0].score == 3.0
    for result, signature in zip(response.results, ("regress_x_to_y", "classify_x_to_y")):
        assert (result.model_spec.name, result.model_spec.signature_name) == ("default", signature)
        assert result.model_spec.version.value == 123


def test_method_name_check_when_asked(servers):
    """``--enable_signature_method_name_check`` (no upstream test uses it): TF Serving's refusal."""
    server = servers(
        "tf2_checked",
        "--model_name=default",
        f"--model_base_path={TESTDATA / 'saved_model_half_plus_two_tf2_cpu'}",
        "--enable_signature_method_name_check",
    )
    response = requests.post(
        f"{server.url}/v1/models/default:classify",
        json={"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Expected classification signature method_name to be tensorflow/serving/classify. "
        "Was: tensorflow/serving/predict"
    )


def test_py_predict_saved_model(server_a):
    _verify_predict(server_a, 3.0, specify_output=True)
    _verify_predict(server_a, 3.0, specify_output=False)


def test_py_good_model_config(servers, tmp_path):
    template = (TESTDATA / "good_model_config.txt").read_text()
    config = tmp_path / "good_model_config.conf"
    config.write_text(
        template.replace("${TEST_HALF_PLUS_TWO_DIR}", str(TESTDATA / "saved_model_half_plus_two_cpu")).replace(
            "${TEST_HALF_PLUS_THREE_DIR}", str(TESTDATA / "saved_model_half_plus_three")
        )
    )
    server = servers("good_config", f"--model_config_file={config}")
    for model, expected in (("half_plus_two", 3.0), ("half_plus_three", 4.0)):
        _verify_predict(server, expected, model=model, specify_output=True)
        _verify_predict(server, expected, model=model, specify_output=False)


def test_py_bad_model_config():
    """The process exits, and its output names TF Serving's parse error."""
    run = subprocess.run(
        [
            MODELSERVE,
            "serve",
            "--host=127.0.0.1",
            "--port=0",
            f"--model_config_file={TESTDATA / 'bad_model_config.txt'}",
        ],
        capture_output=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert b"Error parsing text-format tensorflow.serving.ModelServerConfig" in run.stderr


def test_py_predict_uds(server_a, socket_path):
    _verify_predict(server_a, 3.0, specify_output=False, target=f"unix:{socket_path}")


def test_py_good_grpc_channel_args(servers):
    server = servers(
        "channel_args", "--model_name=default", f"--model_base_path={TESTDATA / 'saved_model_half_plus_two_cpu'}",
        "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb,grpc.so_reuseaddr=1",
    )  # fmt: skip
    _verify_predict(server, 3.0, specify_output=False)


def test_py_classify_rest(server_a):
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    response = requests.post(f"{server_a.url}/v1/models/default:classify", json=body, timeout=10)
    assert response.json() == {"results": [[["", 3.0]]]}


def test_py_regress_rest(server_a):
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}
    response = requests.post(f"{server_a.url}/v1/models/default:regress", json=body, timeout=10)
    assert response.json() == {"results": [3.0]}


def test_py_predict_rest(server_a):
    response = requests.post(f"{server_a.url}/v1/models/default:predict", json={"instances": [2.0, 3.0, 4.0]})
    assert response.json() == {"predictions": [3.0, 3.5, 4.0]}


def test_py_predict_columnar_rest(server_a):
    response = requests.post(f"{server_a.url}/v1/models/default:predict", json={"inputs": [2.0, 3.0, 4.0]})
    assert response.json() == {"outputs": [3.0, 3.5, 4.0]}


def test_py_get_status_rest(server_a):
    assert requests.get(f"{server_a.url}/v1/models/default", timeout=10).json() == {
        "model_version_status": [
            {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def _sorted_object(value):
    """Upstream's ``SortedObject``: key order and list order ignored."""
    if isinstance(value, dict):
        return sorted((key, _sorted_object(item)) for key, item in value.items())
    if isinstance(value, list):
        return sorted(_sorted_object(item) for item in value)
    return value


def test_py_get_model_metadata_rest(server_a):
    response = requests.get(f"{server_a.url}/v1/models/default/metadata", timeout=10).json()
    golden = json.loads((TESTDATA / "half_plus_two_model_metadata.json").read_text())
    assert _sorted_object(response) == _sorted_object(golden)


def test_py_prometheus_endpoint(servers):
    server = servers(
        "monitoring",
        "--model_name=default",
        f"--model_base_path={TESTDATA / 'saved_model_half_plus_two_cpu'}",
        f"--monitoring_config_file={TESTDATA / 'monitoring_config.txt'}",
    )
    assert "# TYPE" in requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=10).text


@pytest.mark.parametrize("folder", ["saved_model_half_plus_two_tflite", "saved_model_half_plus_two_tflite_with_sigdef"])
def test_py_predict_on_tflite(servers, folder):
    """x of shape [1] into the [1, 1] TFLite tensor (resized); the second file names it by its SignatureDef."""
    server = servers(
        folder, "--model_name=default", f"--model_base_path={TESTDATA / folder}", "--prefer_tflite_model=true",
        *HARNESS_FLAGS,
    )  # fmt: skip
    _verify_predict(server, 3.0, specify_output=False)


def test_py_tf_saved_model_save(servers, tmp_path):
    import tensorflow as tf

    root = tf.train.Checkpoint()
    root.v1, root.v2 = tf.Variable(3.0), tf.Variable(2.0)
    root.f = tf.function(lambda x: {"y": root.v1 * root.v2 * x})
    tf.saved_model.save(root, str(tmp_path / "00000123"), root.f.get_concrete_function(tf.TensorSpec(None, tf.float32)))
    server = servers("saved_model_save", "--model_name=default", f"--model_base_path={tmp_path}")
    _verify_predict(server, 12.0, specify_output=False)


def test_py_tf_saved_model_save_multiple_signatures(servers, tmp_path):
    """An unknown-rank DT_FLOAT input takes a float (not read as strings); a scalar output stays a float."""
    import tensorflow as tf

    module = tf.Module()
    spec = [tf.TensorSpec(None, tf.float32)]
    module.f = tf.function(lambda x: {"y": 1.0}, input_signature=spec)
    module.g = tf.function(lambda x: {"y": 2.0}, input_signature=spec)
    tf.saved_model.save(
        module, str(tmp_path / "00000123"), signatures={"serving_default": module.f, "custom_signature_key": module.g}
    )
    server = servers("multiple_signatures", "--model_name=default", f"--model_base_path={tmp_path}")
    _verify_predict(server, 2.0, signature="custom_signature_key")
    _verify_predict(server, 1.0)


# --------------------------------------------------------------------- http_rest_api_handler_test.cc


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v1/foo", "Malformed request"),
        ("POST", "/v1/foo", "Malformed request"),
        ("GET", "/v1/models", None),  # our addition: the model list (TF Serving answers "Missing model name")
        ("GET", "/v1/models/debug/model_name", "Malformed request"),
        ("POST", "/v1/models", "Malformed request"),
        ("GET", "/v1/models/foo:predict", "Malformed request"),
        ("GET", "/v1/models/foo/version/50:predict", "Malformed request"),
        ("POST", "/v1/models/foo/version/50:regress", "Malformed request"),
        ("POST", "/v1/models/foo/versions/HELLO:regress", "Malformed request"),
        ("POST", "/v1/models/foo/versions/18446744073709551615:regress", "Failed to convert version"),
        ("POST", "/v1/models/foo/metadata", "Malformed request"),
        ("POST", "/v1/models/foo/label/some_label:regress", "Malformed request"),
        ("POST", "/v1/models/foo/versions/50/labels/some_label:regress", "Malformed request"),
        ("POST", "/v1/models/foo/versions/some_label:regress", "Malformed request"),
    ],
)
def test_cc_unsupported_api_calls(server_m, method, path, message):
    response = requests.request(method, server_m.url + path, timeout=10)
    if message is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v1/models/foo:predict", "Servable not found for request: Latest(foo)"),
        ("/v1/models/foo/versions/50:predict", "Servable not found for request: Specific(foo, 50)"),
        (f"/v1/models/{M}99:predict", f"Servable not found for request: Latest({M}99)"),
    ],
)
def test_cc_predict_model_name_version_errors(server_m, path, message):
    response = requests.post(server_m.url + path, data=b'{ "instances": [1] }', timeout=10)
    assert response.status_code == 404
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (f"/v1/models/{M}:predict", b"", "JSON Parse error: The document is empty"),
        (f"/v1/models/{M}:predict", b"instances = [1, 2]", "JSON Parse error: Invalid value"),
        (f"/v1/models/{M}:predict", b'{ "instances": ["x", "y"] }', "not of expected type: float"),
        (
            f"/v1/models/{M}/labels/Version_Nonexistent:predict",
            b'{ "instances": ["x", "y"] }',
            "Unrecognized servable version label",
        ),
        (f"/v1/models/{M}:predict", b'{ "signature_name": 100 }', "'signature_name' key must be a string value."),
    ],
)
def test_cc_predict_request_errors(server_m, path, body, message):
    response = requests.post(server_m.url + path, data=body, timeout=10)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (f"/v1/models/{M}:predict", {"instances": [[1.0, 2.0], [3.0, 4.0]]}, {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
        (f"/v1/models/{M}/versions/123:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
        (f"/v1/models/{M}/labels/Version_Label:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
        (
            f"/v1/models/{M}/versions/123:predict",
            {"signature_name": "serving_default", "instances": [3.0, 4.0]},
            {"predictions": [3.5, 4.0]},
        ),
        (
            f"/v1/models/{M}/versions/123:predict",
            {"signature_name": "serving_default", "inputs": [3.0, 4.0]},
            {"outputs": [3.5, 4.0]},
        ),
    ],
)
def test_cc_predict(server_m, path, body, expected):
    response = requests.post(server_m.url + path, json=body, timeout=10)
    assert response.json() == expected
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "path", [f"/v1/models/{M}", f"/v1/models/{M}/versions/123", f"/v1/models/{M}/labels/Version_Label"]
)
def test_cc_regress_classify_and_status(server_m, path):
    base = path.replace("/v1/models/", "")
    regress = {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}
    assert requests.post(f"{server_m.url}/v1/models/{base}:regress", json=regress, timeout=10).json() == {
        "results": [42]
    }
    classify = {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]}
    assert requests.post(f"{server_m.url}/v1/models/{base}:classify", json=classify, timeout=10).json() == {
        "results": [[["", 12]]]
    }
    assert requests.get(server_m.url + path, timeout=10).json() == {
        "model_version_status": [
            {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def test_cc_get_model_metadata(server_m):
    response = requests.get(f"{server_m.url}/v1/models/{M}/metadata", timeout=10).json()
    assert response == json.loads((TESTDATA / "saved_model_half_plus_two_2_versions_metadata.json").read_text())


# ------------------------------------------------------------------------- the rest of the testdata


def test_saved_model_counter_keeps_its_state(servers):
    """``saved_model_counter`` (TF1, reference variables read as DT_FLOAT_REF): signatures without inputs that
    change a variable; Predict with no inputs calls them, in order."""
    server = servers("counter", "--model_name=counter", f"--model_base_path={TESTDATA / 'saved_model_counter'}")
    stub, channel = _stubs(server)

    def call(signature: str, **inputs: float) -> float:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "counter"
        request.model_spec.signature_name = signature
        for name, value in inputs.items():
            request.inputs[name].dtype = 1
            request.inputs[name].float_val.append(value)
        return stub.Predict(request, 10.0).outputs["output"].float_val[0]

    with channel:
        assert call("reset_counter") == 0.0
        assert [call("incr_counter"), call("incr_counter"), call("get_counter")] == [1.0, 2.0, 2.0]
        assert call("incr_counter_by", delta=3.0) == 5.0
        assert call("reset_counter") == 0.0


def test_bad_half_plus_two_fails_to_load_and_says_why(servers, tmp_path):
    """A SessionBundle export (not a SavedModel): the version fails to load, the server and the other model
    keep serving, and the status names the failure."""
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "bad" base_path: "{TESTDATA / "bad_half_plus_two"}" '
        'model_platform: "tensorflow" } '
        f'config {{ name: "good" base_path: "{TESTDATA / "saved_model_half_plus_two_cpu"}" '
        'model_platform: "tensorflow" } }'
    )
    process = ServerProcess(
        f"--model_config_file={config}", "--file_system_poll_wait_seconds=0", log_path=tmp_path / "s.log"
    )
    try:
        process.wait_ready(path="/healthz")
        _wait_loaded(process, "good")
        _verify_predict(process, 3.0, model="good")
        status = requests.get(f"{process.url}/v1/models/bad", timeout=10).json()["model_version_status"][0]
        assert status["version"] == "123" and status["state"] == "END"
        assert status["status"]["error_code"] != "OK" and status["status"]["error_message"]
        response = requests.post(f"{process.url}/v1/models/bad:predict", json={"instances": [1.0]}, timeout=10)
        assert response.status_code in (404, 503) and "bad" in response.json()["error"]
    finally:
        process.stop()


def _wait_loaded(process: ServerProcess, model: str) -> None:
    from servers import wait_for

    wait_for(lambda: requests.get(f"{process.url}/v1/models/{model}", timeout=5).status_code == 200, 90)
