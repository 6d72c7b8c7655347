"""The try-it tab's "run on this device" toggle: the request the server just answered, run again in the
browser with TF.js, and the two predicted classes side by side.

The toggle is offered when the chosen version has a TF.js conversion (``<version>/tfjs/model.json``, as
``modelserve convert --to tfjs`` lands it). With it on, :func:`device_job` turns the request into a job for
the browser: the graph model's URL (``/v1/models/NAME/versions/N/tfjs/model.json``, the version that
answered), the runtime's (``/ui/tfjs-runtime/``: ``tf.min.js``, the wasm backend and its ``.wasm`` files,
served by this server, no CDN), the exact input tensors of the request's body, the score output (the first
float ``[-1, K]`` output by name) and the classes the server predicted. :data:`DEVICE_JS` runs in the
page: it loads the runtime once, loads (and keeps) the model, runs it on those tensors and writes one line
into ``#tryit-device-answer``::

    On this device: class 7 (server: class 7, same) in 1.9 ms, TF.js 4.22.0 (wasm)

With API keys on, the model's files are reads that need a key with the ``read`` scope, which the page's
JavaScript does not hold: the line then shows the server's 401 (serve the page without keys, or fetch the
model with a key from your own app).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from modelserve.console.rendering import outputs_of_answer
from modelserve.types import Signature

__all__ = ["DEVICE_JS", "device_job", "has_tfjs", "score_output"]

RUNTIME_URL = "/ui/tfjs-runtime/"
_FLOATS = ("float16", "float32", "float64", "bfloat16")


def has_tfjs(version_folder: Path | None) -> bool:
    """Whether a version folder holds a TF.js graph model."""
    return version_folder is not None and (version_folder / "tfjs" / "model.json").is_file()


def score_output(signature: Signature) -> str | None:
    """The first float output (by name) shaped ``[-1, K]``: one vector of class scores per example."""
    for name in sorted(signature.outputs):
        spec = signature.outputs[name]
        if spec.dtype in _FLOATS and spec.shape is not None and len(spec.shape) == 2:
            return name
    return None


def _tensor(name: str, value: Any, dtype: str) -> dict[str, Any]:
    if dtype == "string":
        raise ValueError(f"input {name!r} is a string: TF.js on this device takes numeric inputs only")
    kind = "float32" if dtype in _FLOATS else ("bool" if dtype == "bool" else "int32")
    array = np.asarray(value, dtype={"float32": np.float32, "bool": np.bool_, "int32": np.int64}[kind])
    return {"dtype": kind, "shape": list(array.shape), "data": array.reshape(-1).tolist()}


def _inputs(signature: Signature, body: dict[str, Any]) -> dict[str, Any]:
    """The body's tensors by input name: columnar ``inputs`` or row ``instances``."""
    if "inputs" in body:
        values = body["inputs"]
        if not isinstance(values, dict):
            values = {next(iter(signature.inputs)): values}
    elif "instances" in body:
        rows = body["instances"]
        if rows and all(isinstance(row, dict) for row in rows):
            values = {name: [row[name] for row in rows] for name in rows[0]}
        else:
            values = {next(iter(signature.inputs)): rows}
    else:
        raise ValueError("the body has neither inputs nor instances")
    return {
        name: _tensor(name, values[name], signature.inputs[name].dtype) for name in signature.inputs if name in values
    }


def device_job(
    model: str, version: int | None, version_folder: Path | None, signature: Signature, body: Any, answer: Any
) -> str:
    """The browser's job as JSON text (see the module docstring); ``{"error": ...}`` when it cannot run."""
    try:
        if version is None or not has_tfjs(version_folder):
            raise ValueError(f"{model} version {version} has no TF.js model (modelserve convert --to tfjs)")
        score = score_output(signature)
        if score is None:
            raise ValueError(f"{signature.name!r} has no float [-1, K] output to compare classes on")
        served = outputs_of_answer(signature, answer if isinstance(answer, dict) else {})
        if score not in served:
            raise ValueError(f"the server's answer has no {score!r}")
        classes = np.argmax(np.atleast_2d(np.asarray(served[score], dtype=np.float64)), axis=-1)
        job = {
            "model": f"/v1/models/{quote(model, safe='')}/versions/{version}/tfjs/model.json",
            "runtime": RUNTIME_URL,
            "inputs": _inputs(signature, body if isinstance(body, dict) else {}),
            "score_output": score,
            "server_classes": [int(c) for c in classes],
        }
    except (ValueError, TypeError, KeyError, IndexError, StopIteration) as exc:
        return json.dumps({"error": str(exc)})
    return json.dumps(job)


#: Runs in the page (Gradio's ``js=`` of the Predict button's follow-up step): job text -> the answer line.
DEVICE_JS = """
async (jobText) => {
  if (!jobText) return "";
  const job = JSON.parse(jobText);
  if (job.error) return "**On this device**: " + job.error;
  const w = window;
  const load = (src) => new Promise((done, fail) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = done;
    script.onerror = () => fail(new Error("cannot load " + src));
    document.head.appendChild(script);
  });
  try {
    if (!w.__modelserveTfjs) {
      w.__modelserveTfjs = (async () => {
        if (!w.tf) await load(job.runtime + "tf.min.js");
        if (!w.tf.wasm) await load(job.runtime + "tf-backend-wasm.min.js");
        w.tf.wasm.setWasmPaths(job.runtime);
        if (!(await w.tf.setBackend("wasm"))) throw new Error("the wasm backend does not start");
        await w.tf.ready();
        return { models: {} };
      })();
    }
    const state = await w.__modelserveTfjs;
    const tf = w.tf;
    if (!state.models[job.model]) state.models[job.model] = tf.loadGraphModel(job.model);
    let model;
    try {
      model = await state.models[job.model];
    } catch (error) {
      delete state.models[job.model];
      throw error;
    }
    const feed = {};
    for (const [name, spec] of Object.entries(job.inputs)) feed[name] = tf.tensor(spec.data, spec.shape, spec.dtype);
    const signature = (model.modelSignature && model.modelSignature.outputs) || {};
    if (!signature[job.score_output]) throw new Error("the TF.js model has no output " + job.score_output);
    const wanted = signature[job.score_output].name;  // by tensor name: model.json keeps no output order
    const started = performance.now();
    let score;
    try {
      score = model.execute(feed, wanted);
    } catch (error) {
      score = await model.executeAsync(feed, wanted);
    }
    const rows = await score.array();
    const ms = performance.now() - started;
    tf.dispose([...Object.values(feed), score]);
    const classes = rows.map((row) => row.indexOf(Math.max(...row)));
    const same = JSON.stringify(classes) === JSON.stringify(job.server_classes);
    return `**On this device**: class ${classes.join(", ")} (server: class ${job.server_classes.join(", ")}, ` +
      `${same ? "same" : "DIFFERENT"}) in ${ms.toFixed(1)} ms, TF.js ${tf.version.tfjs} (${tf.getBackend()})`;
  } catch (error) {
    return "**On this device**: TF.js failed: " + (error && error.message ? error.message : String(error));
  }
}
"""
