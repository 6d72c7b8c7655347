"""The calls that change what a service serves, and how a group of services (``--workers``) stays alike.

:class:`SharedChanges` is part of :class:`~modelserve.serving.service.ModelService` (a mixin). Each of its
five calls (``reload_config``, ``load_model``, ``unload_model``, ``reload_from_files``, ``set_traffic``)
is applied here first; only when that succeeded is it announced to ``peers`` (when set), which applies the
same change to every other worker of the server (:mod:`modelserve.server.peers`) before the call returns.
A peer runs an announcement with :meth:`apply_change`, which announces nothing, so a change never echoes.

Every front door (TF Serving's gRPC reload, V2's repository load/unload, ``/admin``, the web page) calls
these, so each is kept alike across workers at this one place. Changes are described by plain data (an
operation's name and its arguments) so they can cross a process boundary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from modelserve.config import ModelConfig, ModelOverride, TrafficConfig
from modelserve.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from modelserve.serving.service import ModelService

__all__ = ["CHANGES", "Peers", "SharedChanges"]

CHANGES = ("reload_config", "load_model", "unload_model", "reload_from_files", "set_traffic")


class Peers(Protocol):
    """The other workers of this server. ``announce`` returns once each live one applied the change (or
    failed to: it logs that, it does not raise; the change already holds here)."""

    def announce(self, operation: str, arguments: tuple[Any, ...]) -> None: ...

    def ask(self, question: str, arguments: tuple[Any, ...]) -> list[Any]:
        """Every other live worker's answer to ``question`` (``ModelService.answer_peer``); blocks."""
        ...


class SharedChanges:
    """What serves: applied here, then announced to the peers (a mixin over the service's catalog)."""

    peers: Peers | None = None

    def reload_config(self, models: tuple[ModelConfig, ...]) -> None:
        """Serve exactly ``models`` (TF Serving's HandleReloadConfigRequest). Blocks: call it off the loop."""
        self._change("reload_config", (models,))

    def load_model(self, name: str, override: ModelOverride | None = None) -> None:
        """Serve ``name`` (known from the config or found in ``--model_repository``), under a config
        ``override`` if given (see :meth:`ModelCatalog.load_model`); rescan if served."""
        self._change("load_model", (name, override))

    def unload_model(self, name: str) -> None:
        """Stop serving ``name``; it stays known, so :meth:`load_model` can bring it back."""
        self._change("unload_model", (name,))

    def reload_from_files(self) -> dict[str, str]:
        """Re-read ``--model_config_file`` and ``--traffic_config_file`` (see :class:`ConfigReloader`)."""
        return self._change("reload_from_files", ())

    def set_traffic(self, traffic: TrafficConfig) -> None:
        """Route by ``traffic`` from now on."""
        self._change("set_traffic", (traffic,))

    def _change(self, operation: str, arguments: tuple[Any, ...]) -> Any:
        result = self.apply_change(operation, arguments)
        if self.peers is not None:
            self.peers.announce(operation, arguments)
        return result

    def apply_change(self: ModelService, operation: str, arguments: tuple[Any, ...]) -> Any:
        """Apply one change here and announce nothing (what a peer's announcement runs)."""
        if operation == "reload_config":
            return self.catalog.reload_config(*arguments)
        if operation == "load_model":
            return self.catalog.load_model(*arguments)
        if operation == "unload_model":
            return self.catalog.unload_model(*arguments)
        if operation == "set_traffic":
            return self.releases.set_traffic(*arguments)
        if operation == "reload_from_files":
            if self.reloader is None:
                raise NotFound("a local service has no config files")
            return self.reloader.reload_from_files()
        raise InvalidArgument(f"unknown change {operation!r}; known: {', '.join(CHANGES)}")
