"""Typed exceptions of the ScanFuse API.

Every error the API raises for bad input derives from :class:`ScanFuseError`; the CLI turns
each one into a one-line message and exit code 2.
"""


class ScanFuseError(Exception):
    """Base class of every input or planning error ScanFuse raises on purpose."""


class InvalidShapeError(ScanFuseError, ValueError):
    """A dimension, tile size or layer shape is out of range (e.g. zero or negative)."""


class InvalidOptionError(ScanFuseError, ValueError):
    """An option has a value outside its documented set or range."""


class BufferTooSmallError(ScanFuseError):
    """The on-chip buffer cannot hold even the smallest legal tile of a problem."""


class UnknownNetworkError(ScanFuseError, LookupError):
    """A network name is not one of the built-in networks."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0]) if self.args else ""


class InvalidModelError(ScanFuseError, ValueError):
    """A model file (e.g. ONNX) is malformed or uses something the importer does not support;
    the message names the node."""


class OutputPathError(ScanFuseError, OSError):
    """An output file or folder cannot be written, or exists and ``--force`` was not given."""

    def __str__(self) -> str:  # OSError would prefix an errno
        return str(self.args[0]) if self.args else ""


class WorkTooLargeError(ScanFuseError):
    """The work a request asks for (steps, bursts, cycles, bytes) is over a limit; the message
    gives the estimate, the limit and the option that raises it."""


def check_type(name: str, value, kind):
    """Return ``value`` if it is an instance of ``kind`` (a class or tuple of classes), else
    raise :class:`InvalidOptionError` naming the argument (not an AttributeError later)."""
    if not isinstance(value, kind):
        want = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise InvalidOptionError(f"{name} must be a {want}, not {type(value).__name__} {value!r:.60}")
    return value
