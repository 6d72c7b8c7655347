"""The TF.js file routes over a real ModelService (fake runtimes): what is served, with which headers, and what
is refused (paths leaving the version's ``tfjs`` folder, models without a conversion, unknown runtime files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_services import make_repository, make_service
from modelserve.errors import NotFound
from modelserve.server import tfjs_files
from modelserve.server.tfjs_files import TfjsFiles, content_type, runtime_dir, safe_relative


@pytest.fixture
def files(tmp_path: Path):
    repo = make_repository(tmp_path / "models")
    for version in (1, 2):
        folder = repo / "a" / str(version) / "tfjs"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_text(json.dumps({"format": "graph-model", "version": version}))
        (folder / "group1-shard1of1.bin").write_bytes(bytes([version]) * 8)
    (repo / "a" / "2" / "model.txt").write_text("a")
    (repo / "a" / "2" / "secret.txt").write_text("not a TF.js file")
    runtime = tmp_path / "runtime"
    for name, relative in tfjs_files.BROWSER_FILES.items():
        (runtime / "node_modules" / relative).parent.mkdir(parents=True, exist_ok=True)
        (runtime / "node_modules" / relative).write_text(f"// {name}")
    service = make_service(repo, "a", "b")
    try:
        yield TfjsFiles(service, runtime)
    finally:
        service.stop()


def test_files_of_served_versions_only(files: TfjsFiles):
    newest = files.answer("/v1/models/a/tfjs/model.json")
    assert json.loads(newest.body)["version"] == 2
    assert newest.content_type == b"application/json"
    assert (b"access-control-allow-origin", b"*") in newest.headers
    shard = files.answer("/v1/models/a/versions/2/tfjs/group1-shard1of1.bin")
    assert shard.body == b"\x02" * 8 and shard.content_type == b"application/octet-stream"
    with pytest.raises(NotFound):  # on disk, but not served (the policy serves the latest version only)
        files.answer("/v1/models/a/versions/1/tfjs/model.json")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/a/tfjs/../secret.txt",
        "/v1/models/a/tfjs/..%2Fsecret.txt",
        "/v1/models/a/tfjs/%2e%2e/secret.txt",
        "/v1/models/a/tfjs/.hidden",
        "/v1/models/a/tfjs/missing.bin",
        "/v1/models/a/tfjs/",
        "/v1/models/a/versions/7/tfjs/model.json",
        "/v1/models/b/tfjs/model.json",
        "/v1/models/nope/tfjs/model.json",
    ],
)
def test_refused_paths_are_not_found(files: TfjsFiles, path: str):
    with pytest.raises(NotFound):
        files.answer(path)


def test_a_link_out_of_the_folder_is_refused(files: TfjsFiles, tmp_path: Path):
    (tmp_path / "models" / "a" / "2" / "tfjs" / "link.json").symlink_to(tmp_path / "models" / "a" / "2" / "secret.txt")
    with pytest.raises(NotFound):
        files.answer("/v1/models/a/tfjs/link.json")


def test_runtime_files_for_the_browser(files: TfjsFiles):
    script = files.answer("/ui/tfjs-runtime/tf.min.js")
    assert script.body == b"// tf.min.js" and script.content_type == b"text/javascript"
    assert files.answer("/ui/tfjs-runtime/tfjs-backend-wasm-simd.wasm").content_type == b"application/wasm"
    with pytest.raises(NotFound, match=r"no TF\.js runtime file"):
        files.answer("/ui/tfjs-runtime/package.json")


def test_without_the_runtime_the_answer_names_the_install_script(files: TfjsFiles):
    bare = TfjsFiles(files.service, None)
    with pytest.raises(NotFound, match=r"install_tfjs\.sh"):
        bare.answer("/ui/tfjs-runtime/tf.min.js")


def test_which_requests_the_routes_take(files: TfjsFiles):
    assert files.handles("GET", "/v1/models/a/tfjs/model.json")
    assert files.handles("GET", "/v1/models/a/labels/stable/tfjs/model.json")
    assert files.handles("GET", "/ui/tfjs-runtime/tf.min.js")
    assert not files.handles("POST", "/v1/models/a/tfjs/model.json")
    assert not files.handles("GET", "/v1/models/a/metadata")
    assert not files.handles("GET", "/ui/")


def test_segments_and_content_types():
    assert safe_relative("group1-shard1of2.bin") == ("group1-shard1of2.bin",)
    assert safe_relative("sub/model.json") == ("sub", "model.json")
    for bad in ("..", "a/../b", "a//b", ".env", "a%2Fb", "a\\b", ""):
        assert safe_relative(bad) is None, bad
    assert content_type(Path("model.json")) == b"application/json"
    assert content_type(Path("group1-shard1of1.bin")) == b"application/octet-stream"


def test_runtime_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(tfjs_files.ENV_DIR, str(tmp_path))
    assert runtime_dir() is None
    (tmp_path / "node_modules" / "@tensorflow" / "tfjs").mkdir(parents=True)
    (tmp_path / "node_modules" / "@tensorflow" / "tfjs" / "package.json").write_text("{}")
    assert runtime_dir() == tmp_path.resolve()


def test_a_zero_padded_version_folder_is_found(tmp_path: Path):
    repo = make_repository(tmp_path / "models")
    padded = repo / "a" / "00000007"
    (padded / "tfjs").mkdir(parents=True)
    (padded / "model.txt").write_text("a")
    (padded / "tfjs" / "model.json").write_text('{"format": "graph-model"}')
    service = make_service(repo, "a")
    try:
        assert TfjsFiles(service, None).answer("/v1/models/a/versions/7/tfjs/model.json").body.startswith(b"{")
    finally:
        service.stop()
