"""aspired_versions is a pure function: a table of cases."""

import pytest

from modelserve.config import All, Latest, Specific
from modelserve.serving.policy import aspired_versions


@pytest.mark.parametrize(
    ("candidates", "policy", "expected"),
    [
        ([1, 2, 3], Latest(1), {3}),
        ([1, 2, 3], Latest(2), {2, 3}),
        ([1], Latest(5), {1}),
        ([], Latest(1), set()),
        ([3, 1, 2], All(), {1, 2, 3}),
        ([1, 2, 3], Specific((1, 3, 9)), {1, 3}),
    ],
)
def test_aspired_versions(candidates, policy, expected):
    assert aspired_versions(candidates, policy) == expected


def test_latest_needs_a_positive_count():
    with pytest.raises(ValueError):
        Latest(0)
