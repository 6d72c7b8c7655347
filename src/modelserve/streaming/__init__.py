"""Streaming prediction: ``modelserve stream`` consumes a Redis Stream in a consumer group.

Modules, one job each: :mod:`.messages` (the entry format in and out, no Redis), :mod:`.config` (validated
settings and model resolution), :mod:`.predictor` (the model behind the server's dynamic batcher),
:mod:`.metrics` (Prometheus), :mod:`.redis_worker` (reading, claiming, heartbeats, draining), :mod:`.writer`
(acknowledgement and result in one atomic step) and :mod:`.cli` (the command). Nothing here is imported by
``import modelserve``; ``redis`` is imported only when a worker starts. See ``docs/streaming.md``.
"""
