"""Ground truth: true labels or values joined with the predictions answered under a request id, scored per
model version and traffic route.

    memory = Feedback(memory_requests=100_000, window_rows=1000)
    memory.remember("digits", "req-1", version=2, route="canary", prediction)   # the monitor, per answer
    memory.judge("digits", None, parse_feedback(body))   # {"rows": 3, "matched": 3, "unmatched": []}
    memory.scores()   # {(model, version, route): {"accuracy": ..., "f1": ..., "window_rows": ...}}

Contract:

* **Memory**: the last ``memory_requests`` answered requests per server (oldest forgotten first), keyed by
  model and request id (the ``x-request-id`` a caller may choose, so its own key can be the id). A request
  id answered twice keeps the later answer. About 320 bytes per one-row answer.
* **Rows**: each row of a request is judged at most once; a second label for it is refused in the answer
  (``unmatched``, with the reason), as are unknown ids, rows out of range and labels of the wrong kind.
* **Scores** per (model, version, route), over the latest ``window_rows`` judged rows: accuracy and macro
  precision, recall and F1 over the classes seen (classifiers), MAE and RMSE (regressors); plus running
  totals of rows and correct rows (the Prometheus counters alert rules take rates of).
* Not thread-safe: the monitor's thread owns it.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelserve.errors import InvalidArgument
from modelserve.monitoring.features import Prediction

__all__ = ["Feedback", "FeedbackItem", "parse_feedback"]

Label = int | float | str

NOT_REMEMBERED = "no answer of this model remembered under this request id"


@dataclass(frozen=True)
class FeedbackItem:
    """True labels for one request: for every row in order (``row`` None), or for row ``row``."""

    request_id: str
    labels: tuple[Label, ...]
    row: int | None = None


def _label(value: Any, where: str) -> Label:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidArgument(f"{where}: a label is a number or a string, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"{where}: a label must be finite")
    return value


def parse_feedback(body: Any) -> list[FeedbackItem]:
    """``{"feedback": [{"request_id": ID, "label"|"value": L, "row"?: i} | {"request_id": ID,
    "labels"|"values": [L, ...]}, ...]}``; InvalidArgument naming what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        raise InvalidArgument('a feedback request is {"feedback": [{"request_id": ..., "label": ...}, ...]}')
    items = []
    for i, item in enumerate(body["feedback"]):
        where = f"feedback[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{where} is not an object")
        request_id = item.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise InvalidArgument(f"{where}: request_id (the x-request-id of the answer) is missing")
        unknown = set(item) - {"request_id", "label", "value", "labels", "values", "row"}
        if unknown:
            raise InvalidArgument(f"{where}: unknown field(s) {sorted(unknown)}")
        one = [key for key in ("label", "value") if key in item]
        many = [key for key in ("labels", "values") if key in item]
        if len(one) + len(many) != 1:
            raise InvalidArgument(f"{where}: give exactly one of label, value, labels or values")
        row = item.get("row")
        if row is not None and (isinstance(row, bool) or not isinstance(row, int) or row < 0):
            raise InvalidArgument(f"{where}: row must be a row index (0 or more)")
        if many:
            values = item[many[0]]
            if not isinstance(values, list) or not values:
                raise InvalidArgument(f"{where}: {many[0]} must be a non-empty list")
            if row is not None:
                raise InvalidArgument(f"{where}: row goes with label or value, not with {many[0]}")
            items.append(FeedbackItem(request_id, tuple(_label(v, where) for v in values)))
        else:
            items.append(FeedbackItem(request_id, (_label(item[one[0]], where),), row))
    return items


class _Answered:
    """One remembered answer, compact (~300 bytes for one row): class ids or values and names as tuples,
    the rows already judged as a bit mask."""

    __slots__ = ("judged", "kind", "names", "route", "values", "version")

    def __init__(self, version: int, route: str, kind: str, values: tuple, names: tuple | None) -> None:
        self.version, self.route, self.kind = version, route, kind
        self.values, self.names = values, names
        self.judged = 0


@dataclass
class _Outcomes:
    """Judged rows of one (model, version, route): a window of (predicted, true) and running totals."""

    kind: str
    window: deque = field(default_factory=deque)
    rows: int = 0
    correct: int = 0

    def add(self, predicted: Label, truth: Label) -> None:
        self.window.append((predicted, truth))
        self.rows += 1
        self.correct += int(self.kind == "class" and predicted == truth)

    def scores(self) -> dict[str, float | int]:
        found: dict[str, float | int] = {"window_rows": len(self.window), "rows": self.rows}
        if not self.window:
            return found
        predicted, truth = (list(column) for column in zip(*self.window))
        if self.kind == "value":
            errors = np.asarray(predicted, np.float64) - np.asarray(truth, np.float64)
            found.update(mae=float(np.abs(errors).mean()), rmse=float(np.sqrt((errors**2).mean())))
            return found
        found["correct"] = self.correct
        hits = [p == t for p, t in zip(predicted, truth)]
        precisions, recalls, f1s = [], [], []
        for label in set(predicted) | set(truth):
            true_positive = sum(h for h, t in zip(hits, truth) if t == label)
            said = sum(1 for p in predicted if p == label)
            real = sum(1 for t in truth if t == label)
            precision = true_positive / said if said else 0.0
            recall = true_positive / real if real else 0.0
            precisions.append(precision)
            recalls.append(recall)
            f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        found.update(
            accuracy=sum(hits) / len(hits),
            precision=float(np.mean(precisions)),
            recall=float(np.mean(recalls)),
            f1=float(np.mean(f1s)),
        )
        return found


class Feedback:
    def __init__(self, memory_requests: int, window_rows: int) -> None:
        self.memory_requests = memory_requests
        self.window_rows = window_rows
        self._answered: OrderedDict[str, _Answered] = OrderedDict()  # "model\0request id" -> answer
        self.outcomes: dict[tuple[str, int, str], _Outcomes] = {}
        self.unmatched: dict[str, int] = {}  # model -> rows refused

    def remember(self, model: str, request_id: str, version: int, route: str, prediction: Prediction) -> None:
        self.remember_block(model, version, prediction, [(request_id, route, prediction.values.size)])

    def remember_block(
        self, model: str, version: int, prediction: Prediction, answers: list[tuple[str, str, int]]
    ) -> None:
        """The answers of one block of rows: ``(request id, route, rows)`` each, in row order (an empty id:
        skipped, its rows still counted)."""
        values = prediction.values.tolist()
        names = prediction.names.tolist() if prediction.names is not None else None
        answered, start = self._answered, 0
        for request_id, route, size in answers:
            if request_id:
                key = f"{model}\0{request_id}"
                answered.pop(key, None)
                row_names = tuple(names[start : start + size]) if names is not None else None
                answered[key] = _Answered(
                    version, route, prediction.kind, tuple(values[start : start + size]), row_names
                )
            start += size
        while len(answered) > self.memory_requests:
            answered.popitem(last=False)

    def judge(self, model: str, version: int | None, items: list[FeedbackItem]) -> dict[str, Any]:
        """Join ``items`` with what was answered; the answer counts rows given and matched, and lists each
        item (or row) refused with its reason."""
        return self.summary(model, items, self.reasons(model, version, items))

    def reasons(self, model: str, version: int | None, items: list[FeedbackItem]) -> list[dict[str, Any] | None]:
        """Join each item (None) or say why it cannot be joined, counting nothing as unmatched (what another
        worker of the server asks for the items it does not remember: :data:`NOT_REMEMBERED`)."""
        return [self._judge(model, version, item) for item in items]

    def summary(self, model: str, items: list[FeedbackItem], reasons: list[dict[str, Any] | None]) -> dict[str, Any]:
        """The answer to a feedback request from each item's outcome; refused rows are counted."""
        given = matched = 0
        unmatched: list[dict[str, Any]] = []
        for item, reason in zip(items, reasons):
            given += len(item.labels)
            if reason is None:
                matched += len(item.labels)
            else:
                unmatched.append({"request_id": item.request_id, **reason})
        refused = given - matched
        if refused:
            self.unmatched[model] = self.unmatched.get(model, 0) + refused
        return {"rows": given, "matched": matched, "unmatched": unmatched}

    def _judge(self, model: str, version: int | None, item: FeedbackItem) -> dict[str, Any] | None:
        answered = self._answered.get(f"{model}\0{item.request_id}")
        if answered is None:
            return {"reason": NOT_REMEMBERED}
        if version is not None and answered.version != version:
            return {"reason": f"answered by version {answered.version}, not {version}"}
        size = len(answered.values)
        if item.row is None and len(item.labels) != size:
            return {"reason": f"the answer had {size} row(s), {len(item.labels)} label(s) given"}
        rows = range(size) if item.row is None else [item.row]
        if item.row is not None and item.row >= size:
            return {"reason": f"row {item.row} is out of range: the answer had {size} row(s)"}
        mask = sum(1 << row for row in rows)
        if answered.judged & mask:
            return {"reason": "a row of this answer already has feedback"}
        pairs = []
        for row, label in zip(rows, item.labels):
            pair = _pair(answered, row, label)
            if isinstance(pair, str):
                return {"reason": pair, "row": row}
            pairs.append(pair)
        outcomes = self.outcomes.get((model, answered.version, answered.route))
        if outcomes is None:
            outcomes = _Outcomes(answered.kind, deque(maxlen=self.window_rows))
            self.outcomes[(model, answered.version, answered.route)] = outcomes
        for predicted, truth in pairs:
            outcomes.add(predicted, truth)
        answered.judged |= mask
        return None

    def scores(self, model: str | None = None) -> dict[tuple[str, int, str], dict[str, float | int]]:
        """Scores by (model, version, route), of one model's routes when ``model`` is given."""
        return {key: found.scores() for key, found in self.outcomes.items() if model is None or key[0] == model}


def _pair(prediction: _Answered, row: int, label: Label) -> tuple[Label, Label] | str:
    """(predicted, true) of one row, compared like for like; a string: why they cannot be compared."""
    if prediction.kind == "value":
        if isinstance(label, str):
            return f"label {label!r} is not a number: the model answers values"
        return float(prediction.values[row]), float(label)
    if isinstance(label, str):
        if prediction.names is not None:
            return str(prediction.names[row]), label
        if label.strip().lstrip("-").isdigit():
            return int(prediction.values[row]), int(label)
        return f"label {label!r} is a name, but the model answers class ids only"
    if isinstance(label, float) and not label.is_integer():
        return f"label {label} is not a class id"
    return int(prediction.values[row]), int(label)
