"""Which file or version folder a batch pipeline loads (modelserve.batch.locate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelserve.batch.locate import ModelSource, resolve
from modelserve.errors import InvalidArgument, NotFound


def test_base_folder_resolves_to_the_newest_version(scale_repo: Path):
    found = resolve(ModelSource(str(scale_repo / "scale")))
    assert (found.path, found.name, found.version, found.model_id) == (
        scale_repo / "scale" / "2",
        "scale",
        2,
        "scale:2",
    )


def test_version_folder_file_and_repository_forms(scale_repo: Path):
    assert resolve(ModelSource(str(scale_repo / "scale" / "1"))).model_id == "scale:1"
    assert resolve(ModelSource(str(scale_repo / "scale" / "1" / "model.onnx"))).model_id == "scale:1"
    assert resolve(ModelSource.in_repository(scale_repo, "scale", version=1)).path == scale_repo / "scale" / "1"


def test_a_watched_saved_model_file_stands_for_its_folder(tmp_path: Path):
    source = ModelSource(str(tmp_path), version=3).with_path(str(tmp_path / "m" / "7" / "saved_model.pb"))
    assert source.path == str(tmp_path / "m" / "7")
    assert source.version is None


def test_labels_come_from_tf_servings_model_config_file(scale_repo: Path, tmp_path: Path):
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list { config { name: 'scale' base_path: '%s' "
        "version_labels { key: 'stable' value: 1 } version_labels { key: 'canary' value: 2 } } }"
        % (scale_repo / "scale")
    )
    assert resolve(ModelSource(name="scale", label="stable", model_config_file=str(config))).model_id == "scale:1"
    assert resolve(ModelSource(str(scale_repo / "scale"), label="canary", model_config_file=str(config))).version == 2
    with pytest.raises(NotFound, match=r"no label .beta..*its labels: canary, stable"):
        resolve(ModelSource(name="scale", label="beta", model_config_file=str(config)))


def test_errors_say_what_is_wrong(scale_repo: Path):
    with pytest.raises(NotFound, match=r"has no version 9 .* versions there: 1, 2"):
        resolve(ModelSource(str(scale_repo / "scale"), version=9))
    with pytest.raises(NotFound, match="does not exist"):
        resolve(ModelSource(str(scale_repo / "nope")))
    with pytest.raises(InvalidArgument, match="is not version 2"):
        resolve(ModelSource(str(scale_repo / "scale" / "1"), version=2))
    with pytest.raises(InvalidArgument, match="label 'x' needs a base folder"):
        resolve(ModelSource(str(scale_repo / "scale" / "1"), label="x"))
    with pytest.raises(InvalidArgument, match="not both"):
        resolve(ModelSource(str(scale_repo / "scale"), version=1, label="x"))
