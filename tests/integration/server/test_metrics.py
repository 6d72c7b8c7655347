"""Prometheus metrics from the real server: TF Serving's names and ours, after real traffic."""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests


def scrape(server, path: str = "/monitoring/prometheus/metrics") -> str:
    response = requests.get(server.url + path, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_after_traffic(start_server, examples_dir: Path, tmp_path: Path):
    config = tmp_path / "monitoring.config"
    config.write_text('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }')
    server = start_server(
        f"--model_base_path={examples_dir / 'half_plus_two'}", "--model_name=half_plus_two",
        f"--monitoring_config_file={config}", ready_path="/readyz",
    )  # fmt: skip
    url = server.url + "/v1/models/half_plus_two:predict"
    for _ in range(3):
        assert requests.post(url, data=json.dumps({"instances": [1.0, 2.0]}), timeout=10).status_code == 200
    assert requests.post(url, data=json.dumps({"instances": ["x"]}), timeout=10).status_code == 400
    text = scrape(server)
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert value(text, ":tensorflow:serving:request_count", model_name="half_plus_two", status="OK") == 3
    assert value(text, ":tensorflow:serving:request_count", model_name="half_plus_two", status="INVALID_ARGUMENT") == 1
    assert value(
        text, ":tensorflow:serving:request_latency_count", model_name="half_plus_two", API="predict", entrypoint="REST"
    ) == 3  # fmt: skip
    assert (
        value(text, ":tensorflow:serving:runtime_latency_count", model_name="half_plus_two", runtime="tensorflow") == 3
    )
    ours = dict(model="half_plus_two", version="124", signature="serving_default", protocol="rest", status="OK")
    assert value(text, "modelserve_requests_total", **ours) == 3
    assert value(text, "modelserve_request_duration_seconds_count", **ours) == 3
    assert value(text, "modelserve_batch_size_sum", model="half_plus_two", signature="serving_default") == 6
    assert value(text, "modelserve_model_version_state", model="half_plus_two", version="124", state="AVAILABLE") == 1
    assert value(text, "modelserve_model_load_seconds_count", model="half_plus_two") == 1
    assert re.search(r"^modelserve_in_flight_requests 0\.0$", text, re.MULTILINE)
    assert "modelserve_requests_total" in scrape(server, "/metrics")
