"""Warmup on real models: TF Serving's PredictionLog TFRecord file, our warmup.json, and the manager's hook.

Every test works on copies of the example models in a tmp folder (the examples are never modified).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from modelserve.config import ModelConfig
from modelserve.errors import Code, NotFound
from modelserve.protocols import pb
from modelserve.protocols.tfs.tf_example import Feature, encode_example
from modelserve.protocols.tfs.warmup_files import (
    JSON_WARMUP_FILE,
    READERS,
    TF_SERVING_WARMUP_FILE,
    classify_log,
    predict_log,
    regress_log,
    write_tf_serving_warmup,
    write_warmup_json,
)
from modelserve.runtimes import registry
from modelserve.runtimes.base import LoadedModel
from modelserve.serving import tfrecord, warmup
from modelserve.serving.manager import ModelManager
from modelserve.serving.state import VersionState
from modelserve.serving.warmup import MAX_RECORDS, WarmupError, WarmupOptions, WarmupReport


def warm_up(model: LoadedModel, folder: Path, options: WarmupOptions | None = None) -> WarmupReport | None:
    """The serving core's warmup with the readers ``modelserve serve`` injects."""
    return warmup.warm_up(model, folder, READERS, options)


PredictionLog = pb.message_class("tensorflow.serving.PredictionLog")


def copy_version(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def x_examples(*values: float) -> list[bytes]:
    return [encode_example({"x": Feature("float", [v])}) for v in values]


@pytest.fixture
def half_plus_two(examples_dir: Path, tmp_path: Path) -> Path:
    return copy_version(examples_dir / "half_plus_two/00000123", tmp_path / "half_plus_two/123")


@pytest.fixture
def digits_images(digits_test) -> np.ndarray:
    return digits_test[0][:3]


# ------------------------------------------------------------------------------------ TFRecord framing


def test_tfrecord_files_are_byte_identical_to_tensorflows(tmp_path: Path):
    tf = pytest.importorskip("tensorflow")
    records = [b"", b"x", bytes(range(256)) * 40]
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    assert tfrecord.write_records(ours, records) == 3
    with tf.io.TFRecordWriter(str(theirs)) as writer:
        for record in records:
            writer.write(record)
    assert ours.read_bytes() == theirs.read_bytes()
    assert list(tfrecord.read_records(theirs)) == records
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(ours))] == records


def test_pure_python_crc32c_is_castagnoli():
    assert tfrecord._python_crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert tfrecord.crc32c(b"123456789") == 0xE3069283


def test_corrupted_and_truncated_tfrecords_are_refused(tmp_path: Path):
    path = tmp_path / "records"
    tfrecord.write_records(path, [b"first", b"second"])
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    with pytest.raises(tfrecord.TFRecordError, match="truncated data of record 1"):
        list(tfrecord.read_records(path))
    path.write_bytes(data[:14] + b"X" + data[15:])  # a byte of the first record's data
    with pytest.raises(tfrecord.TFRecordError, match="corrupted data of record 0"):
        list(tfrecord.read_records(path))
    path.write_bytes(data)
    assert list(tfrecord.read_records(path, limit=2)) == [b"first", b"second"]
    with pytest.raises(tfrecord.TooManyRecords, match="more than 1 records"):
        list(tfrecord.read_records(path, limit=1))


# ------------------------------------------------------------------------ TF Serving's warmup file


def test_file_written_with_tensorflow_serving_api_is_replayed(half_plus_two: Path):
    """Made as TF Serving's docs show: official messages, tf.io.TFRecordWriter; all four request kinds."""
    tf = pytest.importorskip("tensorflow")
    apis = pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")
    from tensorflow_serving.apis import classification_pb2, inference_pb2, predict_pb2, regression_pb2

    def example(value: float) -> tf.train.Example:
        feature = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        return tf.train.Example(features=tf.train.Features(feature={"x": feature}))

    examples = [example(1.0), example(2.0)]
    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = "half_plus_two"
    predict.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [2.0]], np.float32)))
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.signature_name = "classify_x_to_y"
    classify.input.example_list.examples.extend(examples)
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.signature_name = "regress_x_to_y"
    regress.input.example_list_with_context.examples.extend(examples)
    multi = inference_pb2.MultiInferenceRequest()
    for method, signature in (("classify", "classify_x_to_y"), ("regress", "regress_x_to_y")):
        task = multi.tasks.add(method_name=f"tensorflow/serving/{method}")
        task.model_spec.name = "half_plus_two"
        task.model_spec.signature_name = signature
    multi.input.example_list.examples.extend(examples)
    logs = [
        apis.PredictionLog(predict_log=apis.PredictLog(request=predict)),
        apis.PredictionLog(classify_log=apis.ClassifyLog(request=classify)),
        apis.PredictionLog(regress_log=apis.RegressLog(request=regress)),
        apis.PredictionLog(multi_inference_log=apis.MultiInferenceLog(request=multi)),
    ]
    (half_plus_two / "assets.extra").mkdir()
    with tf.io.TFRecordWriter(str(half_plus_two / TF_SERVING_WARMUP_FILE)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    model = registry.load(half_plus_two)
    try:
        report = warm_up(model, half_plus_two)
        assert (report.records, report.requests) == (4, 5)  # the multi-inference record is two calls
        assert report.files == (half_plus_two / TF_SERVING_WARMUP_FILE,)
        report = warm_up(model, half_plus_two, WarmupOptions(iterations=3))
        assert (report.records, report.requests) == (4, 15)
        assert warm_up(model, half_plus_two, WarmupOptions(enabled=False)) is None
    finally:
        model.close()


@pytest.fixture(scope="module")
def tf_model(examples_dir: Path):
    model = registry.load(examples_dir / "half_plus_two/00000123")
    yield model
    model.close()


def multi_inference_log(*names: str, method: str = "classify") -> object:
    """Our PredictionLog with a MultiInference request: one classify_x_to_y task per model name given."""
    log = PredictionLog()
    request = log.multi_inference_log.request
    for name in names:
        task = request.tasks.add(method_name=f"tensorflow/serving/{method}")
        task.model_spec.name = name
        task.model_spec.signature_name = "classify_x_to_y"
    for example in x_examples(1.0):
        request.input.example_list.examples.add().ParseFromString(example)
    return log


def warmup_error(model: LoadedModel, folder: Path, logs: list) -> WarmupError:
    write_tf_serving_warmup(folder, logs)
    with pytest.raises(WarmupError) as caught:
        warm_up(model, folder)
    return caught.value


def test_requests_really_run_on_the_model(tf_model: LoadedModel, tmp_path: Path):
    """A bytes feature where the graph parses a float passes every check but fails inside TensorFlow."""
    bad = [encode_example({"x": Feature("bytes", [b"one"])})]
    good = predict_log({"x": np.ones((1, 1), np.float32)})
    error = warmup_error(tf_model, tmp_path, [good, classify_log(bad, "classify_x_to_y")])
    assert error.code == Code.INVALID_ARGUMENT
    assert error.message.startswith(f"warmup record 1 of {tmp_path / TF_SERVING_WARMUP_FILE} (classify, ")
    assert "Data types don't match" in error.message


@pytest.mark.parametrize(
    ("log", "code", "message"),
    [
        (predict_log({"y": np.ones((1, 1), np.float32)}), Code.INVALID_ARGUMENT, "Sent extra: {y}"),
        (predict_log({"x": np.ones((1, 1), np.float32)}, "nope"), Code.FAILED_PRECONDITION, "signature 'nope'"),
        (regress_log(x_examples(1.0), "classify_x_to_y"), Code.INVALID_ARGUMENT, "No regression outputs found"),
        (classify_log([], "classify_x_to_y"), Code.INVALID_ARGUMENT, "Input is empty"),
        (multi_inference_log(""), Code.INVALID_ARGUMENT, "Found ModelSpec with an empty model name."),
        (multi_inference_log("m", "m"), Code.INVALID_ARGUMENT, "Duplicate evaluation of signature: classify_x_to_y"),
        (multi_inference_log("m", method="predict"), Code.UNIMPLEMENTED, "Unsupported signature method_name"),
    ],
    ids=["unknown-input", "unknown-signature", "wrong-method", "no-examples", "no-name", "duplicate", "predict"],
)
def test_bad_requests_fail_with_their_code(tf_model: LoadedModel, tmp_path: Path, log, code: Code, message: str):
    error = warmup_error(tf_model, tmp_path, [log])
    assert error.code == code
    assert message in error.message
    assert "warmup record 0" in error.message


def test_session_run_logs_are_refused_and_empty_logs_skipped(tf_model: LoadedModel, tmp_path: Path):
    write_tf_serving_warmup(tmp_path, [PredictionLog()])
    report = warm_up(tf_model, tmp_path)
    assert (report.records, report.requests) == (1, 0)
    session_run = PredictionLog()
    session_run.session_run_log.SetInParent()
    error = warmup_error(tf_model, tmp_path, [session_run])
    assert error.code == Code.UNIMPLEMENTED
    assert "Unsupported log_type for warmup: session_run_log" in error.message


def test_at_most_1000_records(tf_model: LoadedModel, tmp_path: Path):
    write_tf_serving_warmup(tmp_path, [b""] * MAX_RECORDS)  # empty records: logs with nothing to replay
    assert warm_up(tf_model, tmp_path).records == MAX_RECORDS
    error = warmup_error(tf_model, tmp_path, [b""] * (MAX_RECORDS + 1))
    path = tmp_path / TF_SERVING_WARMUP_FILE
    assert error.message == f"Number of warmup records exceeds the maximum (1000) at {path}"


def test_files_that_are_not_prediction_log_tfrecords(tf_model: LoadedModel, tmp_path: Path):
    error = warmup_error(tf_model, tmp_path, [b"\xff\xff\xff"])
    assert error.message.startswith("Failed to parse warmup record 0 from ")
    (tmp_path / TF_SERVING_WARMUP_FILE).write_text('{"instances": [1.0]}')
    with pytest.raises(WarmupError) as caught:
        warm_up(tf_model, tmp_path)
    assert caught.value.code == Code.DATA_LOSS
    assert caught.value.message.endswith("Please verify your warmup data is in TFRecord format.")


# ------------------------------------------------------------------------------------- warmup.json


@pytest.mark.parametrize("example", ["digits_onnx/1", "digits_tflite/1"])
def test_json_warmup_for_other_runtimes(examples_dir: Path, tmp_path: Path, example: str, digits_images):
    folder = copy_version(examples_dir / example, tmp_path / "1")
    write_warmup_json(folder, [{"instances": digits_images}, {"inputs": {"images": digits_images[:1]}}])
    model = registry.load(folder)
    try:
        report = warm_up(model, folder, WarmupOptions(iterations=2))
        assert (report.files, report.records, report.requests) == ((folder / JSON_WARMUP_FILE,), 2, 4)
        write_warmup_json(folder, [{"instances": digits_images}, {"instances": digits_images[:, :4]}])
        with pytest.raises(WarmupError) as caught:
            warm_up(model, folder)
        assert caught.value.code == Code.INVALID_ARGUMENT
        assert caught.value.message.startswith(f"warmup request 1 of {folder / JSON_WARMUP_FILE}: input 'images'")
    finally:
        model.close()


def test_json_examples_bodies_and_both_files(tf_model: LoadedModel, tmp_path: Path):
    write_warmup_json(
        tmp_path,
        [
            {"instances": [[1.0], [2.0]]},
            {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}]},
            {"signature_name": "classify_x_to_y", "context": {"x": 3.0}, "examples": [{}]},
        ],
    )
    write_tf_serving_warmup(tmp_path, [predict_log({"x": np.ones((2, 1), np.float32)})])
    report = warm_up(tf_model, tmp_path)
    assert report.files == (tmp_path / TF_SERVING_WARMUP_FILE, tmp_path / JSON_WARMUP_FILE)
    assert (report.records, report.requests) == (4, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"instances": [1.0]}', "must hold a JSON array of request bodies, got dict"),
        ("[{]", "JSON Parse error"),
        ('[{"signature_name": "serving_default", "examples": [{"x": 1.0}]}]', "needs a classify or regress"),
        ('[{"instances": ["a"]}]', "warmup request 0 of"),
    ],
)
def test_bad_json_warmup_files(tf_model: LoadedModel, tmp_path: Path, text: str, message: str):
    (tmp_path / JSON_WARMUP_FILE).write_text(text)
    with pytest.raises(WarmupError, match=message):
        warm_up(tf_model, tmp_path)


def test_write_warmup_json_encodes_arrays_and_bytes(tmp_path: Path):
    path = write_warmup_json(tmp_path / "w.json", [{"instances": [{"b": b"\x00\xff", "n": np.float32(0.5)}]}])
    assert path.read_text() == '[{"instances": [{"b": {"b64": "AP8="}, "n": 0.5}]}]\n'


def test_no_warmup_file_means_no_warmup(tf_model: LoadedModel, tmp_path: Path):
    assert warm_up(tf_model, tmp_path) is None


# ------------------------------------------------------------------------------ the manager's hook


class Recording(LoadedModel):
    """A real loaded model, with a hook on ``run`` and a record of ``close``."""

    def __init__(self, inner: LoadedModel, on_run) -> None:
        self.inner, self.on_run, self.closed = inner, on_run, False
        self.platform, self.path, self.signatures = inner.platform, inner.path, inner.signatures

    def run(self, signature_name, inputs):
        self.on_run()
        return self.inner.run(signature_name, inputs)

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def test_manager_serves_a_version_only_after_its_warmup(examples_dir: Path, tmp_path: Path, digits_images):
    base = tmp_path / "digits"
    copy_version(examples_dir / "digits_onnx/1", base / "1")
    copy_version(examples_dir / "digits_onnx/1", base / "2")
    write_warmup_json(base / "2", [{"instances": digits_images}])
    (base / "2" / JSON_WARMUP_FILE).write_text('[{"instances": [[1.0]]}]')  # wrong shape: warmup fails
    seen, models = [], []

    def load(path: Path) -> LoadedModel:
        def during_run() -> None:
            seen.append({s.version: s.state for s in manager.statuses()})
            with pytest.raises(NotFound):
                manager.borrow(int(path.name))

        models.append(Recording(registry.load(path), during_run))
        return models[-1]

    manager = ModelManager(ModelConfig(name="digits", base_path=base), load, drain_timeout=5, warmup=warm_up)
    manager.poll()
    manager.poll()
    statuses = {s.version: s for s in manager.statuses()}
    assert statuses[2].state == VersionState.END
    assert statuses[2].error_code == Code.INVALID_ARGUMENT
    assert statuses[2].error_message.startswith(f"warmup request 0 of {base / '2' / JSON_WARMUP_FILE}: ")
    assert statuses[1].state == VersionState.AVAILABLE  # the next older version stepped in
    assert [m.closed for m in models] == [True, False]  # the failed version's model was closed
    assert seen == []  # the file was refused before any call

    write_warmup_json(base / "2", [{"instances": digits_images}])  # fixed: a changed folder is retried
    manager.poll()
    manager.poll()
    assert manager.available_versions() == [2]
    assert seen[-1] == {1: VersionState.AVAILABLE, 2: VersionState.LOADING}
    with manager.borrow() as served:
        assert served.version == 2
    manager.unload_all()


def test_manager_without_warmup_ignores_the_files(examples_dir: Path, tmp_path: Path):
    base = tmp_path / "digits"
    copy_version(examples_dir / "digits_onnx/1", base / "1")
    (base / "1" / JSON_WARMUP_FILE).write_text("not json")
    config = ModelConfig(name="digits", base_path=base)
    manager = ModelManager(config, registry.load, drain_timeout=5, warmup=None)
    manager.poll()
    manager.poll()
    assert manager.available_versions() == [1]
    manager.unload_all()
