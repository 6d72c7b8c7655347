"""Streaming prediction: ``modelserve stream`` consumes a Redis Stream or a Kafka topic in a consumer group.

Modules, one job each: :mod:`.messages` (the entry format in and out, no broker), :mod:`.config` (validated
settings and model resolution), :mod:`.predictor` (an entry's answer: the model behind the server's dynamic
batcher), :mod:`.metrics` (Prometheus), :mod:`.cli` (the command). Redis Streams: :mod:`.redis_worker`
(reading, claiming, heartbeats, draining) and :mod:`.writer` (acknowledgement and result in one atomic step).
Kafka: :mod:`.kafka_records` (the record format), :mod:`.kafka_offsets` (what may be committed),
:mod:`.kafka_io` (the confluent-kafka clients on their threads) and :mod:`.kafka_worker` (reading, producing,
committing, draining). Nothing here is imported by ``import modelserve``; ``redis`` and ``confluent_kafka`` are
imported only when a worker starts. See ``docs/streaming.md``.
"""
