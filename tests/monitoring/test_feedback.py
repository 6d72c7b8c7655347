"""Ground truth joined with remembered answers, scored like scikit-learn scores them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from modelserve.errors import InvalidArgument
from modelserve.monitoring.features import Prediction
from modelserve.monitoring.feedback import Feedback, parse_feedback


def test_scores_equal_scikit_learns_for_the_same_rows() -> None:
    rng = np.random.default_rng(0)
    predicted, truth = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    memory = Feedback(memory_requests=1000, window_rows=1000)
    for i in range(0, 300, 10):
        memory.remember("m", f"r{i}", 1, "canary", Prediction("class", predicted[i : i + 10]))
    body = {"feedback": [{"request_id": f"r{i}", "labels": truth[i : i + 10].tolist()} for i in range(0, 300, 10)]}
    assert memory.judge("m", None, parse_feedback(body)) == {"rows": 300, "matched": 300, "unmatched": []}
    scores = memory.scores()[("m", 1, "canary")]
    assert scores["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert scores["f1"] == pytest.approx(metrics.f1_score(truth, predicted, average="macro"))
    assert scores["precision"] == pytest.approx(metrics.precision_score(truth, predicted, average="macro"))
    assert scores["recall"] == pytest.approx(metrics.recall_score(truth, predicted, average="macro"))
    assert scores["correct"] == int((truth == predicted).sum()) and scores["window_rows"] == 300


def test_regression_scores_and_the_window() -> None:
    memory = Feedback(memory_requests=10, window_rows=2)
    memory.remember("m", "a", 1, "", Prediction("value", np.array([1.0, 2.0, 4.0])))
    memory.judge("m", None, parse_feedback({"feedback": [{"request_id": "a", "values": [1.0, 3.0, 2.0]}]}))
    scores = memory.scores()[("m", 1, "")]
    assert scores["rows"] == 3 and scores["window_rows"] == 2  # the window keeps the latest 2
    assert scores["mae"] == pytest.approx(1.5) and scores["rmse"] == pytest.approx(np.sqrt(2.5))


def test_refusals_name_their_reason() -> None:
    memory = Feedback(memory_requests=2, window_rows=100)
    memory.remember("m", "one", 1, "", Prediction("class", np.array([3]), np.array(["three"], dtype=object)))
    memory.remember("m", "two", 2, "", Prediction("class", np.array([1, 2])))
    memory.remember("m", "three", 2, "", Prediction("class", np.array([1])))  # "one" is forgotten (memory 2)
    items = parse_feedback({"feedback": [
        {"request_id": "one", "label": 3}, {"request_id": "two", "label": 1},
        {"request_id": "two", "row": 5, "label": 1}, {"request_id": "three", "label": "x"},
        {"request_id": "two", "row": 1, "label": 2}, {"request_id": "two", "row": 1, "label": 2},
    ]})  # fmt: skip
    answer = memory.judge("m", None, items)
    reasons = [u["reason"] for u in answer["unmatched"]]
    assert answer["matched"] == 1 and answer["rows"] == 6
    assert "no answer" in reasons[0] and "2 row(s), 1 label(s)" in reasons[1] and "out of range" in reasons[2]
    assert "is a name" in reasons[3] and "already has feedback" in reasons[4]
    assert (
        memory.judge("m", 1, parse_feedback({"feedback": [{"request_id": "three", "label": 1}]}))["unmatched"][0][
            "reason"
        ]
        == "answered by version 2, not 1"
    )
    memory.remember("m", "named", 1, "", Prediction("class", np.array([3]), np.array(["three"], dtype=object)))
    assert (
        memory.judge("m", None, parse_feedback({"feedback": [{"request_id": "named", "label": "three"}]}))["matched"]
        == 1
    )


@pytest.mark.parametrize(
    "body, message",
    [
        ([], "a feedback request is"),
        ({"feedback": [1]}, "is not an object"),
        ({"feedback": [{"label": 1}]}, "request_id"),
        ({"feedback": [{"request_id": "a"}]}, "exactly one of"),
        ({"feedback": [{"request_id": "a", "label": 1, "labels": [1]}]}, "exactly one of"),
        ({"feedback": [{"request_id": "a", "label": True}]}, "a number or a string"),
        ({"feedback": [{"request_id": "a", "label": [1]}]}, "a number or a string"),
        ({"feedback": [{"request_id": "a", "labels": []}]}, "non-empty list"),
        ({"feedback": [{"request_id": "a", "label": 1, "row": -1}]}, "row must be"),
        ({"feedback": [{"request_id": "a", "labels": [1], "row": 0}]}, "row goes with"),
        ({"feedback": [{"request_id": "a", "label": 1, "extra": 2}]}, "unknown field"),
        ({"feedback": [{"request_id": "a", "value": float("nan")}]}, "finite"),
    ],
)
def test_malformed_feedback_is_refused_with_what_is_wrong(body: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_feedback(body)
