"""TF Serving's REST API against the real server process (reference: tf-serving.md §1 and §9)."""

from __future__ import annotations

import base64
import csv
import gzip
import json
from pathlib import Path

import pytest
import requests

HPT = "/v1/models/half_plus_two"


def post(server, path: str, body, **kw) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(server.url + path, data=data, timeout=30, **kw)


def error_of(response: requests.Response) -> str:
    assert response.headers["content-type"] == "application/json"
    return response.json()["error"]


# ---- URLs ----


def test_status_of_all_versions(examples_server):
    response = requests.get(examples_server.url + HPT, timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "model_version_status": [
            {"version": "124", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def test_status_of_one_version_and_unknowns(examples_server):
    ok = requests.get(examples_server.url + HPT + "/versions/124", timeout=10)
    assert ok.json()["model_version_status"][0]["version"] == "124"
    missing = requests.get(examples_server.url + HPT + "/versions/99", timeout=10)
    assert missing.status_code == 404
    assert error_of(missing) == "Could not find version 99 of model half_plus_two"
    unknown = requests.get(examples_server.url + "/v1/models/nope", timeout=10)
    assert unknown.status_code == 404
    assert error_of(unknown) == "Could not find any versions of model nope"


def test_urls_are_case_insensitive_and_names_percent_decoded(examples_server):
    assert requests.get(examples_server.url + "/V1/MODELS/half_plus_two", timeout=10).status_code == 200
    assert requests.get(examples_server.url + "/v1/models/half%5Fplus%5Ftwo", timeout=10).status_code == 200
    response = post(examples_server, "/v1/models/half_plus_two:PREDICT", {"instances": [1.0]})
    assert response.json() == {"predictions": [2.5]}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", HPT + "/version/124"),
        ("GET", HPT + "/versions/abc"),
        ("GET", HPT + "/versions/124/labels/x"),
        ("POST", HPT + "/metadata"),
        ("GET", HPT + ":predict"),
        ("PUT", HPT + ":predict"),
        ("DELETE", HPT),
        ("POST", HPT + ":explain"),
    ],
)
def test_malformed_urls(examples_server, method: str, path: str):
    response = requests.request(method, examples_server.url + path, data="{}", timeout=10)
    assert response.status_code == 400
    assert error_of(response) == f"Malformed request: {method} {path}"


def test_version_overflow(examples_server):
    response = requests.get(examples_server.url + HPT + "/versions/99999999999999999999", timeout=10)
    assert response.status_code == 400
    assert "Failed to convert version" in error_of(response)


def test_non_v1_paths_get_html_404(examples_server):
    response = requests.get(examples_server.url + "/v3/models", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_list_models_health_and_ready(examples_server):
    listing = requests.get(examples_server.url + "/v1/models", timeout=10).json()
    names = {m["name"] for m in listing["models"]}
    assert {"half_plus_two", "digits", "digits_onnx", "digits_tflite", "digits_keras"} <= names
    assert requests.get(examples_server.url + "/healthz", timeout=10).status_code == 200
    assert requests.get(examples_server.url + "/readyz", timeout=10).status_code == 200


# ---- metadata ----


def test_metadata_like_tf_serving(examples_server):
    body = requests.get(examples_server.url + HPT + "/metadata", timeout=10).json()
    assert body["model_spec"] == {"name": "half_plus_two", "signature_name": "", "version": "124"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert sigs["serving_default"] == {
        "inputs": {
            "x": {
                "dtype": "DT_FLOAT",
                "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}], "unknown_rank": False},
                "name": "x:0",
            }
        },
        "outputs": {
            "y": {
                "dtype": "DT_FLOAT",
                "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}], "unknown_rank": False},
                "name": "y:0",
            }
        },
        "method_name": "tensorflow/serving/predict",
        "defaults": {},
    }
    assert sigs["classify_x_to_y"]["method_name"] == "tensorflow/serving/classify"
    assert sigs["regress_x_to_y"]["inputs"]["inputs"]["dtype"] == "DT_STRING"


@pytest.mark.parametrize("model", ["digits_onnx", "digits_tflite", "digits_keras", "digits"])
def test_metadata_for_every_format(examples_server, model: str):
    body = requests.get(f"{examples_server.url}/v1/models/{model}/versions/1/metadata", timeout=10).json()
    images = body["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["images"]
    assert images["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]


# ---- predict ----


def test_predict_row_and_columnar(examples_server):
    row = post(examples_server, HPT + ":predict", {"instances": [1.0, 2.0, 5.0]})
    assert row.status_code == 200
    assert row.json() == {"predictions": [2.5, 3.0, 4.5]}
    assert row.headers["x-model-version"] == "124"
    columnar = post(examples_server, HPT + ":predict", {"inputs": [2.0, 3.0, 4.0]})
    assert columnar.json() == {"outputs": [3.0, 3.5, 4.0]}
    versioned = post(examples_server, HPT + "/versions/124:predict", {"instances": [[1.0]]})
    assert versioned.json() == {"predictions": [[2.5]]}


def test_predict_int_into_float_and_trailing_data(examples_server):
    response = post(examples_server, HPT + ":predict", b'{"instances": [1, 2]} trailing')
    assert response.json() == {"predictions": [2.5, 3.0]}


def test_predict_nan_and_infinity(examples_server):
    response = post(examples_server, HPT + ":predict", b'{"instances": [NaN, Infinity, -Infinity]}')
    assert response.status_code == 200
    assert response.text.replace(" ", "").replace("\n", "") == '{"predictions":[NaN,Infinity,-Infinity]}'


def test_gzip_body(examples_server):
    body = gzip.compress(json.dumps({"instances": [1.0]}).encode())
    response = post(examples_server, HPT + ":predict", body, headers={"Content-Encoding": "gzip"})
    assert response.json() == {"predictions": [2.5]}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "JSON Parse error: The document is empty"),
        ({"instances": [1.0], "inputs": [1.0]}, 400, "only one of 'inputs' or 'instances'"),
        ({"signature_name": 1, "instances": [1.0]}, 400, "'signature_name' key must be a string value."),
        ({"foo": 1}, 400, "Missing 'inputs' or 'instances' key"),
        ({"instances": []}, 400, "No values in 'instances' array"),
        ({"instances": ["a"]}, 400, "String is not of expected type: float"),
        ({"signature_name": "nope", "instances": [1.0]}, 400, 'Serving signature name: "nope" not found'),
    ],
)
def test_predict_errors(examples_server, body, status: int, message: str):
    response = post(examples_server, HPT + ":predict", body)
    assert response.status_code == status
    assert message in error_of(response)


def test_predict_unknown_model_version_and_label(examples_server):
    missing_model = post(examples_server, "/v1/models/nope:predict", {"instances": [1.0]})
    assert missing_model.status_code == 404
    assert error_of(missing_model) == "Servable not found for request: Latest(nope)"
    missing_version = post(examples_server, HPT + "/versions/99:predict", {"instances": [1.0]})
    assert missing_version.status_code == 404
    assert error_of(missing_version) == "Servable not found for request: Specific(half_plus_two, 99)"
    label = post(examples_server, HPT + "/labels/beta:predict", {"instances": [1.0]})
    assert label.status_code == 400
    assert error_of(label) == "Unrecognized servable version label: beta"


def test_multi_output_row_and_columnar(examples_server, digits_test):
    images, _ = digits_test
    row = post(examples_server, "/v1/models/digits:predict", {"instances": images[:2].tolist()}).json()
    assert len(row["predictions"]) == 2
    assert set(row["predictions"][0]) == {"probabilities", "class_index", "class_name"}
    columnar = post(examples_server, "/v1/models/digits:predict", {"inputs": {"images": images[:2].tolist()}}).json()
    assert len(columnar["outputs"]["probabilities"]) == 2
    assert columnar["outputs"]["class_index"] == [p["class_index"] for p in row["predictions"]]


@pytest.mark.parametrize("model", ["digits", "digits_onnx", "digits_tflite", "digits_keras"])
def test_every_format_answers_the_same_class(examples_server, digits_test, model: str):
    images, labels = digits_test
    response = post(examples_server, f"/v1/models/{model}:predict", {"instances": images[:20].tolist()})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    probabilities = [p["probabilities"] if isinstance(p, dict) else p for p in predictions]
    classes = [max(range(10), key=row.__getitem__) for row in probabilities]
    assert sum(c == label for c, label in zip(classes, labels[:20])) >= 18


def test_png_as_b64_to_from_bytes(examples_server, examples_dir: Path):
    png_dir = examples_dir / "digits_png"
    with open(png_dir / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    instances = [
        {"image_bytes": {"b64": base64.b64encode((png_dir / r["filename"]).read_bytes()).decode()}} for r in rows
    ]
    response = post(
        examples_server, "/v1/models/digits:predict", {"signature_name": "from_bytes", "instances": instances}
    )
    assert response.status_code == 200, response.text
    predicted = [p["class_name"] for p in response.json()["predictions"]]
    expected = [r["label"] for r in rows]
    assert sum(p == e for p, e in zip(predicted, expected)) >= len(rows) - 1


def test_input_pass_through_echoes_the_key(examples_server, digits_test):
    images, _ = digits_test
    instances = [{"images": images[i].tolist(), "key": f"req-{i}"} for i in range(3)]
    response = post(
        examples_server, "/v1/models/digits:predict", {"signature_name": "input_pass_through", "instances": instances}
    )
    assert [p["key"] for p in response.json()["predictions"]] == ["req-0", "req-1", "req-2"]


# ---- classify / regress ----


def test_regress_and_classify(examples_server):
    regress = post(examples_server, HPT + ":regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]})
    assert regress.json() == {"results": [42.0]}
    classify = post(
        examples_server, HPT + ":classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]}
    )
    assert classify.json() == {"results": [[["", 12.0]]]}
    context = post(
        examples_server,
        HPT + ":regress",
        {"signature_name": "regress_x2_to_y3", "context": {"x2": 4.0}, "examples": [{"x": 1.0}, {"x": 2.0}]},
    )
    assert context.json() == {"results": [5.0, 5.0]}


def test_classify_needs_a_signature_shaped_for_it(examples_server):
    """The method name is not checked (TF Serving's default); the input and outputs are."""
    response = post(examples_server, HPT + ":classify", {"examples": [{"x": 1.0}]})
    assert response.status_code == 400
    assert "No classification inputs found in SignatureDef: serving_default" in error_of(response)


def test_regress_errors(examples_server):
    response = post(examples_server, HPT + ":regress", {"signature_name": "regress_x_to_y", "instances": [1.0]})
    assert response.status_code == 400
    assert "key 'examples' is expected" in error_of(response)


# ---- protection ----


def test_body_over_the_limit_gets_413(start_server, examples_dir: Path):
    server = start_server(
        f"--model_base_path={examples_dir / 'half_plus_two'}", "--model_name=half_plus_two", "--max_request_bytes=1000"
    )
    response = post(server, HPT + ":predict", {"instances": [1.0] * 500})
    assert response.status_code == 413
    assert "over the limit of 1000 bytes" in error_of(response)
    assert post(server, HPT + ":predict", {"instances": [1.0]}).status_code == 200


def test_cors_when_enabled(start_server, examples_dir: Path):
    server = start_server(
        f"--model_base_path={examples_dir / 'half_plus_two'}",
        "--model_name=half_plus_two",
        "--rest_api_enable_cors_support=true",
    )
    response = post(server, HPT + ":predict", {"instances": [1.0]})
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = requests.options(server.url + HPT + ":predict", headers={"Origin": "https://app.example"}, timeout=10)
    assert preflight.status_code == 200
