"""Records to rows and back (modelserve.batch.records, rows, tfrecord): every format, every refusal."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from modelserve.batch.info import ModelInfo, TensorInfo
from modelserve.batch.records import Decoder, RecordId, dead_letter, format_for, jsonable, output_record, parse_example
from modelserve.batch.rows import coerce_row, fit_batch, split_rows, stack_rows
from modelserve.batch.tfrecord import read_records, write_records
from modelserve.errors import FailedPrecondition, InvalidArgument
from modelserve.protocols.tfs.tf_example import Feature, encode_example

SCALE = ModelInfo(
    "scale:1", "serving_default", (TensorInfo("x", "float32", (-1, 1)),), (TensorInfo("y", "float32", (-1, 1)),)
)
TWO = ModelInfo(
    "two:1",
    "serving_default",
    (TensorInfo("images", "float32", (-1, 2, 2, 1)), TensorInfo("tag", "string", (-1,))),
    (TensorInfo("out", "float32", (-1,)),),
)
EXAMPLES = ModelInfo("m:1", "serving_default", (TensorInfo("examples", "string", (-1,)),), ())


def test_jsonl_fields_by_input_name_scalars_reshaped_and_keys():
    decode = Decoder(TWO, "jsonl", key_field="id")
    record_id, row = decode(("a.jsonl:3", '{"id": 17, "images": [[[1], [2]], [[3], [4]]], "tag": "t", "extra": 1}'))
    assert record_id == RecordId("17", "a.jsonl:3")
    assert row["images"].dtype == np.float32 and row["images"].shape == (2, 2, 1)
    assert row["tag"].item() == b"t"
    _, row = Decoder(SCALE, "jsonl")(("a.jsonl:4", "5"))  # a bare value for a one-input signature
    assert row["x"].tolist() == [5.0]
    _, row = Decoder(TWO, "jsonl")(("a:1", '{"images": [1, 2, 3, 4], "tag": {"b64": "AAE="}}'))
    assert row["images"].shape == (2, 2, 1) and row["tag"].item() == b"\x00\x01"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"tag": "t"}', "missing input 'images' .* the record has: tag"),
        ('{"images": [1, 2, 3], "tag": "t"}', r"input 'images': each example must have shape \[2, 2, 1\], got \[3\]"),
        ('{"images": [1, 2, 3, 4], "tag": 5}', "input 'tag' expects string"),
        ('{"images": "abcd", "tag": "t"}', "input 'images' expects float32"),
        ("{not json", "not valid JSON"),
        ('{"images": [1, 2, 3, 4], "tag": {"b64": "@@"}}', "not valid base64"),
    ],
)
def test_jsonl_refusals_name_the_problem(line: str, message: str):
    with pytest.raises(InvalidArgument, match=message):
        Decoder(TWO, "jsonl")(("f.jsonl:1", line))


def test_missing_key_field_is_refused():
    with pytest.raises(InvalidArgument, match="no key field 'id'"):
        Decoder(SCALE, "jsonl", key_field="id")(("f:1", '{"x": 1}'))


def test_csv_cells_numbers_json_lists_and_text():
    _, row = Decoder(SCALE, "csv")(("f.csv:2", {"x": " 2.5 ", "other": "z"}))
    assert row["x"].tolist() == [2.5]
    record_id, row = Decoder(TWO, "csv", key_field="k")(("f.csv:3", {"k": "r1", "images": "[1,2,3,4]", "tag": "hi"}))
    assert record_id.key == "r1" and row["tag"].item() == b"hi" and row["images"].sum() == 10
    with pytest.raises(InvalidArgument, match="column 'x': 'abc' is not a number"):
        Decoder(SCALE, "csv")(("f.csv:4", {"x": "abc"}))


def test_tfrecord_examples_whole_or_by_feature():
    data = encode_example({"x": Feature("float", [4.0]), "id": Feature("bytes", [b"q1"])})
    _, row = Decoder(EXAMPLES, "tfrecord")(("f#0", data))
    assert row["examples"].item() == data  # one string input: the serialized Example itself
    record_id, row = Decoder(EXAMPLES, "tfrecord", key_field="id")(("f#0", data))
    assert record_id.key == "q1" and row["examples"].item() == data
    record_id, row = Decoder(SCALE, "tfrecord", key_field="id")(("f#1", data))
    assert record_id.key == "q1" and row["x"].dtype == np.float32 and row["x"].tolist() == [4.0]
    with pytest.raises(InvalidArgument, match=r"not a serialized tf\.train\.Example"):
        Decoder(SCALE, "tfrecord")(("f#2", b"\xff\xff\xff"))


def test_parse_example_reads_what_tensorflow_writes():
    tf = pytest.importorskip("tensorflow")
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "f": tf.train.Feature(float_list=tf.train.FloatList(value=[1.5, -2.0])),
                "i": tf.train.Feature(int64_list=tf.train.Int64List(value=[-3, 2**40])),
                "b": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a", b"\x00"])),
            }
        )
    )
    parsed = parse_example(example.SerializeToString())
    assert parsed["f"].tolist() == [1.5, -2.0] and parsed["f"].dtype == np.float32
    assert parsed["i"].tolist() == [-3, 2**40] and parsed["i"].dtype == np.int64
    assert parsed["b"].tolist() == [b"a", b"\x00"]


def test_images_decoded_resized_and_scaled(examples_dir: Path, digits):
    images, _labels = digits
    info = ModelInfo("d:1", "serving_default", (TensorInfo("images", "float32", (-1, 8, 8, 1)),), ())
    png = (examples_dir / "digits_png" / "digit_3_2.png").read_bytes()  # test image 2, upscaled 4x
    _, row = Decoder(info, "images")(("digit_3_2.png", png))
    assert row["images"].shape == (8, 8, 1) and row["images"].dtype == np.float32
    np.testing.assert_allclose(row["images"], images[2], atol=0.5 / 255)  # box resize undoes the 4x upscale
    raw = ModelInfo("d:1", "from_bytes", (TensorInfo("image_bytes", "string", (-1,)),), ())
    assert Decoder(raw, "images")(("x.png", png))[1]["image_bytes"].item() == png
    with pytest.raises(InvalidArgument, match="cannot decode the image"):
        Decoder(info, "images")(("bad.png", b"not an image"))
    with pytest.raises(InvalidArgument, match="images need a signature with one input"):
        Decoder(TWO, "images")


def test_rows_stack_fit_and_split():
    rows = [{"x": np.float32(1)}, {"x": np.float32(2)}]
    stacked = fit_batch(SCALE, stack_rows(rows, SCALE.input_names), 2)
    assert stacked["x"].shape == (2, 1)
    with pytest.raises(InvalidArgument, match="different shapes"):
        stack_rows([{"x": np.zeros(1)}, {"x": np.zeros(2)}], ["x"])
    with pytest.raises(InvalidArgument, match="row 1 of the batch has no input 'x'"):
        stack_rows([{"x": 1.0}, {"y": 1.0}], ["x"])
    assert [r["y"].tolist() for r in split_rows({"y": np.array([[1.0], [2.0]])}, 2)] == [[1.0], [2.0]]
    with pytest.raises(FailedPrecondition, match="cannot be split per example"):
        split_rows({"y": np.zeros(3)}, 2)
    assert coerce_row(SCALE, 7)["x"].tolist() == [7.0]


def test_json_output_and_dead_letters():
    record = output_record(
        RecordId("k", "f:1"),
        {"y": np.float32(1.5), "s": b"\xff", "t": np.array([b"a"], dtype=object)},
        "m:1",
        {"x": 1},
        True,
    )
    assert record == {
        "key": "k",
        "model": "m:1",
        "inputs": {"x": 1},
        "outputs": {"y": 1.5, "s": {"b64": "/w=="}, "t": ["a"]},
    }
    letter = dead_letter(RecordId("k", "f:1"), "f:1", "decode", InvalidArgument("bad"), b"\x00")
    assert letter == {
        "key": "k",
        "source": "f:1",
        "stage": "decode",
        "error": "INVALID_ARGUMENT: bad",
        "record": {"b64": "AA=="},
    }
    assert jsonable(np.array([[1, 2]], dtype=np.int64)) == [[1, 2]]
    assert format_for("a/b.JSONL") == "jsonl" and format_for("x.png") == "images" and format_for("x.bin") is None


def test_tfrecord_framing_agrees_with_beams_reader_and_writer(tmp_path: Path):
    import apache_beam as beam

    from modelserve.batch.runners import local_runner_options

    records = [b"", b"abc", bytes(range(256)) * 40]
    ours = tmp_path / "ours.tfrecord"
    with ours.open("wb") as f:
        write_records(f, records)
    with beam.Pipeline(options=local_runner_options(workers=1)) as p:
        read = p | "ReadOurs" >> beam.io.ReadFromTFRecord(str(ours))
        _ = read | beam.io.WriteToTFRecord(str(tmp_path / "beams"), num_shards=1)
    with next(tmp_path.glob("beams-*")).open("rb") as f:
        assert sorted(read_records(f)) == sorted(records)
    corrupt = bytearray(ours.read_bytes())
    corrupt[-1] ^= 1
    with pytest.raises(InvalidArgument, match="corrupted data of record 2"):
        list(read_records(io.BytesIO(bytes(corrupt)), "x"))
    with pytest.raises(InvalidArgument, match="truncated"):
        list(read_records(io.BytesIO(bytes(corrupt[:-10])), "x"))
