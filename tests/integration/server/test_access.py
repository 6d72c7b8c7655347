"""API keys with scopes on every door, over plain TCP, TLS and mTLS, with the official clients.

One server per transport (``plain``, ``tls``, ``mtls``) serves two ONNX models (``simple``, ``other``) with
a keys file: ``app`` may predict with ``simple``, ``reader`` may read, ``ops`` is admin, and the client
certificate CN ``edge-7`` is an identity allowed to predict with ``simple``. For each door (TF Serving
REST and gRPC, V2 REST and gRPC, the admin API): no key -> 401 / UNAUTHENTICATED, a key outside its
scopes -> 403 / PERMISSION_DENIED, the right key -> served.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from certificates import CertificateAuthority, Pair, serial_of
from factories import onnx_triton_simple
from modelserve.access.keys import add_entry
from modelserve.access.scopes import Scopes
from servers import ServerProcess, wait_for

pytestmark = pytest.mark.integration

ROW = np.arange(16, dtype=np.int32).reshape(1, 16)


@dataclass
class World:
    folder: Path
    repository: Path
    keys_file: Path
    keys: dict[str, str]
    ca: CertificateAuthority
    server_pair: Pair
    client: Pair  # CN=nobody: a valid certificate that names no identity
    edge: Pair  # CN=edge-7: the certificate identity
    rogue: Pair  # signed by another CA


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    folder = tmp_path_factory.mktemp("access")
    repository = folder / "models"
    for name in ("simple", "other"):
        onnx_triton_simple(repository / name / "1")
    keys_file = folder / "keys.json"
    keys = {
        "app": add_entry(keys_file, "app", Scopes.parse("predict:simple")),
        "reader": add_entry(keys_file, "reader", Scopes.parse("read")),
        "ops": add_entry(keys_file, "ops", Scopes.parse("admin")),
    }
    add_entry(keys_file, "edge", Scopes.parse("predict:simple"), client_cn="edge-7")
    ca = CertificateAuthority(folder / "tls")
    rogue = CertificateAuthority(folder / "rogue", "rogue CA").issue("edge-7", stem="rogue-edge")
    return World(
        folder, repository, keys_file, keys, ca, ca.issue("modelserve", server=True), ca.issue("nobody"),
        ca.issue("edge-7"), rogue,
    )  # fmt: skip


@dataclass
class Served:
    process: ServerProcess
    mode: str
    world: World

    @property
    def tls(self) -> bool:
        return self.mode != "plain"

    def requests_options(self, pair: Pair | None = None) -> dict:
        if not self.tls:
            return {}
        options: dict = {"verify": str(self.world.ca.cert)}
        pair = pair or self.world.client
        if self.mode == "mtls":
            options["cert"] = (str(pair.cert), str(pair.key))
        return options

    def channel(self, pair: Pair | None = None) -> grpc.Channel:
        target = self.process.grpc_target
        if not self.tls:
            return grpc.insecure_channel(target)
        pair = pair or self.world.client
        key, chain = (pair.key.read_bytes(), pair.cert.read_bytes()) if self.mode == "mtls" else (None, None)
        credentials = grpc.ssl_channel_credentials(self.world.ca.cert.read_bytes(), key, chain)
        return grpc.secure_channel(target, credentials)

    def triton_http(self) -> triton_http.InferenceServerClient:
        url = f"127.0.0.1:{self.process.port}"
        if not self.tls:
            return triton_http.InferenceServerClient(url)

        def context() -> ssl.SSLContext:
            made = ssl.create_default_context(cafile=str(self.world.ca.cert))
            if self.mode == "mtls":
                made.load_cert_chain(str(self.world.client.cert), str(self.world.client.key))
            return made

        return triton_http.InferenceServerClient(url, ssl=True, ssl_context_factory=context)

    def triton_grpc(self) -> triton_grpc.InferenceServerClient:
        if not self.tls:
            return triton_grpc.InferenceServerClient(self.process.grpc_target)
        pair = self.world.client
        mtls = self.mode == "mtls"
        return triton_grpc.InferenceServerClient(
            self.process.grpc_target, ssl=True, root_certificates=str(self.world.ca.cert),
            private_key=str(pair.key) if mtls else None, certificate_chain=str(pair.cert) if mtls else None,
        )  # fmt: skip


def _ssl_config(world: World, mode: str) -> Path:
    """TF Serving's SSLConfig: TLS with the PEM text inline (TF Serving's form), mTLS with file paths (ours)."""
    path = world.folder / f"{mode}.pbtxt"
    if mode == "tls":
        cert, key = world.server_pair.read()
        path.write_text(f"server_key: {_quoted(key)}\nserver_cert: {_quoted(cert)}\n")
    else:
        path.write_text(
            f'server_key: "{world.server_pair.key}"\nserver_cert: "{world.server_pair.cert}"\n'
            f'custom_ca: "{world.ca.cert}"\nclient_verify: true\n'
        )
    return path


def _quoted(pem: bytes) -> str:
    return '"' + pem.decode().replace("\n", "\\n") + '"'


@pytest.fixture(scope="module", params=["plain", "tls", "mtls"])
def served(request: pytest.FixtureRequest, world: World, tmp_path_factory: pytest.TempPathFactory):
    mode = request.param
    logs = tmp_path_factory.mktemp(f"server-{mode}")
    args = [
        f"--model_repository={world.repository}",
        f"--api_keys_file={world.keys_file}",
        f"--audit_log={logs / 'audit.jsonl'}",
        "--file_system_poll_wait_seconds=0",
        "--auth_failures_per_minute=10000",  # every test client is 127.0.0.1; the limit has its own test
    ]
    if mode != "plain":
        args.append(f"--ssl_config_file={_ssl_config(world, mode)}")
    probe = Served(None, mode, world).requests_options()  # type: ignore[arg-type]
    process = ServerProcess(*args, log_path=logs / "server.log", scheme="http" if mode == "plain" else "https",
                            probe=probe)  # fmt: skip
    process.wait_ready(path="/v2/health/ready")
    yield Served(process, mode, world)
    process.stop()


# ---------------------------------------------------------------------------- one call per door


def _bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def tfs_rest(served: Served, key: str | None, model: str = "simple") -> str:
    body = {"inputs": {"INPUT0": ROW.tolist(), "INPUT1": ROW.tolist()}}
    answer = requests.post(
        f"{served.process.url}/v1/models/{model}:predict", json=body, headers=_bearer(key), timeout=10,
        **served.requests_options(),
    )  # fmt: skip
    if answer.status_code == 200:
        assert answer.json()["outputs"]["OUTPUT0"] == (2 * ROW).tolist()
        return "served"
    assert "error" in answer.json()
    return str(answer.status_code)


def tfs_grpc(served: Served, key: str | None, model: str = "simple") -> str:
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for name in ("INPUT0", "INPUT1"):
        shape = tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in ROW.shape]
        )
        request.inputs[name].CopyFrom(
            tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, tensor_shape=shape, int_val=ROW.ravel().tolist())
        )
    metadata = [("authorization", f"Bearer {key}")] if key else []
    with served.channel() as channel:
        try:
            answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                request, metadata=metadata, timeout=10
            )
        except grpc.RpcError as exc:
            return exc.code().name
    assert list(answer.outputs["OUTPUT0"].int_val) == (2 * ROW).ravel().tolist()
    return "served"


def _triton_inputs(module):
    inputs = [module.InferInput("INPUT0", [1, 16], "INT32"), module.InferInput("INPUT1", [1, 16], "INT32")]
    for item in inputs:
        item.set_data_from_numpy(ROW)
    return inputs


def v2_rest(served: Served, key: str | None, model: str = "simple") -> str:
    client = served.triton_http()
    try:
        result = client.infer(model, _triton_inputs(triton_http), headers=_bearer(key))
    except InferenceServerException as exc:
        return str(exc.status())
    finally:
        client.close()
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 2 * ROW)
    return "served"


def v2_grpc(served: Served, key: str | None, model: str = "simple") -> str:
    client = served.triton_grpc()
    try:
        result = client.infer(
            model, _triton_inputs(triton_grpc), headers={"authorization": f"Bearer {key}"} if key else None
        )
    except InferenceServerException as exc:
        return str(exc.status()).removeprefix("StatusCode.")
    finally:
        client.close()
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 2 * ROW)
    return "served"


def admin_api(served: Served, key: str | None, model: str = "") -> str:
    answer = requests.get(
        f"{served.process.url}/admin/config", headers=_bearer(key), timeout=10, **served.requests_options()
    )
    if answer.status_code == 200:
        assert {m["name"] for m in answer.json()["models"]} == {"simple", "other"}
        return "served"
    return str(answer.status_code)


PREDICT_DOORS: dict[str, Callable[..., str]] = {
    "tfs_rest": tfs_rest, "tfs_grpc": tfs_grpc, "v2_rest": v2_rest, "v2_grpc": v2_grpc
}  # fmt: skip
UNAUTHENTICATED = {"tfs_rest": "401", "v2_rest": "401", "admin": "401", "tfs_grpc": "UNAUTHENTICATED",
                   "v2_grpc": "UNAUTHENTICATED"}  # fmt: skip
DENIED = {"tfs_rest": "403", "v2_rest": "403", "admin": "403", "tfs_grpc": "PERMISSION_DENIED",
          "v2_grpc": "PERMISSION_DENIED"}  # fmt: skip


@pytest.mark.parametrize("door", [*PREDICT_DOORS, "admin"])
def test_no_key_wrong_scope_right_key(served: Served, door: str) -> None:
    call = PREDICT_DOORS.get(door, admin_api)
    keys = served.world.keys
    assert call(served, None) == UNAUTHENTICATED[door]
    assert call(served, "msk_000000000000_not-a-key") == UNAUTHENTICATED[door]
    assert call(served, keys["reader"] if door != "admin" else keys["app"]) == DENIED[door]
    assert call(served, keys["app"] if door != "admin" else keys["ops"]) == "served"


@pytest.mark.parametrize("door", PREDICT_DOORS)
def test_a_predict_key_runs_only_its_models(served: Served, door: str) -> None:
    assert PREDICT_DOORS[door](served, served.world.keys["app"], model="other") == DENIED[door]
    assert PREDICT_DOORS[door](served, served.world.keys["ops"], model="other") == "served"  # admin runs all


def test_probes_stay_open_and_metrics_need_read(served: Served) -> None:
    options = served.requests_options()
    for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/v2/models/simple/ready"):
        assert requests.get(served.process.url + path, timeout=5, **options).status_code == 200, path
    metrics = served.process.url + "/monitoring/prometheus/metrics"
    assert requests.get(metrics, timeout=5, **options).status_code == 401
    answer = requests.get(metrics, headers=_bearer(served.world.keys["reader"]), timeout=5, **options)
    assert answer.status_code == 200
    assert 'modelserve_auth_refusals_total{reason="missing_key"}' in answer.text
    with served.channel() as channel:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    client = served.triton_grpc()
    assert client.is_server_live() and client.is_model_ready("simple")
    client.close()


def test_repository_load_and_unload_need_admin(served: Served) -> None:
    client = served.triton_grpc()
    try:
        with pytest.raises(InferenceServerException, match="needs the 'admin' scope"):
            client.unload_model("other", headers={"authorization": f"Bearer {served.world.keys['app']}"})
        ops = {"authorization": f"Bearer {served.world.keys['ops']}"}
        client.unload_model("other", headers=ops)
        client.load_model("other", headers=ops)
        assert client.is_model_ready("other")
    finally:
        client.close()
    lines = (served.process.log_path.parent / "audit.jsonl").read_text()
    assert '"who":"ops"' in lines and "RepositoryModelUnload" in lines
    for key in served.world.keys.values():
        assert key not in lines and key.rsplit("_", 1)[1] not in served.process.log()


# ---------------------------------------------------------------------------- TLS and mTLS


def test_v2_server_metadata_says_auth_is_on(served: Served) -> None:
    answer = requests.get(
        served.process.url + "/v2", headers=_bearer(served.world.keys["reader"]), timeout=5,
        **served.requests_options(),
    )  # fmt: skip
    assert answer.json()["auth"] == "api_keys"


def test_a_client_certificate_is_an_identity(served: Served) -> None:
    if served.mode != "mtls":
        pytest.skip("client certificates are asked for only with client_verify")
    edge = served.world.edge
    answer = requests.post(
        f"{served.process.url}/v2/models/simple/infer", timeout=10,
        json={"inputs": [{"name": n, "shape": [1, 16], "datatype": "INT32", "data": ROW.ravel().tolist()}
                         for n in ("INPUT0", "INPUT1")]},
        **served.requests_options(edge),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    answer = requests.post(f"{served.process.url}/v1/models/other:predict", json={"inputs": {}}, timeout=10,
                           **served.requests_options(edge))  # fmt: skip
    assert answer.status_code == 403
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    with served.channel(edge) as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "simple"
        with pytest.raises(grpc.RpcError) as raised:
            model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=5)
        assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED  # edge-7 may predict, not read


def test_mtls_refuses_certificates_of_another_ca_and_none(served: Served) -> None:
    if served.mode != "mtls":
        pytest.skip("only mTLS checks client certificates")
    url = served.process.url + "/healthz"
    ca = str(served.world.ca.cert)
    rogue = served.world.rogue
    for options in ({"verify": ca}, {"verify": ca, "cert": (str(rogue.cert), str(rogue.key))}):
        with pytest.raises(requests.exceptions.ConnectionError):  # TLS 1.3: refused after the handshake
            requests.get(url, timeout=5, **options)
    credentials = grpc.ssl_channel_credentials(
        served.world.ca.cert.read_bytes(), rogue.key.read_bytes(), rogue.cert.read_bytes()
    )
    with grpc.secure_channel(served.process.grpc_target, credentials) as channel:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with pytest.raises(grpc.RpcError) as raised:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert raised.value.code() is grpc.StatusCode.UNAVAILABLE


def test_plain_clients_cannot_talk_to_a_tls_server(served: Served) -> None:
    if not served.tls:
        pytest.skip("a plain server")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(served.process.url.replace("https", "http") + "/healthz", timeout=5)
    with grpc.insecure_channel(served.process.grpc_target) as channel:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with pytest.raises(grpc.RpcError):
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)


# ---------------------------------------------------------------------------- changes while serving


def test_keys_added_and_revoked_without_restart(served: Served) -> None:
    from modelserve.access.keys import revoke_entry

    name = f"late-{served.mode}"
    key = add_entry(served.world.keys_file, name, Scopes.parse("predict"))
    wait_for(lambda: v2_rest(served, key) == "served", timeout=10)
    assert tfs_grpc(served, key, model="other") == "served"
    revoke_entry(served.world.keys_file, name)
    wait_for(lambda: v2_rest(served, key) == "401", timeout=10)
    assert tfs_grpc(served, key) == "UNAUTHENTICATED"


def test_failed_attempts_are_rate_limited_per_address(world: World, tmp_path: Path) -> None:
    process = ServerProcess(
        f"--model_repository={world.repository}", f"--api_keys_file={world.keys_file}",
        "--auth_failures_per_minute=5", log_path=tmp_path / "server.log",
    )  # fmt: skip
    try:
        process.wait_ready(path="/v2/health/ready")
        url = process.url + "/v2/models/simple"
        for _ in range(5):
            assert requests.get(url, headers=_bearer("msk_0_guess"), timeout=5).status_code == 401
        refused = requests.get(url, headers=_bearer(world.keys["reader"]), timeout=5)
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
        assert "too many failed authentication attempts" in refused.json()["error"]
        with grpc.insecure_channel(process.grpc_target) as channel:
            from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = "simple"
            with pytest.raises(grpc.RpcError) as raised:
                model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
                    request, metadata=[("authorization", f"Bearer {world.keys['reader']}")], timeout=5
                )
            assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert requests.get(process.url + "/healthz", timeout=5).status_code == 200  # probes stay open
    finally:
        process.stop()


def test_certificates_rotate_without_restart(world: World, tmp_path: Path) -> None:
    pair = world.ca.issue("modelserve", server=True, stem="rotating")
    config = tmp_path / "tls.pbtxt"
    config.write_text(f'server_key: "{pair.key}"\nserver_cert: "{pair.cert}"\n')
    process = ServerProcess(
        f"--model_repository={world.repository}", f"--ssl_config_file={config}", log_path=tmp_path / "server.log",
        scheme="https", probe={"verify": str(world.ca.cert)},
    )  # fmt: skip
    try:
        process.wait_ready()
        first = _served_serials(process)
        assert first == (serial_of(pair.cert.read_bytes()),) * 2
        fresh = world.ca.issue("modelserve", server=True, stem="rotated")
        pair.cert.write_bytes(fresh.cert.read_bytes())
        pair.key.write_bytes(fresh.key.read_bytes())
        expected = (serial_of(fresh.cert.read_bytes()),) * 2
        wait_for(lambda: _served_serials(process) == expected, timeout=15, interval=0.5)
    finally:
        process.stop()


def _served_serials(process: ServerProcess) -> tuple[int, int]:
    """The serial numbers of the certificates the REST and gRPC ports present to a new connection."""
    import socket

    serials = []
    for port in (process.port, process.grpc_port):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if port == process.grpc_port:
            context.set_alpn_protocols(["h2"])
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            serials.append(serial_of(ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True)).encode()))
    return tuple(serials)  # type: ignore[return-value]


def test_admins_manage_keys_over_the_api(served: Served) -> None:
    if served.mode != "plain":
        pytest.skip("one transport is enough")
    url, ops = served.process.url + "/admin/keys", _bearer(served.world.keys["ops"])
    assert requests.get(url, headers=_bearer(served.world.keys["reader"]), timeout=5).status_code == 403
    made = requests.post(url, json={"name": "api-made", "scopes": "predict:simple"}, headers=ops, timeout=5).json()
    assert made["name"] == "api-made" and made["key"].startswith("msk_")
    listed = requests.get(url, headers=ops, timeout=5).json()["keys"]
    assert "api-made" in {entry["name"] for entry in listed} and made["key"] not in str(listed)
    wait_for(lambda: tfs_rest(served, made["key"]) == "served", timeout=10)
    bad = requests.post(url, json={"name": "x", "scopes": "write"}, headers=ops, timeout=5)
    assert bad.status_code == 400 and "unknown scope 'write'" in bad.json()["error"]
    assert requests.delete(f"{url}/api-made", headers=ops, timeout=5).json() == {"revoked": "api-made"}
    assert requests.delete(f"{url}/api-made", headers=ops, timeout=5).status_code == 404
    wait_for(lambda: tfs_rest(served, made["key"]) == "401", timeout=10)
    audit = (served.process.log_path.parent / "audit.jsonl").read_text()
    assert '"action":"DELETE /admin/keys/api-made"' in audit and made["key"] not in audit


def test_tf_serving_reload_config_needs_admin(served: Served) -> None:
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    request = model_management_pb2.ReloadConfigRequest()
    for name in ("simple", "other"):
        config = request.config.model_config_list.config.add()
        config.name, config.base_path, config.model_platform = name, str(served.world.repository / name), "onnx"
    with served.channel() as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        for key, code in ((None, grpc.StatusCode.UNAUTHENTICATED), ("reader", grpc.StatusCode.PERMISSION_DENIED)):
            metadata = [("authorization", f"Bearer {served.world.keys[key]}")] if key else []
            with pytest.raises(grpc.RpcError) as raised:
                stub.HandleReloadConfigRequest(request, metadata=metadata, timeout=10)
            assert raised.value.code() is code
        ops = [("authorization", f"Bearer {served.world.keys['ops']}")]
        assert stub.HandleReloadConfigRequest(request, metadata=ops, timeout=30).status.error_code == 0
    assert "HandleReloadConfigRequest" in (served.process.log_path.parent / "audit.jsonl").read_text()


def test_a_grpc_message_is_parsed_only_for_an_admitted_caller(served: Served) -> None:
    """Garbage bytes as a PredictRequest: a caller without a key is refused before they are parsed, one
    with a key gets INVALID_ARGUMENT for the message (never a crash or INTERNAL)."""
    with served.channel() as channel:
        predict = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
        garbage = b"\xff\xff\xff\xff\x0f" * 10
        for key, code in ((None, grpc.StatusCode.UNAUTHENTICATED), ("app", grpc.StatusCode.INVALID_ARGUMENT)):
            metadata = [("authorization", f"Bearer {served.world.keys[key]}")] if key else []
            with pytest.raises(grpc.RpcError) as raised:
                predict(garbage, metadata=metadata, timeout=10)
            assert raised.value.code() is code, raised.value.details()
