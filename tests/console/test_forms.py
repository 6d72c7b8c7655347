"""The try-it form: a widget per input from its dtype and shape, and the TF Serving body it sends."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from modelserve.console.forms import field_for, json_template, predict_body, table_template
from modelserve.errors import InvalidArgument
from modelserve.types import Signature, TensorSpec


def spec(name: str, dtype: str, shape) -> TensorSpec:
    return TensorSpec(name, dtype, None if shape is None else tuple(shape))


@pytest.mark.parametrize(
    ("tensor", "kind"),
    [
        (spec("images", "float32", [-1, 8, 8, 1]), "image"),
        (spec("pixels", "uint8", [-1, 28, 28]), "image"),
        (spec("rgb", "float32", [-1, 32, 32, 3]), "image"),
        (spec("image_bytes", "string", [-1]), "image"),
        (spec("prompt", "string", [-1]), "text"),
        (spec("x", "float32", [-1, 1]), "table"),
        (spec("x", "int64", [-1]), "table"),
        (spec("x", "float32", [-1, -1]), "json"),
        (spec("x", "float32", [-1, 8, 8, 2]), "json"),
        (spec("x", "float32", None), "json"),
        (spec("x", "bool", [-1]), "json"),
    ],
)
def test_the_widget_follows_dtype_and_shape(tensor: TensorSpec, kind: str) -> None:
    assert field_for(tensor).kind == kind


def test_a_picture_is_resized_greyed_and_scaled_for_a_numeric_input() -> None:
    picture = Image.new("RGB", (32, 32), (255, 255, 255))
    signature = Signature.from_specs("serving_default", [spec("images", "float32", [-1, 8, 8, 1])], [])
    body = predict_body(signature, {"images": picture})
    pixels = np.asarray(body["inputs"]["images"])
    assert pixels.shape == (1, 8, 8, 1) and np.allclose(pixels, 1.0)
    assert body["signature_name"] == "serving_default"


def test_a_picture_for_a_bytes_input_is_sent_as_png_b64() -> None:
    signature = Signature.from_specs("s", [spec("image_bytes", "string", [-1])], [])
    body = predict_body(signature, {"image_bytes": Image.new("L", (10, 10), 7)})
    data = base64.b64decode(body["inputs"]["image_bytes"][0]["b64"])
    assert Image.open(io.BytesIO(data)).size == (10, 10)


def test_tables_text_and_json() -> None:
    signature = Signature.from_specs(
        "s",
        [
            spec("x", "float32", [-1, 2]),
            spec("n", "int64", [-1]),
            spec("t", "string", [-1]),
            spec("j", "float32", [-1, -1]),
        ],
        [],
    )
    assert table_template(field_for(signature.inputs["x"])) == [[0, 0]]
    body = predict_body(signature, {"x": [["1", "2.5"], ["", ""]], "n": [["3"]], "t": "hello", "j": "[[1, 2]]"})
    assert body["inputs"] == {"x": [[1.0, 2.5]], "n": [3], "t": ["hello"], "j": [[1, 2]]}
    with pytest.raises(InvalidArgument, match="'x': 'a' is not a number"):
        predict_body(signature, {"x": [["a", "1"]], "n": [[1]], "t": "", "j": "[]"})
    with pytest.raises(InvalidArgument, match="input 'j' is not JSON"):
        predict_body(signature, {"x": [[1, 1]], "n": [[1]], "t": "", "j": "{"})
    with pytest.raises(InvalidArgument, match="the table has no rows"):
        predict_body(signature, {"x": [], "n": [[1]], "t": "", "j": "[]"})


def test_json_templates_have_the_input_shape() -> None:
    assert json_template(field_for(spec("j", "float32", [-1, 3, -1]))) == "[[[0], [0], [0]]]"
    assert json_template(field_for(spec("s", "string", None))) == '[""]'


def test_an_image_input_needs_a_picture() -> None:
    signature = Signature.from_specs("s", [spec("images", "float32", [-1, 8, 8, 1])], [])
    with pytest.raises(InvalidArgument, match="choose or draw a picture"):
        predict_body(signature, {"images": None})
