"""The entry format of ``modelserve stream``: input entries in, result and dead-letter entries out.

No Redis here: entries are ``{field: bytes}`` maps, as Redis Streams store them. ``docs/streaming.md`` is the
user's description; this is the contract.

Input entry, exactly one payload field:

- ``request``: JSON, the body you would POST to TF Serving's ``/v1/models/<m>:predict``: ``{"instances":
  [...]}`` (rows) or ``{"inputs": ...}`` (columns), optional ``signature_name``; or an Open Inference
  Protocol (V2) request, ``{"inputs": [{"name", "shape", "datatype", "data"}, ...]}``. TF Serving's JSON
  rules apply (the signature decides dtypes; ``{"b64": ...}`` for bytes); V2 datatypes must match exactly.
- ``npy``: one ``.npy`` array (``np.save``), for a signature with one input.
- ``npz``: an ``.npz`` archive (``np.savez``) of arrays named after the signature's inputs.

Optional: ``key`` (any bytes, copied to the result), ``signature`` (overrides the worker's ``--signature``;
must agree with a JSON ``signature_name``). Other fields are ignored. ``.npy``/``.npz`` are read with
``allow_pickle=False``, so strings travel as numpy bytes (``S``) or unicode (``U``) arrays.

Result entry (:func:`result_fields`): ``id`` (the input entry's id), ``key`` (when given), ``model``,
``version`` (when known), ``signature``, ``consumer``, and either ``response`` (for ``request`` inputs:
TF Serving's predict response, ``{"predictions": ...}`` for rows and ``{"outputs": ...}`` for columns, or a
V2 response; ``header_length`` is added when a V2 response carries binary outputs) or ``npz`` (for ``npy``
and ``npz`` inputs: every output by name; strings as ``S`` arrays).

Dead-letter entry (:func:`dead_letter_fields`): ``id``, ``stream``, ``group``, ``consumer``, ``code`` (a
:class:`~modelserve.errors.Code` name), ``reason``, ``deliveries``, then the original fields unchanged (one
named like ours is kept as ``original_<name>``), so an entry can be fixed and added back.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from modelserve.errors import InvalidArgument
from modelserve.protocols.tfs import json_parse, predict_decode, predict_encode
from modelserve.protocols.v2 import envelope, json_tensors
from modelserve.types import InputRules, Signature

Fields = Mapping[bytes, bytes]
Form = Literal["instances", "inputs", "v2", "npy", "npz"]
PAYLOADS = ("request", "npy", "npz")
_DEAD_LETTER_NAMES = ("id", "stream", "group", "consumer", "code", "reason", "deliveries")
MAX_REASON_CHARS = 4000
_TRUNCATED = " ... (truncated)"


@dataclass(frozen=True)
class StreamRequest:
    """One decoded input entry: the model inputs and the door rules the serving core's input gate applies
    to them (TF Serving JSON: already in the signature's dtypes; V2: strict datatypes; npy/npz: converted),
    and what the result needs (form, key, the V2 request's output choices)."""

    signature: str
    inputs: dict[str, np.ndarray]
    form: Form
    rules: InputRules
    key: bytes | None = None
    v2: envelope.V2Request | None = None

    @property
    def outputs(self) -> tuple[str, ...]:
        """The outputs a V2 request asked for (all when empty)."""
        return tuple(o.name for o in self.v2.outputs) if self.v2 is not None else ()


def decode_entry(fields: Fields, signature_of: Callable[[str], Signature], default_signature: str) -> StreamRequest:
    """Decode an input entry. ``signature_of(name)`` returns the model's signature or raises NotFound.

    Raises :class:`InvalidArgument` (or the codecs' other :class:`~modelserve.errors.ServingError`) with a
    message fit for the dead-letter ``reason``.
    """
    names = {name.decode("utf-8", "replace"): value for name, value in fields.items()}
    present = [p for p in PAYLOADS if p in names]
    if len(present) != 1:
        got = ", ".join(sorted(names)) or "none"
        if not present:
            raise InvalidArgument(f"entry has no payload: expected one field of request, npy, npz; got fields: {got}")
        raise InvalidArgument(f"entry has several payloads ({', '.join(present)}); send exactly one")
    payload = present[0]
    key = names.get("key")
    named = _text(names["signature"], "signature") if "signature" in names else None
    if payload == "request":
        return _decode_json(names["request"], named or default_signature, named, signature_of, key)
    signature = signature_of(named or default_signature)
    if payload == "npy":
        if len(signature.inputs) != 1:
            raise InvalidArgument(
                f"field 'npy' carries one array but signature {signature.name!r} has {len(signature.inputs)} "
                f"inputs ({', '.join(signature.inputs)}); send them in an 'npz' field"
            )
        arrays: dict[str, np.ndarray] = {next(iter(signature.inputs)): _load_npy(names["npy"])}
    else:
        arrays = _load_npz(names["npz"])
    return StreamRequest(signature.name, arrays, payload, InputRules.CAST, key)  # type: ignore[arg-type]


def _decode_json(
    raw: bytes,
    signature_name: str,
    named: str | None,
    signature_of: Callable[[str], Signature],
    key: bytes | None,
) -> StreamRequest:
    document = json_parse.parse_json(raw)
    if _is_v2(document):
        request = envelope.decode_infer_request(raw, None)
        signature = signature_of(signature_name)
        return StreamRequest(signature.name, request.inputs, "v2", InputRules.V2, key, request)
    in_body = json_parse.signature_name_of(document)  # checks the body is an object
    if "signature_name" in document:
        if named is not None and in_body != named:
            raise InvalidArgument(
                f"field 'signature' ({named}) disagrees with the request's signature_name ({in_body})"
            )
        signature_name = in_body
    signature = signature_of(signature_name)
    body = predict_decode.decode_predict(document, signature)
    form = "instances" if body.row_format else "inputs"
    return StreamRequest(signature.name, body.inputs, form, InputRules.TF_SERVING, key)


def _is_v2(document: object) -> bool:
    """A V2 request lists tensors with a ``datatype``; TF Serving's ``inputs`` never does."""
    if not isinstance(document, dict):
        return False
    tensors = document.get("inputs")
    return isinstance(tensors, list) and bool(tensors) and all(isinstance(t, dict) and "datatype" in t for t in tensors)


def _text(value: bytes, field: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"field {field!r} is not UTF-8 text") from None


def _load_npy(data: bytes) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidArgument(f"field 'npy' is not a .npy array without pickled objects: {exc}") from None


def _load_npz(data: bytes) -> dict[str, np.ndarray]:
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array (send that in an 'npy' field)")
        with archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidArgument(f"field 'npz' is not an .npz archive without pickled objects: {exc}") from None


def result_fields(
    request: StreamRequest,
    outputs: Mapping[str, np.ndarray],
    entry_id: bytes,
    model: str,
    version: int | None,
    consumer: str,
) -> dict[str, bytes]:
    """The result entry for ``request``'s ``outputs`` (see the module docstring). Raises InvalidArgument
    when the outputs cannot be written in the request's form (e.g. a dtype JSON cannot carry)."""
    fields: dict[str, bytes] = {"id": entry_id}
    if request.key is not None:
        fields["key"] = request.key
    fields["model"] = model.encode()
    if version is not None:
        fields["version"] = str(version).encode()
    fields["signature"] = request.signature.encode()
    fields["consumer"] = consumer.encode()
    if request.form in ("instances", "inputs"):
        fields["response"] = predict_encode.encode_predict(outputs, request.form == "instances")
    elif request.form == "v2":
        assert request.v2 is not None
        v2 = request.v2
        body, header_length = json_tensors.encode_infer_response(
            model, "" if version is None else str(version), v2.id, dict(outputs), v2.outputs, v2.binary_output_default
        )
        fields["response"] = body
        if header_length is not None:
            fields["header_length"] = str(header_length).encode()
    else:
        fields["npz"] = encode_npz(outputs)
    return fields


def encode_npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    """``np.savez`` of ``arrays``, string (object) arrays as numpy bytes, so it loads without pickle."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: a.astype(np.bytes_) if a.dtype == object else a for name, a in arrays.items()})
    return buffer.getvalue()


def dead_letter_fields(
    entry_id: bytes,
    fields: Fields,
    stream: str,
    group: str,
    consumer: str,
    code: str,
    reason: str,
    deliveries: int,
) -> dict[str, bytes]:
    """The dead-letter entry: why, where from, and the original fields (see the module docstring)."""
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - len(_TRUNCATED)] + _TRUNCATED
    out: dict[str, bytes] = {
        "id": entry_id,
        "stream": stream.encode(),
        "group": group.encode(),
        "consumer": consumer.encode(),
        "code": code.encode(),
        "reason": reason.encode("utf-8", "replace"),
        "deliveries": str(deliveries).encode(),
    }
    for name, value in fields.items():
        text = name.decode("utf-8", "replace")
        out[f"original_{text}" if text in _DEAD_LETTER_NAMES or text.startswith("original_") else text] = value
    return out
