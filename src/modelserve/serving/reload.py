"""Re-reading ``--model_config_file`` and ``--traffic_config_file``: on request, and when their bytes change.

:class:`ConfigReloader` parses both files before anything changes (a file with an error leaves everything in
force), then applies the models to the :class:`~modelserve.serving.catalog.ModelCatalog` and the traffic to
:class:`~modelserve.serving.releases.Releases`. Every outcome, good or bad, is kept in :attr:`last_reload`
for the admin API. With ``--model_config_file_poll_wait_seconds`` a daemon thread watches the files.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from modelserve.config import ServerConfig
from modelserve.config_io import read_model_config_file, read_traffic_file
from modelserve.errors import FailedPrecondition, ServingError
from modelserve.serving.catalog import ModelCatalog
from modelserve.serving.releases import Releases

log = logging.getLogger(__name__)


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


class ConfigReloader:
    """Reloads for one server. :meth:`reload_from_files` blocks: call it off the event loop."""

    def __init__(self, config: ServerConfig, catalog: ModelCatalog, releases: Releases) -> None:
        self.config = config
        self._catalog = catalog
        self._releases = releases
        self._files = [f for f in (config.model_config_file, config.traffic_config_file) if f is not None]
        self._at_start = self._contents()  # edits made while the server starts count as changes
        self._stop = threading.Event()
        self.last_reload: dict[str, object] | None = None

    def _contents(self) -> tuple[bytes | None, ...]:
        return tuple(_read_or_none(path) for path in self._files)

    def start(self) -> None:
        """Start watching the files when ``model_config_file_poll_wait_seconds`` is set."""
        if self._files and self.config.model_config_file_poll_wait_seconds > 0:
            threading.Thread(target=self._watch, name="config-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def reload_from_files(self) -> dict[str, str]:
        """Re-read the configured files and apply them; returns what was reloaded.

        Raises InvalidArgument naming the file and line for a file with an error (nothing changes), and
        FailedPrecondition for a label that may not be assigned (the model changes stay applied)."""
        try:
            done = self._reload()
        except ServingError as exc:
            self.last_reload = {"time": time.time(), "ok": False, "code": exc.code.name, "error": exc.message}
            raise
        except Exception as exc:  # a bug, not a bad file: still reported where the admin API looks
            self.last_reload = {"time": time.time(), "ok": False, "code": "INTERNAL", "error": repr(exc)}
            raise
        self.last_reload = {"time": time.time(), "ok": True, "reloaded": done}
        return done

    def _reload(self) -> dict[str, str]:
        models = traffic = None
        if self.config.model_config_file is not None:
            models = read_model_config_file(self.config.model_config_file)
        if self.config.traffic_config_file is not None:
            traffic = read_traffic_file(self.config.traffic_config_file)
        done = {}
        if models is not None:
            self._catalog.reload_config(models)
            done["model_config_file"] = str(self.config.model_config_file)
        if traffic is not None:
            self._releases.set_traffic(traffic)
            done["traffic_config_file"] = str(self.config.traffic_config_file)
        return done

    def _watch(self) -> None:
        """Reload when a watched file's bytes change; a refused label is retried at the next poll."""
        seen = self._at_start
        while not self._stop.wait(self.config.model_config_file_poll_wait_seconds):
            now = self._contents()
            if now == seen:
                continue
            try:
                done = self.reload_from_files()
                log.info("reloaded %s", ", ".join(done.values()))
                seen = now
            except FailedPrecondition as exc:  # e.g. a label on a version still arriving: retried next poll
                log.warning("config reload refused for now, retrying: %s", exc.message)
            except ServingError as exc:  # a broken file: waits for the file to change
                seen = now
                log.error("config reload refused, the previous config stays in force: %s", exc.message)
            except Exception:
                seen = now
                log.exception("config reload failed")
