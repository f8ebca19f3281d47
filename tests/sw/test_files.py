"""scanfuse.files: output paths checked up front, files and folders written whole or not at all."""

import pytest

from scanfuse.errors import OutputPathError, ScanFuseError
from scanfuse.files import (atomic_dir, atomic_file, check_output_dir, check_output_file,
                            write_text)


def test_output_path_error_is_a_scanfuse_error_with_a_plain_message():
    err = OutputPathError("out.png exists")
    assert isinstance(err, ScanFuseError) and str(err) == "out.png exists"


def test_check_output_file(tmp_path):
    new = tmp_path / "new.png"
    assert check_output_file(new, "--plot", suffixes=(".png",)) == new
    old = tmp_path / "old.png"
    old.write_text("mine")
    with pytest.raises(OutputPathError, match="exists; give --force to replace it"):
        check_output_file(old, "--plot")
    assert check_output_file(old, "--plot", force=True) == old
    with pytest.raises(OutputPathError, match="must end in .png"):
        check_output_file(tmp_path / "out.xyz", "--plot", suffixes=(".png",))
    with pytest.raises(OutputPathError, match="is a folder, not a file"):
        check_output_file(tmp_path, "-o", force=True)
    with pytest.raises(OutputPathError, match="is not a regular file"):
        check_output_file("/dev/full", "-o", force=True)
    with pytest.raises(OutputPathError, match="does not exist"):
        check_output_file(tmp_path / "no" / "x.trc", "-o")
    assert old.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]


def test_check_output_dir(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "report.md").write_text("old")
    with pytest.raises(OutputPathError, match="exists and is not empty; give --force"):
        check_output_dir(tmp_path / "full", "--out")
    check_output_dir(tmp_path / "full", "--out", force=True)
    check_output_dir(tmp_path / "full", "--out", must_be_new=False)
    check_output_dir(tmp_path / "a" / "b", "--out")                 # parents are created later
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="is not a folder"):
        check_output_dir(tmp_path / "file" / "sub", "--out")
    with pytest.raises(OutputPathError, match="exists and is not a folder"):
        check_output_dir(tmp_path / "file", "--out", force=True)


def test_atomic_file_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "t.trc"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(path) as f:
            f.write("half a new fi")
            raise KeyboardInterrupt
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.trc"]
    write_text(path, "new\n")
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["t.trc"]


def test_atomic_dir_replaces_a_folder_only_when_complete(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("old")
    (out / "stale.png").write_text("old plot")
    with pytest.raises(OSError):
        with atomic_dir(out) as tmp:
            (tmp / "results.json").write_text("{")
            raise OSError(28, "No space left on device")
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "stale.png"]
    with atomic_dir(out) as tmp:
        (tmp / "report.md").write_text("new")
    assert [p.name for p in out.iterdir()] == ["report.md"]           # no stale plots
    assert (out / "report.md").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_force_never_replaces_a_folder_of_other_files(tmp_path):
    """``evaluate --out . --force`` must not swap away the user's working folder."""
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "report.md").write_text("old")
    with pytest.raises(OutputPathError, match="holds 'notes.txt', which this command did not"):
        check_output_dir(tmp_path, "--out", force=True,
                         replaceable=lambda name: name == "report.md")
    (tmp_path / "notes.txt").unlink()
    check_output_dir(tmp_path, "--out", force=True, replaceable=lambda name: name == "report.md")
