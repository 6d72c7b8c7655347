"""TF Serving's SSLConfig file: PEM inline or (ours) file paths, errors named, rotation picked up."""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path

import pytest

from certificates import CertificateAuthority
from modelserve.errors import InvalidArgument
from modelserve.server.tls import TlsSource, client_common_name, read_ssl_config, server_context


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


def _quoted(pem: bytes) -> str:
    return '"' + pem.decode().replace("\n", "\\n") + '"'


def test_inline_pem_as_tf_serving_writes_it(ca: CertificateAuthority, tmp_path: Path) -> None:
    cert, key = ca.issue("server", server=True).read()
    path = tmp_path / "ssl.pbtxt"
    path.write_text(f"server_key: {_quoted(key)}\nserver_cert: {_quoted(cert)}\n")
    material = read_ssl_config(path)
    assert material.server_cert == cert and material.server_key == key
    assert material.custom_ca is None and not material.client_verify and material.files == (path,)
    context = server_context(material)
    assert context.verify_mode is ssl.CERT_NONE and context.minimum_version is ssl.TLSVersion.TLSv1_2


def test_paths_relative_to_the_config_and_client_verify(ca: CertificateAuthority, tmp_path: Path) -> None:
    pair = ca.issue("server", server=True)
    (tmp_path / "tls").mkdir()
    os.symlink(pair.cert, tmp_path / "tls" / "server.crt")
    path = tmp_path / "ssl.pbtxt"
    path.write_text(
        f'server_key: "{pair.key}"\nserver_cert: "tls/server.crt"\ncustom_ca: "{ca.cert}"\nclient_verify: true\n'
    )
    material = read_ssl_config(path)
    assert material.client_verify and material.custom_ca == ca.cert.read_bytes()
    assert material.files == (path, pair.key, tmp_path / "tls" / "server.crt", ca.cert)
    assert server_context(material).verify_mode is ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('server_key: "k"\nserver_certificate: "c"', "unknown SSLConfig field 'server_certificate'"),
        ("client_verify: 1", "'client_verify' must be a bool"),
        ('server_cert: "-----BEGIN CERTIFICATE-----"', "needs server_key and server_cert"),
        ('server_key: "missing.key"\nserver_cert: "x"', "cannot read server_key file"),
        ("server_key {", "Error parsing text-format tensorflow.serving.SSLConfig"),
    ],
)
def test_errors_name_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ssl.pbtxt"
    path.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        read_ssl_config(path)


def test_client_verify_needs_a_ca_and_keys_must_load(ca: CertificateAuthority, tmp_path: Path) -> None:
    pair = ca.issue("server", server=True)
    path = tmp_path / "ssl.pbtxt"
    path.write_text(f'server_key: "{pair.key}"\nserver_cert: "{pair.cert}"\nclient_verify: true\n')
    with pytest.raises(InvalidArgument, match="client_verify needs custom_ca"):
        read_ssl_config(path)
    other = ca.issue("other", server=True)
    path.write_text(f'server_key: "{other.key}"\nserver_cert: "{pair.cert}"\n')
    with pytest.raises(InvalidArgument, match="do not load"):
        server_context(read_ssl_config(path))


def test_a_changed_file_is_re_read_and_a_broken_one_kept_out(ca: CertificateAuthority, tmp_path: Path) -> None:
    pair = ca.issue("server", server=True, stem="rotating")
    path = tmp_path / "ssl.pbtxt"
    path.write_text(f'server_key: "{pair.key}"\nserver_cert: "{pair.cert}"\n')
    source = TlsSource(path)
    first = source.material.server_cert
    assert not source.refresh()
    fresh = ca.issue("server", server=True, stem="fresh")
    pair.cert.write_bytes(fresh.cert.read_bytes())
    pair.key.write_bytes(fresh.key.read_bytes())
    time.sleep(1.05)
    assert source.refresh() and source.material.server_cert != first
    assert source._grpc_fetch() is not None and source._grpc_fetch() is None  # once per change
    pair.key.write_text("not a key")
    time.sleep(1.05)
    assert not source.refresh() and source.material.server_cert == fresh.cert.read_bytes()


def test_client_common_name() -> None:
    subject = ((("countryName", "NL"),), (("commonName", "edge-7"),))
    assert client_common_name({"subject": subject}) == "edge-7"
    assert client_common_name({}) is None and client_common_name(None) is None
