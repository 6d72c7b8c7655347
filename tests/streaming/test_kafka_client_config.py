"""``--kafka-config`` settings reach the right librdkafka client."""

from __future__ import annotations

import pytest

pytest.importorskip("confluent_kafka")

from modelserve.streaming.kafka_io import split_client_config


def test_prefixed_settings_go_to_one_client_and_the_rest_to_both():
    pairs = (("security.protocol", "SSL"), ("consumer.session.timeout.ms", "6000"), ("producer.linger.ms", "5"))
    assert split_client_config(pairs) == (
        {"security.protocol": "SSL"}, {"session.timeout.ms": "6000"}, {"linger.ms": "5"},
    )  # fmt: skip
