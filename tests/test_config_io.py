"""TF Serving's text-proto model config file: parsed into typed config, errors name the line."""

from pathlib import Path

import pytest

from modelserve.config import All, Latest, Specific
from modelserve.config_io import parse_model_config
from modelserve.errors import InvalidArgument

CONFIG = """
# two models
model_config_list {
  config {
    name: 'half'
    base_path: "/models/half_plus_two"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 123 versions: 124 } }
    version_labels { key: "stable" value: 123 }
    version_labels { key: "canary" value: 124 }
  }
  config: { name: "digits", base_path: "digits", model_version_policy: { all: {} } }
  config { name: "three" base_path: "/m/3" model_version_policy { latest { num_versions: 2 } } }
}
"""


def test_parses_models_policies_and_labels(tmp_path: Path):
    half, digits, three = parse_model_config(CONFIG, tmp_path / "models.config")
    assert half.name == "half"
    assert half.base_path == Path("/models/half_plus_two")
    assert half.platform == "tensorflow"
    assert half.policy == Specific((123, 124))
    assert half.labels == (("stable", 123), ("canary", 124))
    assert digits.base_path == tmp_path / "digits"  # relative to the config file
    assert digits.policy == All()
    assert three.policy == Latest(2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_config_list { config { name: 'a' } }", "x.config:1: missing 'base_path'"),
        (
            "model_config_list {\n config { name: 'a' base_path: '/a' }\n config { name: 'a' base_path: '/b' } }",
            "x.config:3: duplicate model name 'a'",
        ),
        (
            "model_config_list {\n  config { name: 'a' base_path: '/a' colour: 'red' } }",
            "x.config:2: unknown field 'colour' in config",
        ),
        (
            "model_config_list { config { name: 'a' base_path: '/a' \n model_platform: 'pytorch' } }",
            "x.config:2: unknown model_platform 'pytorch'",
        ),
        ("model_config_list { config { name: 'a' base_path: '/a'\n", "missing '}'"),
        (
            "model_config_list { config { name: 'a' base_path: '/a' model_version_policy { latest {} all {} } } }",
            "exactly one of latest",
        ),
        ("model_config_list { config { name: 'a' base_path: '/a' ?", "x.config:1: unexpected character '?'"),
        ("", "missing 'model_config_list'"),
    ],
)
def test_errors_name_the_line_and_the_problem(text: str, message: str):
    with pytest.raises(InvalidArgument) as err:
        parse_model_config(text, Path("x.config"))
    assert message in err.value.message
