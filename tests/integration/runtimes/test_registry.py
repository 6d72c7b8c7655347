"""Platform detection and load failures: a clear ModelLoadError or NotFound, never a crash."""

from pathlib import Path

import pytest

from modelserve import ModelLoadError, NotFound, load_model
from modelserve.runtimes.registry import detect_platform


@pytest.mark.parametrize(
    ("files", "platform"),
    [
        (["saved_model.pb", "variables/"], "tensorflow"),
        (["saved_model.pbtxt"], "tensorflow"),
        (["model.onnx"], "onnx"),
        (["anything.tflite", "labels.txt"], "tflite"),
        (["model.keras"], "keras"),
        (["weights.h5"], "keras"),
    ],
)
def test_detects_platform_of_a_version_folder(tmp_path: Path, files: list[str], platform: str):
    for name in files:
        (tmp_path / name).mkdir() if name.endswith("/") else (tmp_path / name).write_bytes(b"")
    assert detect_platform(tmp_path) == platform


def test_detects_file_by_suffix(tmp_path: Path):
    (tmp_path / "m.TFLite").write_bytes(b"")
    assert detect_platform(tmp_path / "m.TFLite") == "tflite"


def test_missing_path_is_not_found(tmp_path: Path):
    with pytest.raises(NotFound, match="does not exist"):
        load_model(tmp_path / "nope")


def test_empty_folder_says_what_it_expected(tmp_path: Path):
    with pytest.raises(ModelLoadError, match=r"no model in .*expected saved_model.pb"):
        load_model(tmp_path)


def test_unknown_suffix(tmp_path: Path):
    (tmp_path / "model.pt").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="cannot tell the format"):
        load_model(tmp_path / "model.pt")


def test_mixed_formats_need_an_explicit_platform(tmp_path: Path):
    (tmp_path / "a.onnx").write_bytes(b"")
    (tmp_path / "b.tflite").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="several formats"):
        load_model(tmp_path)


def test_unknown_platform(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="unknown platform 'pytorch'"):
        load_model(tmp_path, platform="pytorch")


@pytest.mark.parametrize("name", ["model.onnx", "model.tflite", "model.keras", "model.h5"])
def test_garbage_file_is_a_load_error(tmp_path: Path, name: str):
    (tmp_path / name).write_bytes(b"this is not a model at all" * 10)
    with pytest.raises(ModelLoadError, match=f"could not load .* model at .*{name}"):
        load_model(tmp_path / name)


def test_garbage_saved_model_is_a_load_error(tmp_path: Path):
    (tmp_path / "saved_model.pb").write_bytes(b"\x00\xffnot a protobuf")
    with pytest.raises(ModelLoadError, match="could not load tensorflow model"):
        load_model(tmp_path)


@pytest.mark.parametrize(
    "relative", ["digits_onnx/1/model.onnx", "digits_tflite/1/model.tflite", "digits_keras/1/model.keras"]
)
def test_truncated_real_model_is_a_load_error(examples_dir: Path, tmp_path: Path, relative: str):
    source = examples_dir / relative
    truncated = tmp_path / source.name
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="could not load"):
        load_model(truncated)


def test_truncated_saved_model_is_a_load_error(examples_dir: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "digits"
    shutil.copytree(examples_dir / "digits/1", copy)
    data = (copy / "saved_model.pb").read_bytes()
    (copy / "saved_model.pb").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError, match="could not load tensorflow model"):
        load_model(copy)


def test_saved_model_with_missing_variables_is_a_load_error(examples_dir: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "digits"
    shutil.copytree(examples_dir / "digits/1", copy)
    shutil.rmtree(copy / "variables")
    with pytest.raises(ModelLoadError, match="could not load tensorflow model"):
        load_model(copy)


def test_wrong_tags_name_the_tag_sets(examples_dir: Path):
    with pytest.raises(ModelLoadError, match=r"no MetaGraph tagged gpu .*tag-sets: serve"):
        load_model(examples_dir / "half_plus_two/00000123", saved_model_tags=("gpu",))
