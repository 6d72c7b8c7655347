"""The serving core every caller goes through: ``ModelService.infer(InferRequest) -> InferResponse``.

    response = await service.infer(InferRequest(ModelRef("digits"), {"images": batch}))
    response.version, response.outputs["class_index"]

One call, the same for the four front doors, warmup's checks, the stream worker, the Beam handler and
``Model.predict``:

1. resolve the :class:`~modelserve.types.ModelRef`: a version, a label, or (naming neither) the model's
   traffic policy with the request's routing key, else the newest version; the version stays borrowed
   until the call ends, so an unload waits for it;
2. look up the signature (:class:`~modelserve.errors.SignatureNotFound` when missing);
3. pass the inputs through the one input gate (:func:`~modelserve.serving.inputs.admit`) and check the
   requested output names, all before anything runs;
4. dispatch (:class:`~modelserve.serving.dispatch.Dispatcher`: inline, model threads or the batcher, within
   ``max_in_flight`` and the request's deadline);
5. count the route and mirror shadows (:class:`~modelserve.serving.releases.Releases`), and answer with the
   version that ran and the requested outputs.

Every request and every model execution is counted in the version's statistics
(:mod:`modelserve.serving.statistics`, what Triton's statistics extension reports); a model's config override
(:meth:`load_model`) may cap a request's rows (``max_batch_size``), checked with the inputs.

Decoders that need a signature before they can decode (TF Serving JSON needs dtypes) call
:meth:`signature`; metadata APIs call :meth:`describe`. Nothing outside ``serving`` touches a runtime object.

Two kinds of service: ``ModelService(config)`` is a server's (models from the config, polled, reloadable,
built by ``server/main.py``); :meth:`ModelService.local` serves one model already in memory, with no
network, for the in-memory API, Beam and stream workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from modelserve.access.scopes import check_predict, check_signature_lookup
from modelserve.config import DispatchOptions, ModelConfig, ServerConfig, TrafficConfig
from modelserve.config_io import read_traffic_file
from modelserve.errors import InvalidArgument, NotFound
from modelserve.metrics.collectors import ServingMetrics, rows_of
from modelserve.monitoring.request_log import REQUEST_ID, LogSettings, RequestLog, entry_for
from modelserve.runtimes.base import LoadedModel, RuntimeOptions
from modelserve.serving.catalog import LoaderFactory, ModelCatalog, runtime_loader
from modelserve.serving.changes import SharedChanges
from modelserve.serving.dispatch import Dispatcher
from modelserve.serving.handle import ServedVersion
from modelserve.serving.inputs import admit, check_outputs, select_outputs
from modelserve.serving.monitored import Monitored
from modelserve.serving.pipeline import is_pipeline, load_pipeline
from modelserve.serving.releases import Releases
from modelserve.serving.reload import ConfigReloader
from modelserve.serving.single import SingleModelCatalog
from modelserve.serving.state import VersionStatus
from modelserve.serving.statistics import StatisticsSnapshot
from modelserve.serving.traffic import TrafficStats
from modelserve.serving.warmup import WarmupReaders, warmup_for
from modelserve.types import InferRequest, InferResponse, ModelRef, ModelView, Signature


class ModelService(SharedChanges, Monitored):
    """Models by name, versions by number or label, bounded work. Thread-safe: :meth:`infer` runs on the
    event loop; :meth:`infer_now`, the lookups and the lifecycle calls on any thread (reloads block)."""

    def __init__(
        self,
        config: ServerConfig,
        metrics: ServingMetrics | None = None,
        *,
        loader: LoaderFactory = runtime_loader,
        warmup_readers: WarmupReaders | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else ServingMetrics()
        warmup = warmup_for(config, warmup_readers)
        catalog = ModelCatalog(config, self._with_pipelines(loader), on_loaded=self.metrics.observe_load, warmup=warmup)
        self._compose(catalog, config.dispatch_options(), self.metrics)
        self.reloader: ConfigReloader | None = ConfigReloader(config, catalog, self.releases)
        if config.traffic_config_file is not None:
            self.releases.set_traffic(read_traffic_file(config.traffic_config_file))
        self.metrics.watch_states(catalog.version_states)
        wants_log = config.request_log is not None or config.request_log_cloudevents_url
        self.request_log = RequestLog(_log_settings(config)) if wants_log else None
        self.monitor = self._monitor_for(config, self.metrics)

    def _with_pipelines(self, loader: LoaderFactory) -> LoaderFactory:
        """Version folders holding ``pipeline.yaml`` become pipelines whose model steps call this service's
        other models in process (:mod:`modelserve.serving.pipeline`); every other folder goes to ``loader``."""

        def factory(model: ModelConfig, options: RuntimeOptions) -> Callable[[Path], LoadedModel]:
            load = loader(model, options)

            def load_version(path: Path) -> LoadedModel:
                if not is_pipeline(path):
                    return load(path)
                return load_pipeline(path, model.name, options, self._infer_step, self.metrics.observe_step)

            return load_version

        return factory

    def _infer_step(self, request: InferRequest) -> Mapping:
        """A pipeline's model step: :meth:`infer_now` on the pipeline's own model thread."""
        return self.infer_now(request).outputs

    @classmethod
    def local(
        cls,
        model: LoadedModel,
        name: str = "model",
        version: int = 1,
        options: DispatchOptions | None = None,
        metrics: ServingMetrics | None = None,
    ) -> ModelService:
        """A service over one model already in memory (no polling, no network). ``options`` default to no
        in-flight limit, no inline calls, no batching; ``metrics`` None records none. :meth:`stop` closes
        the model."""
        service = cls.__new__(cls)
        service.config = ServerConfig(models=())
        service.metrics = metrics  # type: ignore[assignment]
        options = options or DispatchOptions(max_in_flight=2**31 - 1, inline_call_micros=0)
        service._compose(SingleModelCatalog(model, name, version), options, metrics)
        service.reloader = None
        service.request_log = None
        service.monitor = None
        return service

    def _compose(
        self, catalog: ModelCatalog | SingleModelCatalog, options: DispatchOptions, metrics: ServingMetrics | None
    ) -> None:
        self.catalog = catalog
        self.dispatcher = Dispatcher(options, metrics)
        self.releases = Releases(self.dispatcher, metrics)
        if metrics is not None:
            metrics.in_flight.set_function(lambda: self.dispatcher.in_flight)
            metrics.queued.set_function(lambda: self.dispatcher.queued)

    # ---- the one door ----

    async def infer(self, request: InferRequest) -> InferResponse:
        """Run one request (see the module docstring). Raises :class:`~modelserve.errors.ServingError`;
        PermissionDenied when the request's caller (:data:`~modelserve.access.scopes.PRINCIPAL`) may not run
        the model. With a request log, a sample of requests (every failed one) is queued for it."""
        request_log = self.request_log
        if request_log is None:
            return await self._infer(request)
        started = time.perf_counter()
        try:
            response = await self._infer(request)
        except Exception as exc:
            request_log.record(entry_for(request, None, exc, time.perf_counter() - started, request_log.settings))
            raise
        if request_log.wants(request.ref.name, failed=False):
            seconds = time.perf_counter() - started
            request_log.record(entry_for(request, response, None, seconds, request_log.settings))
        return response

    async def _infer(self, request: InferRequest) -> InferResponse:
        check_predict(request.ref.name)
        served, route = self._borrow(request.ref, request.routing_key)
        with served:
            started = time.perf_counter()
            try:
                signature, inputs = self._admit(served, request)
                admitted = time.perf_counter()
                outputs = await self.dispatcher.run(served, signature.name, inputs, request.api, request.deadline)
                ran = time.perf_counter()
                response = self._answer(served, route, request, signature.name, inputs, outputs, admitted)
            except BaseException:
                served.statistics.observe_request(False, 0, time.perf_counter() - started, 0.0, 0.0)
                raise
            _observe_success(served, inputs, started, admitted, ran)
            return response

    def infer_now(self, request: InferRequest) -> InferResponse:
        """:meth:`infer` on the calling thread, which runs the model itself (no batching, no deadline).
        Statistics are kept only by a server's service (a local one has no statistics API)."""
        served, route = self._borrow(request.ref, request.routing_key)
        with served:
            signature, inputs = self._admit(served, request)
            started = time.perf_counter()
            outputs = self.dispatcher.run_now(served, signature.name, inputs, request.api)
            return self._answer(served, route, request, signature.name, inputs, outputs, started)

    @staticmethod
    def _admit(served: ServedVersion, request: InferRequest) -> tuple[Signature, dict]:
        """Steps 2 and 3: the signature, the input gate, the output names, before anything runs."""
        signature = served.model.signature(request.signature)
        inputs = admit(signature, request.inputs, request.rules, served.model.strict_shapes)
        check_outputs(signature, request.outputs, request.rules)
        if served.max_batch_size and rows_of(inputs) > served.max_batch_size:
            raise InvalidArgument(
                f"inference request batch-size must be <= {served.max_batch_size} for '{served.model_name}'"
            )
        return signature, inputs

    def _answer(
        self,
        served: ServedVersion,
        route: str,
        request: InferRequest,
        signature: str,
        inputs: Mapping,
        outputs: dict,
        started: float,
    ) -> InferResponse:
        """Step 5: count the route and mirror shadows, give the answer to the monitor, then the requested
        outputs."""
        monitor = self.monitor
        if monitor is not None:
            monitor.observe(
                served.model_name, served.version, served.path, route, REQUEST_ID.get() or request.request_id or "",
                signature, inputs, outputs,
            )  # fmt: skip
        if route:
            name = served.model_name
            self.releases.after_run(
                served, route, signature, inputs, outputs, time.perf_counter() - started,
                self.catalog.resolver(name), lambda version: self.catalog.borrow(name, version),
            )  # fmt: skip
        selected = select_outputs(outputs, request.outputs)
        return InferResponse(served.model_name, served.version, signature, selected, route, request.request_id)

    def statistics(self, name: str = "", version: int | None = None) -> list[tuple[str, int, StatisticsSnapshot]]:
        """``(model, version, statistics)`` of every loaded version of ``name`` (every model when empty),
        or of one version (empty when it is not loaded); NotFound for an unknown model."""
        names = [name] if name else self.model_names()
        found = []
        for model_name in names:
            for number, served in self.catalog.loaded_versions(model_name):
                if version is None or number == version:
                    found.append((model_name, number, served.statistics.snapshot()))
        return found

    def _borrow(self, ref: ModelRef, routing_key: str | None) -> tuple[ServedVersion, str]:
        version, route = ref.version, ""
        if version is None and ref.label is None and self.releases.has_policy(ref.name):
            chosen = self.releases.choose(ref.name, self.catalog.resolver(ref.name), routing_key)
            if chosen is not None:
                route, version = chosen
        return self.catalog.borrow(ref.name, version, ref.label), route

    # ---- lookups for decoders and metadata ----

    def signature(self, ref: ModelRef, name: str) -> Signature:
        """The signature a request for ``ref`` will most likely meet, for decoders that need dtypes first.

        Resolves a version or label as :meth:`infer` does; a ref that names neither resolves to the newest
        version (not through the traffic policy: :meth:`infer`'s gate checks again against the version
        that answers). Raises NotFound, :class:`~modelserve.errors.SignatureNotFound`, or PermissionDenied
        for a caller that may neither read metadata nor run this model."""
        check_signature_lookup(ref.name)
        return self.catalog.find(ref.name, ref.version, ref.label).model.signature(name)  # signatures never change

    def describe(self, ref: ModelRef) -> ModelView:
        """Name, version, platform and signatures of the version ``ref`` resolves to (metadata APIs)."""
        served = self.catalog.find(ref.name, ref.version, ref.label)
        return ModelView(served.model_name, served.version, served.model.platform, served.model.signatures)

    def statuses(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """TF Serving's GetModelStatus: every version ever seen, or one."""
        return self.catalog.statuses(name, version)

    def available_versions(self, name: str) -> list[int]:
        return self.catalog.available_versions(name)

    def labels(self, name: str) -> dict[str, int]:
        return self.catalog.labels(name)

    def model_names(self) -> list[str]:
        return self.catalog.model_names()

    def model_config(self, name: str) -> ModelConfig:
        """The config a served model runs under (NotFound for an unknown model)."""
        if not isinstance(self.catalog, ModelCatalog):
            raise NotFound(f"model {name} has no config: a local service")
        return self.catalog.manager(name).config

    def ready(self) -> bool:
        """True when every configured model has an AVAILABLE version."""
        return self.catalog.ready()

    # ---- lifecycle ----

    def start(self) -> None:
        """Load what is on disk now, then poll and (when configured) watch the config files."""
        self.catalog.start()
        if self.reloader is not None:
            self.reloader.start()

    def stop(self) -> None:
        """Stop polling, finish running model calls (up to the grace period), unload everything, and write
        what the request log still holds."""
        if self.reloader is not None:
            self.reloader.stop()
        self.dispatcher.stop()
        self.catalog.stop()
        if self.request_log is not None:
            self.request_log.close()
        if self.monitor is not None:
            self.monitor.close()

    def repository_index(self) -> list[dict[str, str]]:
        """Every model this server can serve, Triton's index form: name, version, state, reason."""
        return self.catalog.repository_index()

    @property
    def last_reload(self) -> dict[str, object] | None:
        return None if self.reloader is None else self.reloader.last_reload

    # ---- traffic for releases ----

    @property
    def traffic(self) -> TrafficConfig:
        return self.releases.traffic

    @property
    def traffic_stats(self) -> TrafficStats:
        return self.releases.stats

    def traffic_report(self) -> dict[str, object]:
        """Policies with where each route resolves now, and the counts so far (the admin API's view)."""
        traffic = self.releases.traffic
        models = {}
        for name in sorted(set(traffic.policies) | set(self.model_names())):
            policy = traffic.policies.get(name)
            resolve = self.catalog.resolver(name)
            entry: dict[str, object] = {"labels": self.labels(name)}
            entry.update(self.releases.stats.report(name))  # "routed", and "shadow": comparisons by version
            if policy is not None:
                entry["routes"] = [
                    {"target": r.target, "weight": r.weight, "version": resolve(r.target)} for r in policy.routes
                ]
                if policy.shadow is not None:
                    target = policy.shadow.target
                    entry["shadow_policy"] = {
                        "target": target,
                        "fraction": policy.shadow.fraction,
                        "version": resolve(target),
                    }
            models[name] = entry
        return {"routing_header": traffic.routing_header, "models": models}


def _log_settings(config: ServerConfig) -> LogSettings:
    return LogSettings(
        path=config.request_log, sample_rate=config.request_log_sample_rate, rates=dict(config.request_log_model_rates),
        max_bytes=config.request_log_max_bytes, backups=config.request_log_backups,
        rotate_seconds=config.request_log_rotate_seconds,
        format=config.request_log_format, cloudevents_url=config.request_log_cloudevents_url,
    )  # fmt: skip


def _observe_success(served: ServedVersion, inputs: Mapping, started: float, admitted: float, ran: float) -> None:
    ended = time.perf_counter()
    served.statistics.observe_request(True, rows_of(inputs), ended - started, admitted - started, ended - ran)
