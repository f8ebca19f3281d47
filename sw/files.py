"""The user's files: output paths checked before any work, and written whole or not at all.

Every file ScanFuse writes goes through here:

* :func:`check_output_file` / :func:`check_output_dir` run before the work starts and raise
  :class:`~scanfuse.errors.OutputPathError` for a path that cannot be written (no such
  folder, not writable, a device such as ``/dev/full``, a folder where a file is wanted, a
  wrong extension) or that already exists and ``force`` is not given;
* :func:`atomic_file` writes to a temporary file in the same folder and renames it into
  place with :func:`os.replace`, so a reader never sees a truncated file and an
  interrupted or failed write leaves the old file (or nothing);
* :func:`atomic_dir` builds a folder whole in a temporary sibling and renames it into place.

Temporary names start with ``.scanfuse-`` so a crash leaves recognisable litter, never a
file that looks complete.
"""

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from .errors import OutputPathError

__all__ = ["check_output_file", "check_output_dir", "atomic_file", "atomic_dir",
           "write_text", "write_bytes"]

_PREFIX = ".scanfuse-"


def _probe(folder: Path, path: Path, what: str) -> None:
    """Create and remove a temporary file in ``folder``: the one test of writability that
    holds for root, read-only mounts and pseudo file systems such as /proc."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=_PREFIX, suffix=".probe", dir=folder)
    except OSError as err:
        raise OutputPathError(f"{what} {str(path)!r}: cannot write in folder {str(folder)!r} "
                              f"({err.strerror})") from None
    os.close(fd)
    os.unlink(tmp)


def _check_parent(path: Path, what: str) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise OutputPathError(f"{what} {str(path)!r}: folder {str(parent)!r} does not exist")
    _probe(parent, path, what)


def check_output_file(path, what: str = "output", *, force: bool = False,
                      suffixes: "tuple[str, ...] | None" = None) -> Path:
    """Check that ``path`` can be written as a regular file before any long work; return it.

    ``suffixes`` (e.g. ``(".png",)``) are the accepted extensions. An existing regular file
    is refused unless ``force``; a folder or a device (``/dev/full``) always is.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise OutputPathError(f"{what} {str(path)!r} must end in {' or '.join(suffixes)}")
    if path.exists() or path.is_symlink():
        mode = os.stat(path).st_mode if path.exists() else 0
        if stat.S_ISDIR(mode):
            raise OutputPathError(f"{what} {str(path)!r} is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise OutputPathError(f"{what} {str(path)!r} is not a regular file")
        if not force:
            raise OutputPathError(f"{what} {str(path)!r} exists; give --force to replace it")
    _check_parent(path, what)
    return path


def check_output_dir(path, what: str = "output folder", *, force: bool = False,
                     must_be_new: bool = True, replaceable=None) -> Path:
    """Check that folder ``path`` can be written before any long work; return it.

    With ``must_be_new`` (a report written whole by :func:`atomic_dir`), an existing
    non-empty folder is refused unless ``force``; otherwise an existing folder is reused.
    Missing parents may be created: the nearest existing one must be a writable folder.
    ``replaceable`` (a predicate on a file name) guards ``force`` for a folder that will be
    replaced whole: a folder holding anything else (``--out .``, a home folder) is refused
    even with ``force``.
    """
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputPathError(f"{what} {str(path)!r} exists and is not a folder")
        if must_be_new and any(path.iterdir()) and not force:
            raise OutputPathError(f"{what} {str(path)!r} exists and is not empty; give --force "
                                  f"to replace it")
        if must_be_new and replaceable is not None:
            foreign = sorted(p.name for p in path.iterdir()
                             if not (p.is_file() and replaceable(p.name)))
            if foreign:
                raise OutputPathError(f"{what} {str(path)!r} holds {foreign[0]!r}, which this "
                                      f"command did not write; it replaces the folder whole, "
                                      f"so give a new or empty folder")
        _probe(path, path, what)
        return path
    # Missing parents are created: the nearest existing one must be a writable folder.
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"{what} {str(path)!r}: {str(ancestor)!r} is not a folder")
    _probe(ancestor, path, what)
    return path


@contextlib.contextmanager
def atomic_file(path, mode: str = "w", **kwargs):
    """Open a temporary file beside ``path``; on a clean exit rename it to ``path``, on an
    exception (Ctrl-C included) remove it. ``mode`` is ``"w"`` or ``"wb"``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=_PREFIX, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_file`)."""
    with atomic_file(path, "w") as f:
        f.write(text)


def write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_file`)."""
    with atomic_file(path, "wb") as f:
        f.write(data)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a fresh temporary folder beside ``path`` to fill; on a clean exit it replaces
    ``path`` (an old folder there is removed only then), on an exception it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=path.parent))
            os.replace(path, old / "old")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
