"""TF Serving's gRPC API with the official client (tensorflow-serving-api stubs), as a user calls it."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2


@pytest.fixture(scope="module")
def channel(examples_server):
    options = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]
    with grpc.insecure_channel(examples_server.grpc_target, options=options) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def example(**features: float) -> tf.train.Example:
    return tf.train.Example(
        features=tf.train.Features(
            feature={k: tf.train.Feature(float_list=tf.train.FloatList(value=[v])) for k, v in features.items()}
        )
    )


def test_predict_half_plus_two(stub):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [2.0], [5.0]], np.float32)))
    response = stub.Predict(request, timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[2.5], [3.0], [4.5]])
    assert list(response.outputs["y"].float_val) == [2.5, 3.0, 4.5]  # typed fields, as TF Serving answers
    assert response.model_spec.name == "half_plus_two"
    assert response.model_spec.version.value == 124
    assert response.model_spec.signature_name == "serving_default"


def test_predict_with_typed_fields_and_the_fill_rule(stub):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.version.value = 123 + 1
    tensor = request.inputs["x"]
    tensor.dtype = tf.float32.as_datatype_enum
    tensor.tensor_shape.dim.add().size = 2
    tensor.tensor_shape.dim.add().size = 1
    tensor.float_val.append(4.0)  # one value fills the whole [2, 1] tensor, as in TensorFlow
    response = stub.Predict(request, timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[4.0], [4.0]])


def test_predict_output_filter_and_strings(stub, digits_test):
    images, labels = digits_test
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(images[:5]))
    request.output_filter.append("class_name")
    response = stub.Predict(request, timeout=30)
    assert list(response.outputs) == ["class_name"]
    names = tf.make_ndarray(response.outputs["class_name"])
    assert sum(int(n) == label for n, label in zip(names, labels[:5])) >= 4


def test_predict_over_four_megabytes(stub):
    values = np.arange(5_000_000, dtype=np.float32).reshape(-1, 1)  # 20 MB each way
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(values))
    response = stub.Predict(request, timeout=60)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"])[-1], [0.5 * values[-1, 0] + 2])


@pytest.mark.parametrize(
    ("model", "inputs", "code", "message"),
    [
        ("nope", {"x": np.ones((1, 1), np.float32)}, grpc.StatusCode.NOT_FOUND, "Servable not found"),
        ("half_plus_two", {"x": np.ones((1, 1), np.int64)}, grpc.StatusCode.INVALID_ARGUMENT, "to be float but int64"),
        (
            "half_plus_two",
            {"z": np.ones((1, 1), np.float32)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Missing but required: {x}",
        ),
        (
            "digits_onnx",
            {"images": np.ones((2, 64), np.float32)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "expects float32 [-1, 8, 8, 1]",
        ),
    ],
)
def test_predict_errors(stub, model, inputs, code, message):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(request, timeout=30)
    assert err.value.code() == code
    assert message in err.value.details()


def test_unknown_signature(stub):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "nope"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, 1), np.float32)))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # as TF Serving's Predict
    assert err.value.details() == 'Serving signature key "nope" not found.'


def test_tf_serving_request_checks(stub):
    no_spec = predict_pb2.PredictRequest()
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(no_spec, timeout=30)
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, 1), np.float32)))
    request.output_filter.extend(["y", "y"])
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(request, timeout=30)
    assert err.value.details() == "duplicate output tensor alias: y"


def test_long_error_messages_are_truncated_like_tf_serving(stub):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    for i in range(3000):
        request.inputs[f"wrong_{i}"].CopyFrom(tf.make_tensor_proto(np.ones((1, 1), np.float32)))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().endswith("...TRUNCATED")


def test_classify_and_regress(stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "classify_x_to_y"
    request.input.example_list.examples.add().CopyFrom(example(x=20.0))
    response = stub.Classify(request, timeout=30)
    assert response.result.classifications[0].classes[0].score == pytest.approx(12.0)
    assert response.model_spec.version.value == 124

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x2_to_y3"
    request.input.example_list_with_context.context.CopyFrom(example(x2=4.0))
    request.input.example_list_with_context.examples.add().CopyFrom(example(x=1.0))
    response = stub.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [pytest.approx(5.0)]


def test_multi_inference(stub):
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (
        ("classify_x_to_y", "tensorflow/serving/classify"),
        ("regress_x_to_y", "tensorflow/serving/regress"),
    ):
        task = request.tasks.add()
        task.model_spec.name = "half_plus_two"
        task.model_spec.signature_name = signature
        task.method_name = method
    request.input.example_list.examples.add().CopyFrom(example(x=80.0))
    response = stub.MultiInference(request, timeout=30)
    assert response.results[0].classification_result.classifications[0].classes[0].score == pytest.approx(42.0)
    assert response.results[1].regression_result.regressions[0].value == pytest.approx(42.0)


def test_get_model_metadata(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "digits_onnx"
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout=30)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    images = signature_map.signature_def["serving_default"].inputs["images"]
    assert images.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in images.tensor_shape.dim] == [-1, 8, 8, 1]
    assert response.model_spec.version.value == 1


def test_get_model_status(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half_plus_two"
    response = stub.GetModelStatus(request, timeout=30)
    [status] = response.model_version_status
    assert (status.version, status.state, status.status.error_code) == (124, 30, 0)


def test_health_and_reflection(channel):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    services = {s.name for s in next(responses).list_services_response.service}
    assert {"tensorflow.serving.PredictionService", "tensorflow.serving.ModelService"} <= services


def test_reload_config_adds_and_removes_models(start_server, examples_dir: Path):
    server = start_server(f"--model_base_path={examples_dir / 'half_plus_two'}", "--model_name=half_plus_two")
    with grpc.insecure_channel(server.grpc_target) as channel:
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        config = model_server_config_pb2.ModelServerConfig()
        entry = config.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = "digits", str(examples_dir / "digits_onnx"), "onnx"
        response = models.HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=120
        )
        assert response.status.error_code == 0
        status = models.GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "digits"}), timeout=30
        )
        assert status.model_version_status[0].state == 30
        with pytest.raises(grpc.RpcError) as err:  # half_plus_two was left out of the new config
            request = predict_pb2.PredictRequest(model_spec={"name": "half_plus_two"})
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, 1), np.float32)))
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
