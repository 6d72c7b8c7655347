"""``modelserve convert --to tflite --also-signatures``: one TFLite file with several signatures, served.

The example ``digits`` SavedModel is converted with ``serving_default`` (primary) and ``input_pass_through``
(images plus a string key), landed as version 1, served by a real ``modelserve serve``; both signatures
answer over REST and match the SavedModel. The flag's parsing and refusals are checked without converting.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import requests

from modelserve.cli import build_parser
from modelserve.convert import ConvertRequest, convert
from modelserve.convert.signatures import check_also_signatures
from modelserve.errors import InvalidArgument

EXTRA = "input_pass_through"


@pytest.fixture(scope="module")
def multi_signature(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("multi") / "digits_multi"
    request = ConvertRequest(
        source=examples_dir / "digits/1",
        out=base,
        to="tflite",
        quantize="none",
        compare=("float16",),
        also_signatures=(EXTRA,),
        latency_runs=1,
    )
    return base, convert(request)


def test_file_keeps_both_signatures_and_reports_the_extra(multi_signature):
    from ai_edge_litert.interpreter import Interpreter

    base, result = multi_signature
    assert result.accepted and result.version == 1 and result.path == base / "1"
    keys = Interpreter(model_path=str(result.path / "model.tflite")).get_signature_list()
    assert sorted(keys) == [EXTRA, "serving_default"]
    assert set(keys[EXTRA]["inputs"]) == {"images", "key"}

    report = json.loads(result.report["json"].read_text())
    diffs = report["also_signatures"][EXTRA]
    assert set(diffs) == {"float32", "float16"}
    assert diffs["float32"] < 1e-5 and diffs["float16"] < 1e-2
    assert report["signature"].startswith("serving_default")
    assert f"| {EXTRA} |" in result.report["markdown"].read_text()


def test_both_signatures_answer_over_rest(multi_signature, examples_dir: Path, digits_test, serve):
    from modelserve import load_model

    base, _result = multi_signature
    server = serve("--model_name=digits_multi", f"--model_base_path={base}", "--file_system_poll_wait_seconds=0")
    url = f"{server.url}/v1/models/digits_multi:predict"
    images = digits_test[0][:20]
    keys = [f"id-{i}" for i in range(len(images))]
    with load_model(examples_dir / "digits/1") as original:
        expected_default = original.predict({"images": images})
        expected_extra = original.predict(
            {"images": images, "key": np.array([k.encode() for k in keys], dtype=object)}, signature=EXTRA
        )

    default = requests.post(url, json={"signature_name": "serving_default", "instances": images.tolist()}, timeout=30)
    assert default.status_code == 200, default.text
    predictions = default.json()["predictions"]
    assert [p["class_index"] for p in predictions] == expected_default["class_index"].tolist()
    np.testing.assert_allclose([p["probabilities"] for p in predictions], expected_default["probabilities"], atol=1e-5)

    body = {"signature_name": EXTRA, "inputs": {"images": images.tolist(), "key": keys}}
    extra = requests.post(url, json=body, timeout=30)
    assert extra.status_code == 200, extra.text
    outputs = extra.json()["outputs"]
    assert outputs["key"] == keys
    assert outputs["class_index"] == expected_extra["class_index"].tolist()
    np.testing.assert_allclose(outputs["probabilities"], expected_extra["probabilities"], atol=1e-5)


def test_flag_parses_to_a_tuple_of_names():
    parser = build_parser()
    args = parser.parse_args(
        ["convert", "m", "--to", "tflite", "--out", "o", "--also-signatures", " a, b ,", "--signature", "s"]
    )
    assert args.also_signatures == ("a", "b") and args.signature == "s"
    assert parser.parse_args(["convert", "m", "--to", "tflite", "--out", "o"]).also_signatures == ()


@pytest.mark.parametrize(
    ("to", "primary", "also", "variants", "message"),
    [
        ("onnx", "serving_default", ("b",), ["float32"], "--to tflite only"),
        ("tfjs", "serving_default", ("b",), ["float32"], "--to tflite only"),
        ("tflite", "a", ("b", "a"), ["float32"], "repeats the primary signature 'a'"),
        ("tflite", "a", ("b", "b"), ["float32"], "names a signature twice"),
        ("tflite", "a", ("b",), ["float16", "int8"], "int8 with several signatures"),
    ],
)
def test_refusals(to, primary, also, variants, message):
    with pytest.raises(InvalidArgument, match=message):
        check_also_signatures(to, primary, also, variants)
    check_also_signatures(to, primary, (), variants)  # without the flag every request stays as it was


def test_onnx_refuses_the_flag_before_any_work(examples_dir: Path, tmp_path: Path):
    request = ConvertRequest(source=examples_dir / "digits/1", out=tmp_path / "o", to="onnx", also_signatures=(EXTRA,))
    with pytest.raises(InvalidArgument, match="--to tflite only"):
        convert(request)
    assert not (tmp_path / "o").exists()
