"""How answers are drawn: ranked labels with names, pictures, tables, JSON; both predict answer forms."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from modelserve.console.rendering import outputs_of_answer, shown_outputs
from modelserve.types import Signature, TensorSpec


def spec(name: str, dtype: str, shape) -> TensorSpec:
    return TensorSpec(name, dtype, tuple(shape))


DIGITS = Signature.from_specs(
    "serving_default",
    [spec("images", "float32", [-1, 8, 8, 1])],
    [spec("probabilities", "float32", [-1, 10]), spec("class_index", "int64", [-1])],
)


def test_probabilities_become_ranked_labels_named_by_labels_txt(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("\n".join(f"digit {i}" for i in range(10)))
    probabilities = [[0.0] * 7 + [0.9, 0.1, 0.0]]
    shown = shown_outputs(DIGITS, {"probabilities": probabilities, "class_index": [7]}, tmp_path)
    assert [s.kind for s in shown] == ["labels", "table"]
    assert max(shown[0].value, key=shown[0].value.get) == "digit 7"
    assert shown_outputs(DIGITS, {"probabilities": probabilities, "class_index": [7]})[0].value["7"] == 0.9


def test_scores_take_their_names_from_a_string_output_of_the_same_shape() -> None:
    signature = Signature.from_specs("s", [], [spec("labels", "string", [-1, 3]), spec("scores", "float32", [-1, 3])])
    shown = shown_outputs(signature, {"labels": [["seven", "one", "nine"]], "scores": [[0.8, 0.15, 0.05]]})
    assert len(shown) == 1 and shown[0].value == {"seven": 0.8, "one": 0.15, "nine": 0.05}


def test_pictures_from_bytes_and_from_pixels() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 128, 255)).save(buffer, format="PNG")
    signature = Signature.from_specs(
        "s", [], [spec("image_bytes", "string", [-1]), spec("pixels", "float32", [-1, 16, 16, 1])]
    )
    outputs = {"image_bytes": [{"b64": base64.b64encode(buffer.getvalue()).decode()}],
               "pixels": [[[[x / 15.0] for x in range(16)] for _ in range(16)]]}  # fmt: skip
    shown = shown_outputs(signature, outputs)
    assert [s.kind for s in shown] == ["image", "image"]
    assert shown[0].value.size == (16, 16) and shown[1].value.getpixel((15, 0)) == 255


def test_logits_outside_0_1_are_a_table_and_deep_values_json() -> None:
    signature = Signature.from_specs(
        "s", [], [spec("logits", "float32", [-1, 3]), spec("deep", "float32", [-1, 2, 2, 2])]
    )
    shown = shown_outputs(signature, {"logits": [[-2.0, 5.0, 1.0]], "deep": [[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]]})
    assert [s.kind for s in shown] == ["table", "json"]


def test_both_answer_forms_give_outputs_by_name() -> None:
    one = Signature.from_specs("s", [], [spec("y", "float32", [-1, 1])])
    assert outputs_of_answer(one, {"outputs": [[2.5]]}) == {"y": [[2.5]]}
    assert outputs_of_answer(one, {"predictions": [[2.5]]}) == {"y": [[2.5]]}
    assert outputs_of_answer(DIGITS, {"outputs": {"probabilities": [[1.0]], "class_index": [0]}}) == {
        "probabilities": [[1.0]], "class_index": [0]
    }  # fmt: skip
    rows = {"predictions": [{"probabilities": [1.0], "class_index": 0}, {"probabilities": [0.0], "class_index": 1}]}
    assert outputs_of_answer(DIGITS, rows) == {"probabilities": [[1.0], [0.0]], "class_index": [0, 1]}
