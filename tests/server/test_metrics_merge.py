"""Merging workers' Prometheus texts: sums for counts, the rule per gauge, names and comments kept exactly."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from modelserve.metrics.collectors import ServingMetrics
from modelserve.server.metrics_merge import merge_expositions

WORKER = """# HELP :tensorflow:serving:request_count The total number of requests.
# TYPE :tensorflow:serving:request_count counter
:tensorflow:serving:request_count{{model_name="m",status="OK"}} {count}
# HELP modelserve_in_flight_requests Model calls running or waiting.
# TYPE modelserve_in_flight_requests gauge
modelserve_in_flight_requests {in_flight}
# HELP modelserve_drift_p_value p-value of the latest window.
# TYPE modelserve_drift_p_value gauge
modelserve_drift_p_value{{model="m",feature="a b"}} {p}
# HELP modelserve_model_version_state Each model version's state (1 = the current one).
# TYPE modelserve_model_version_state gauge
modelserve_model_version_state{{model="m",version="1",state="AVAILABLE"}} {state}
# HELP modelserve_request_seconds Request time.
# TYPE modelserve_request_seconds histogram
modelserve_request_seconds_bucket{{le="0.1"}} {count}
modelserve_request_seconds_bucket{{le="+Inf"}} {count}
modelserve_request_seconds_count {count}
modelserve_request_seconds_sum 0.5
"""


def samples(text: bytes) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_counts_add_up_and_gauges_follow_their_rule() -> None:
    first = WORKER.format(count=3, in_flight=2, p=0.5, state=1).encode()
    second = WORKER.format(count=4, in_flight=5, p=0.001, state=1).encode()
    merged = merge_expositions([first, second])
    values = samples(merged)
    assert values[(":tensorflow:serving:request_count_total", (("model_name", "m"), ("status", "OK")))] == 7
    assert values[("modelserve_in_flight_requests", ())] == 7
    assert values[("modelserve_drift_p_value", (("feature", "a b"), ("model", "m")))] == 0.001
    assert values[("modelserve_model_version_state", (("model", "m"), ("state", "AVAILABLE"), ("version", "1")))] == 1
    assert values[("modelserve_request_seconds_bucket", (("le", "+Inf"),))] == 7
    assert values[("modelserve_request_seconds_sum", ())] == 1.0
    assert values[("modelserve_workers", ())] == 2
    assert b"# TYPE :tensorflow:serving:request_count counter\n" in merged  # TF Serving's name, no _total


def test_a_sample_only_one_worker_has_is_kept_in_its_family() -> None:
    first = WORKER.format(count=1, in_flight=0, p=0.5, state=1).encode()
    second = first.replace(b'version="1",state="AVAILABLE"', b'version="2",state="LOADING"')
    lines = merge_expositions([first, second]).decode().splitlines()
    start = lines.index("# TYPE modelserve_model_version_state gauge")
    assert lines[start + 1 : start + 3] == [
        'modelserve_model_version_state{model="m",version="1",state="AVAILABLE"} 1.0',
        'modelserve_model_version_state{model="m",version="2",state="LOADING"} 1.0',
    ]


def test_a_real_registry_survives_the_merge_of_one() -> None:
    metrics = ServingMetrics()
    text = metrics.exposition()
    assert {k: v for k, v in samples(merge_expositions([text])).items() if k[0] != "modelserve_workers"} == samples(
        text
    )
