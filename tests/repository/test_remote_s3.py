"""The remote scanner against a real S3 API: moto's server on 127.0.0.1, driven with boto3 as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from modelserve.errors import InvalidArgument
from modelserve.repository.remote import RemoteSettings, RemoteVersionScanner, model_folders


def upload(client, bucket: str, local: Path, prefix: str) -> None:
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")


def test_scan_and_copy_a_savedmodel_from_s3(s3, s3_endpoint: str, tmp_path: Path, examples_dir: Path):
    client, bucket = s3
    upload(client, bucket, examples_dir / "half_plus_two/00000123", "hpt/00000123")
    client.put_object(Bucket=bucket, Key="hpt/00000124/", Body=b"")  # a console's empty "folder" marker
    settings = RemoteSettings(cache_dir=tmp_path, s3_endpoint=s3_endpoint)
    scanner = RemoteVersionScanner(f"s3://{bucket}/hpt", settings)
    assert scanner.scan().ready == {}
    scan = scanner.scan()
    assert list(scan.ready) == [123], "an empty folder marker is not a version"
    folder, _ = scan.ready[123]
    source = examples_dir / "half_plus_two/00000123"
    for path in (p for p in source.rglob("*") if p.is_file()):
        assert (folder / path.relative_to(source)).read_bytes() == path.read_bytes()
    assert folder.parent == tmp_path / "s3" / bucket / "hpt"


def test_model_folders_of_a_remote_repository(s3, s3_endpoint: str, examples_dir: Path):
    client, bucket = s3
    upload(client, bucket, examples_dir / "digits_onnx/1", "repo/digits_onnx/1")
    upload(client, bucket, examples_dir / "multiply_five/1", "repo/multiply_five/00000001")
    client.put_object(Bucket=bucket, Key="repo/notes/readme.txt", Body=b"not a model")
    client.put_object(Bucket=bucket, Key="repo/.hidden/1/x", Body=b"hidden")
    settings = RemoteSettings(s3_endpoint=s3_endpoint)
    assert model_folders(f"s3://{bucket}/repo", settings) == ["digits_onnx", "multiply_five"]
    with pytest.raises(InvalidArgument, match=r"--model_repository s3://no-such-bucket-x/repo: no such bucket"):
        model_folders("s3://no-such-bucket-x/repo", settings)


def test_a_missing_bucket_is_a_clear_error(s3, s3_endpoint: str, tmp_path: Path):
    scanner = RemoteVersionScanner("s3://no-such-bucket-x/m", RemoteSettings(tmp_path, s3_endpoint))
    assert scanner.scan().present == {}
    assert scanner.error == ("s3://no-such-bucket-x/m: no such bucket or object (The specified bucket does not exist)")


def test_wrong_credentials_are_a_clear_error(s3, s3_endpoint: str, tmp_path: Path, monkeypatch):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="m/1/model.onnx", Body=b"x")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    scanner = RemoteVersionScanner(f"s3://{bucket}/m", RemoteSettings(tmp_path, s3_endpoint))
    # moto checks signatures against its IAM users only once told to (its documented reset-auth switch)
    requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        scanner.scan()
    finally:
        requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()
    assert scanner.error is not None
    assert scanner.error.startswith(f"s3://{bucket}/m: access denied (")
    assert scanner.error.endswith("check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE")
