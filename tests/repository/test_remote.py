"""Remote version folders on fsspec's in-memory filesystem: the scan rules, the cache, failures, the manager.

``memory://`` is a real fsspec filesystem (the one s3fs and gcsfs implement the same API as); S3 itself is
exercised against moto's server in test_remote_s3.py and tests/server/test_remote_storage.py.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from modelserve.config import ModelConfig
from modelserve.errors import InvalidArgument, PermissionDenied, Unavailable
from modelserve.repository import remote
from modelserve.repository.cache import check_relative_key
from modelserve.repository.filesystem import VersionScanner
from modelserve.repository.remote import DownloadFailed, RemoteSettings, RemoteVersionScanner, check_url, is_url
from modelserve.repository.scanners import scanner_for
from modelserve.runtimes import registry
from modelserve.serving.manager import ModelManager
from modelserve.serving.state import VersionState


@pytest.fixture
def bucket():
    """A fresh bucket name in the process-wide memory filesystem, emptied afterwards."""
    name = f"bucket-{uuid.uuid4().hex[:8]}"
    yield name
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


def upload(local: Path, url: str) -> None:
    fs = fsspec.filesystem("memory")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.pipe(f"{url}/{path.relative_to(local).as_posix()}", path.read_bytes())


def put(url: str, data: bytes) -> None:
    fsspec.filesystem("memory").pipe(url, data)


def scanner(url: str, tmp_path: Path, **kwargs) -> RemoteVersionScanner:
    return RemoteVersionScanner(url, RemoteSettings(cache_dir=tmp_path / "cache"), **kwargs)


# ---- URLs ----


def test_urls_are_recognised_and_checked():
    assert is_url("s3://bucket/models/x") and is_url("gs://b") and not is_url("/models/x")
    assert not is_url(Path("/models/x")) and not is_url("C:\\models")
    assert check_url("s3://bucket/models/x/") == "s3://bucket/models/x"
    assert check_url("GS://bucket") == "gs://bucket"
    with pytest.raises(
        InvalidArgument, match=r"unsupported base path scheme in 'http://h/x': use a local folder, s3://"
    ):
        check_url("http://h/x")
    with pytest.raises(InvalidArgument, match="names no bucket"):
        check_url("s3://")


def test_scanner_for_picks_by_base_path(tmp_path: Path):
    assert isinstance(scanner_for(tmp_path), VersionScanner)
    assert isinstance(scanner_for(str(tmp_path)), VersionScanner)
    s3 = scanner_for("s3://bucket/models/m", RemoteSettings(cache_dir=tmp_path))  # no request made yet
    gs = scanner_for("gs://bucket/m", RemoteSettings(cache_dir=tmp_path))
    assert isinstance(s3, RemoteVersionScanner) and isinstance(gs, RemoteVersionScanner)
    assert s3.cache.base == tmp_path / "s3/bucket/models/m"
    with pytest.raises(InvalidArgument):
        scanner_for("ftp://host/m")


# ---- the scan rules ----


def test_version_is_ready_only_when_its_listing_is_unchanged_across_two_scans(bucket: str, tmp_path: Path):
    url = f"memory://{bucket}/m"
    scan = scanner(url, tmp_path)
    put(f"{url}/7/model.onnx", b"half")
    assert scan.scan().ready == {}  # first sight
    put(f"{url}/7/model.onnx", b"half and more")  # still being uploaded
    assert scan.scan().ready == {}
    put(f"{url}/7/extra.bin", b"one more file")
    assert scan.scan().ready == {}
    result = scan.scan()  # unchanged since the last scan
    assert list(result.ready) == [7] and list(result.present) == [7]
    assert not result.present[7].exists(), "a scan downloads nothing"


def test_integer_names_hidden_names_duplicates_and_loose_objects(bucket: str, tmp_path: Path):
    url = f"memory://{bucket}/m"
    for key in ("1/a", "0002/a", "abc/a", ".3.tmp-x/a", "01/a", "4", "README"):
        put(f"{url}/{key}", b"x")
    listed = scanner(url, tmp_path).list_versions()
    assert {v: item.name for v, item in listed.items()} == {1: "01", 2: "0002"}  # "01" sorts before "1"


def test_missing_base_path_has_no_versions(bucket: str, tmp_path: Path):
    scan = scanner(f"memory://{bucket}/absent", tmp_path)
    assert scan.scan().present == {} and scan.error is None


# ---- the cache ----


def test_reading_a_ready_entry_copies_the_version_and_an_unchanged_one_is_reused(
    bucket: str, tmp_path: Path, examples_dir: Path
):
    url = f"memory://{bucket}/hpt"
    upload(examples_dir / "half_plus_two/00000123", f"{url}/00000123")
    first = scanner(url, tmp_path)
    first.scan()
    folder, fingerprint = first.scan().ready[123]
    assert folder == first.scan().present[123]
    source = examples_dir / "half_plus_two/00000123"
    files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    assert sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file()) == files
    assert (folder / "saved_model.pb").read_bytes() == (source / "saved_model.pb").read_bytes()
    assert [p.name for p in folder.parent.iterdir()] == [folder.name], "no temporary folder left behind"
    inode = (folder / "saved_model.pb").stat().st_ino

    again = scanner(url, tmp_path)  # a new process with the same cache folder
    again.scan()
    assert again.scan().ready[123] == (folder, fingerprint)
    assert (folder / "saved_model.pb").stat().st_ino == inode, "reused, not downloaded again"


def test_a_changed_version_gets_a_new_folder_and_a_deleted_one_leaves_the_cache(bucket: str, tmp_path: Path):
    url = f"memory://{bucket}/m"
    put(f"{url}/1/model.bin", b"one")
    put(f"{url}/2/model.bin", b"two")
    scan = scanner(url, tmp_path)
    scan.scan()
    old, _ = scan.scan().ready[1]
    put(f"{url}/1/model.bin", b"one, changed")
    scan.scan()
    new, _ = scan.scan().ready[1]
    assert new != old and (new / "model.bin").read_bytes() == b"one, changed"
    fsspec.filesystem("memory").rm(f"{url}/1", recursive=True)
    assert list(scan.scan().present) == [2]
    assert not new.exists() and not old.exists()


def test_object_keys_cannot_climb_out_of_the_version_folder():
    for key in ("../../etc/x", "a/../../x", "/abs", "a//b", ""):
        with pytest.raises(PermissionDenied):
            check_relative_key(key)
    check_relative_key("variables/variables.index")


# ---- failures ----


class FlakyMemory(MemoryFileSystem):
    """The in-memory filesystem with switchable outages (a storage service that fails on demand)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.failing_gets = 0
        self.listing_error: Exception | None = None

    def find(self, *args, **kwargs):
        if self.listing_error is not None:
            raise self.listing_error
        return super().find(*args, **kwargs)

    def get_file(self, *args, **kwargs):
        if self.failing_gets:
            self.failing_gets -= 1
            raise ConnectionResetError("connection reset by peer")
        return super().get_file(*args, **kwargs)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def onnx_manager(url: str, tmp_path: Path, fs: MemoryFileSystem, clock: Clock) -> ModelManager:
    manager = ModelManager(ModelConfig(name="digits", base_path=url), registry.load)
    manager._scanner = scanner(url, tmp_path, filesystem=fs, clock=clock)  # the flaky filesystem, same scanner
    return manager


def test_a_failed_download_is_the_versions_load_error_and_is_retried_later(
    bucket: str, tmp_path: Path, examples_dir: Path
):
    url = f"memory://{bucket}/digits"
    upload(examples_dir / "digits_onnx/1", f"{url}/1")
    fs, clock = FlakyMemory(skip_instance_cache=True), Clock()
    manager = onnx_manager(url, tmp_path, fs, clock)
    fs.failing_gets = 1
    manager.poll()
    manager.poll()
    [status] = manager.statuses()
    assert (status.state, status.error_code.name) == (VersionState.END, "UNAVAILABLE")
    assert status.error_message.startswith(f"cannot copy {url}/1 into the local cache: {url}/1: cannot reach")
    assert "connection reset by peer" in status.error_message
    for _ in range(3):
        manager.poll()
    assert manager.available_versions() == [], "no retry before its delay"
    clock.now = remote.RETRY_DELAYS[0] + 1
    manager.poll()
    manager.poll()
    assert manager.available_versions() == [1]
    with manager.borrow() as served:
        out = served.model.run("serving_default", {"images": np.zeros((2, 8, 8, 1), np.float32)})
    assert next(iter(out.values())).shape == (2, 10)


def test_download_failed_raises_its_error_when_used_as_a_path():
    failed = DownloadFailed(Unavailable("storage down"))
    with pytest.raises(Unavailable, match="storage down"):
        os.fspath(failed)


def test_an_unlistable_base_path_keeps_what_serves_and_says_why(bucket: str, tmp_path: Path, examples_dir: Path):
    url = f"memory://{bucket}/digits"
    upload(examples_dir / "digits_onnx/1", f"{url}/1")
    fs, clock = FlakyMemory(skip_instance_cache=True), Clock()
    manager = onnx_manager(url, tmp_path, fs, clock)
    manager.poll()
    manager.poll()
    assert manager.available_versions() == [1]
    fs.listing_error = PermissionError("Access Denied")
    for _ in range(3):
        manager.poll()
    assert manager.available_versions() == [1], "an unreachable bucket unloads nothing"
    assert manager._scanner.error == (f"{url}: access denied (Access Denied); check the credentials")
    fs.listing_error = None
    fsspec.filesystem("memory").rm(f"{url}/1", recursive=True)
    manager.poll()
    assert manager._scanner.error is None
    assert manager.available_versions() == [], "a version deleted from the bucket is unloaded"


def test_errors_name_what_to_check():
    s3 = "s3://b/m"
    denied = remote.describe_error(s3, PermissionError("InvalidAccessKeyId"))
    assert isinstance(denied, PermissionDenied)
    assert (
        denied.message
        == f"{s3}: access denied (InvalidAccessKeyId); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
    )
    assert "GOOGLE_APPLICATION_CREDENTIALS" in remote.describe_error("gs://b/m", PermissionError("403")).message
    missing = remote.describe_error(s3, FileNotFoundError("The specified bucket does not exist"))
    assert missing.code.name == "NOT_FOUND"
    assert missing.message == f"{s3}: no such bucket or object (The specified bucket does not exist)"
    assert remote.describe_error(s3, ConnectionRefusedError("refused")).code.name == "UNAVAILABLE"


# ---- configuration: flags and the model config file ----


def test_config_file_keeps_urls_and_names_the_line_of_a_bad_one(tmp_path: Path):
    from modelserve.config_io import parse_model_config

    models = parse_model_config(
        'model_config_list {\n  config { name: "a" base_path: "s3://bucket/models/a/" }\n'
        '  config { name: "b" base_path: "relative/b" }\n}\n',
        tmp_path / "models.config",
    )
    assert [m.base_path for m in models] == ["s3://bucket/models/a", tmp_path / "relative/b"]
    with pytest.raises(InvalidArgument, match=r"models.config:3: unsupported base path scheme in 'hdfs://nn/b'"):
        parse_model_config(
            'model_config_list {\n  config { name: "a" base_path: "/a" }\n'
            '  config { name: "b" base_path: "hdfs://nn/b" }\n}\n',
            tmp_path / "models.config",
        )


def test_serve_flags_take_urls_and_set_the_cache_and_endpoint(tmp_path: Path):
    import argparse

    from modelserve.server.flags import add_serve_flags, server_config

    parser = argparse.ArgumentParser()
    add_serve_flags(parser)
    before = remote.current_settings()
    try:
        args = parser.parse_args(
            [
                "--model_name=m",
                "--model_base_path=gs://bucket/m/",
                f"--remote_cache_dir={tmp_path}",
                "--s3_endpoint=http://127.0.0.1:9000",
            ]
        )
        config = server_config(args, environ={})
        assert config.models[0].base_path == "gs://bucket/m"
        assert remote.current_settings() == RemoteSettings(cache_dir=tmp_path, s3_endpoint="http://127.0.0.1:9000")
        env = {"MODEL_NAME": "m", "MODEL_BASE_PATH": "s3://bucket/models"}
        config = server_config(parser.parse_args([]), environ=env)
        assert config.models[0].base_path == "s3://bucket/models/m"
        with pytest.raises(InvalidArgument, match="unsupported base path scheme"):
            server_config(parser.parse_args(["--model_base_path=http://host/m"]), environ={})
    finally:
        remote.configure(before)
