"""Version folders: integer names, leading zeros, duplicates, and the two-scan completeness rule."""

from pathlib import Path

from modelserve.repository.filesystem import VersionScanner, parse_version, version_folders


def test_parse_version():
    assert parse_version("00000123") == 123
    assert parse_version("0") == 0
    for bad in ("-1", "1a", "", ".1.tmp", "１", str(2**63)):
        assert parse_version(bad) is None


def test_version_folders_ignore_other_names_and_files(tmp_path: Path):
    for name in ("1", "0002", "abc", ".3.tmp-x"):
        (tmp_path / name).mkdir()
    (tmp_path / "4").write_text("a file, not a folder")
    assert version_folders(tmp_path) == {1: tmp_path / "1", 2: tmp_path / "0002"}


def test_duplicate_numbers_keep_the_first_name(tmp_path: Path):
    (tmp_path / "01").mkdir()
    (tmp_path / "1").mkdir()
    assert version_folders(tmp_path) == {1: tmp_path / "01"}


def test_missing_base_path_has_no_versions(tmp_path: Path):
    assert version_folders(tmp_path / "absent") == {}


def test_folder_is_ready_only_when_unchanged_across_two_scans(tmp_path: Path):
    scanner = VersionScanner(tmp_path)
    version = tmp_path / "7"
    version.mkdir()
    (version / "model.onnx").write_bytes(b"half")
    assert scanner.scan().ready == {}  # first sight
    (version / "model.onnx").write_bytes(b"half and more")  # still being written
    assert scanner.scan().ready == {}
    scan = scanner.scan()  # unchanged since the last scan
    assert list(scan.ready) == [7]
    assert scan.present == {7: version}


def test_empty_folder_is_never_ready(tmp_path: Path):
    (tmp_path / "1").mkdir()
    scanner = VersionScanner(tmp_path)
    scanner.scan()
    assert scanner.scan().ready == {}


def test_escape_from_finds_symlinks_out_of_the_repository(tmp_path: Path):
    from modelserve.repository.filesystem import escape_from

    root, outside = tmp_path / "models", tmp_path / "outside"
    (root / "plain" / "1").mkdir(parents=True)
    (outside / "model" / "1").mkdir(parents=True)
    (root / "linked_in").symlink_to(root / "plain")  # a link that stays inside is fine
    (root / "linked_out").symlink_to(outside / "model")
    (root / "version_out").mkdir()
    (root / "version_out" / "1").symlink_to(outside / "model" / "1")
    assert escape_from(root, root / "plain") is None
    assert escape_from(root, root / "linked_in") is None
    assert escape_from(root, root / "linked_out") == root / "linked_out"
    assert escape_from(root, root / "version_out") == root / "version_out" / "1"
    (root / "loop").symlink_to(root / "loop")
    assert escape_from(root, root / "loop") == root / "loop"
