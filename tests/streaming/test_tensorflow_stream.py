"""``modelserve stream`` on a TensorFlow SavedModel (multiply_five): exact results, and predictions that
TensorFlow refuses at run time go to the dead-letter stream without taking their batch-mates with them."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
from stream_helpers import results_by_input, wait_for

pytestmark = pytest.mark.slow


def test_multiply_five_results_are_exact_and_refused_inputs_are_dead_lettered(
    redis_server, start_worker, examples_dir: Path
):
    from modelserve import load_model

    client = redis_server.client
    model_path = examples_dir / "multiply_five"
    pipe = client.pipeline(transaction=False)
    inputs = []
    for i in range(40):
        x = (np.arange(1 + i % 4, dtype=np.float32).reshape(-1, 1) + i) / 8  # 1-4 rows of [x]
        inputs.append(x)
        pipe.xadd("tf:in", {"key": f"k{i}", "request": json.dumps({"instances": x.tolist()})})
    for i in range(3):  # [N, 2] passes JSON decoding (TensorFlow models check shapes themselves), then fails
        pipe.xadd("tf:in", {"key": f"bad{i}", "request": json.dumps({"instances": [[1.0, 2.0]] * (i + 1)})})
    ids = pipe.execute()
    good = dict(zip(ids[:40], inputs))
    bad = ids[40:]
    worker = start_worker(
        "tf:in", "g", "w1", model_path, "--signature", "predict", "--block-ms", "200",
        "--batch-timeout-micros", "20000",
    )  # fmt: skip

    with load_model(model_path / "1") as model:  # while the worker loads its own copy
        expected = {entry_id: model.predict({"x": x}, signature="predict")["output_0"] for entry_id, x in good.items()}

    def done() -> bool:
        assert client.xlen("tf:in:dead") <= 3, client.xrange("tf:in:dead", count=1)  # fail fast, with a reason
        return client.xlen("tf:in:results") >= 40 and client.xlen("tf:in:dead") == 3

    wait_for(done, 60, "40 results and 3 dead letters")
    results = results_by_input(client, "tf:in:results")
    assert sorted(results) == sorted(good) and all(len(r) == 1 for r in results.values())
    for entry_id in good:
        fields = results[entry_id][0]
        assert (fields[b"model"], fields[b"version"], fields[b"signature"]) == (b"multiply_five", b"1", b"predict")
        y = np.array(json.loads(fields[b"response"])["predictions"], np.float32)
        np.testing.assert_array_equal(y, expected[entry_id])
    letters = {fields[b"id"]: fields for _, fields in client.xrange("tf:in:dead")}
    assert sorted(letters) == sorted(bad)
    for letter in letters.values():
        assert letter[b"code"] == b"INVALID_ARGUMENT"
        # [-1, 1] is rank 2: the gate leaves the shape to TensorFlow, as TF Serving does, and TF refuses it
        assert letter[b"reason"].startswith(b"TensorFlow rejected the input"), letter[b"reason"]
    assert client.xpending("tf:in", "g")["pending"] == 0
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
