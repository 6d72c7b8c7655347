"""What the Manage tab does, without Gradio: the serving core's calls behind the admin API and the V2
repository API (reload the config files, load, unload, replace traffic policies) and moving a label, each
answering the line the page shows. Errors are :class:`~modelserve.errors.ServingError`."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from modelserve.config_io import parse_traffic_config
from modelserve.errors import InvalidArgument, NotFound
from modelserve.serving.service import ModelService

__all__ = ["current_traffic", "load", "move_label", "reload_files", "set_traffic", "unload"]


def move_label(service: ModelService, model: str, label: str, version: str) -> str:
    """Point ``label`` of ``model`` at ``version`` (empty: remove it), applied as a config reload with the
    model's labels changed; a later reload of the config file sets the file's labels again."""
    if not model or not label.strip():
        raise InvalidArgument("choose a model and name a label")
    label = label.strip()
    number = None
    if version.strip():
        try:
            number = int(version)
        except ValueError:
            raise InvalidArgument(f"a label points at a version number, got {version!r}") from None
    if model not in service.model_names():
        raise NotFound(f"model {model} is not served")
    models = []
    for name in service.model_names():
        config = service.model_config(name)
        if name == model:
            labels = dict(config.labels)
            if number is not None:
                labels[label] = number
            elif labels.pop(label, None) is None:
                raise NotFound(f"model {model} has no label {label!r}")
            config = dataclasses.replace(config, labels=tuple(sorted(labels.items())))
        models.append(config)
    service.reload_config(tuple(models))
    if number is None:
        return f"label {label!r} of {model} removed"
    return f"label {label!r} of {model} now points at version {number}"


def set_traffic(service: ModelService, text: str) -> str:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"the traffic policy is not JSON: {exc}") from None
    service.set_traffic(parse_traffic_config(document, "the page's traffic policy"))
    return "traffic policies replaced"


def reload_files(service: ModelService) -> str:
    if service.config.model_config_file is None and service.config.traffic_config_file is None:
        raise InvalidArgument("nothing to reload: no --model_config_file or --traffic_config_file was given")
    reloaded = service.reload_from_files()
    return "reloaded: " + ", ".join(f"{k} {v}" for k, v in reloaded.items())


def load(service: ModelService, name: str) -> str:
    service.load_model(name)
    return f"{name} loaded: versions {service.available_versions(name)}"


def unload(service: ModelService, name: str) -> str:
    service.unload_model(name)
    return f"{name} unloaded"


def current_traffic(service: ModelService) -> str:
    traffic = service.traffic
    policies = {}
    for name, policy in sorted(traffic.policies.items()):
        entry: dict[str, Any] = {"routes": {r.target: r.weight for r in policy.routes}}
        if policy.shadow is not None:
            entry["shadow"] = {"target": policy.shadow.target, "fraction": policy.shadow.fraction}
        if policy.seed is not None:
            entry["seed"] = policy.seed
        policies[name] = entry
    return json.dumps({"routing_header": traffic.routing_header, "models": policies}, indent=2)
