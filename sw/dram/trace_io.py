"""Burst traces for running the same stream in DRAMSim2 or DRAMsim3.

Both simulators read one transaction per line, ``0x<hex byte address> READ|WRITE <cycle>``:

* DRAMSim2's ``TraceBasedSim`` picks the parser from the file name, and only names starting
  with ``mase_`` select this format (``mase_*.trc``); the cycle is the memory clock cycle at
  which the transaction is offered.
* DRAMsim3's trace CPU (``dramsim3main <ini> -t <trace>``) reads the same three columns; the
  file must not end in a newline, or its reader sees the last line twice.

Writers stream in chunks (``chunk`` lines formatted at a time), so 10^7 lines need no more
memory than one chunk of text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import atomic_file
from ..errors import InvalidOptionError, InvalidShapeError

__all__ = ["check_trace_name", "write_dramsim2_trace", "write_dramsim3_trace", "read_trace"]

_CHUNK = 1 << 18


def _columns(addr: np.ndarray, is_write: np.ndarray | bool, issue_cycle: np.ndarray | int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(addr)
    if a.ndim != 1:
        raise InvalidShapeError(f"addr must be 1-D, not {a.ndim}-D")
    n = a.size
    w = np.broadcast_to(np.asarray(is_write, dtype=bool), (n,)) if np.ndim(is_write) == 0 \
        else np.asarray(is_write, dtype=bool)
    t = np.broadcast_to(np.asarray(issue_cycle, dtype=np.int64), (n,)) \
        if np.ndim(issue_cycle) == 0 else np.asarray(issue_cycle).astype(np.int64)
    if w.shape != (n,) or t.shape != (n,):
        raise InvalidShapeError("addr, is_write and issue_cycle must have the same length")
    if n and (t.min() < 0 or (np.issubdtype(a.dtype, np.signedinteger) and a.min() < 0)):
        raise InvalidOptionError("trace addresses and cycles must not be negative")
    return a.astype(np.uint64, copy=False), w, t


def _write(path: Path, addr: np.ndarray, is_write: np.ndarray | bool,
           issue_cycle: np.ndarray | int, trailing_newline: bool, chunk: int) -> int:
    a, w, t = _columns(addr, is_write, issue_cycle)
    if chunk < 1:
        raise InvalidOptionError(f"chunk must be at least 1 line, not {chunk}")
    n = a.size
    with atomic_file(path, "w", encoding="ascii", newline="\n") as f:
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            ops = np.where(w[lo:hi], "WRITE", "READ").tolist()
            text = "\n".join(map("0x%x %s %d".__mod__,
                                 zip(a[lo:hi].tolist(), ops, t[lo:hi].tolist())))
            f.write(text)
            if hi < n or trailing_newline:
                f.write("\n")
    return n


def check_trace_name(path: str | Path, fmt: str) -> Path:
    """Refuse a file name the format's simulator would not read (DRAMSim2 picks its trace
    format by the ``mase_`` prefix); run before the work that produces the trace."""
    path = Path(path)
    if fmt == "dramsim2" and not path.name.startswith("mase_"):
        raise InvalidOptionError(
            f"a DRAMSim2 trace file name must start with 'mase_' (e.g. mase_run.trc), "
            f"not {path.name!r}")
    return path


def write_dramsim2_trace(path: str | Path, addr: np.ndarray, is_write: np.ndarray | bool,
                         issue_cycle: np.ndarray | int = 0, chunk: int = _CHUNK) -> int:
    """Write a DRAMSim2 ``mase`` trace; returns the number of lines.

    Parameters
    ----------
    path : str or Path
        Output file; its name must start with ``mase_`` (e.g. ``mase_layer1.trc``).
    addr, is_write, issue_cycle
        One burst per element: byte address, write flag, memory cycle (scalars broadcast).
    chunk : int
        Lines formatted per write.

    Raises
    ------
    InvalidOptionError
        If the file name does not start with ``mase_`` or a value is negative.
    InvalidShapeError
        If the arrays differ in length.
    """
    path = check_trace_name(path, "dramsim2")
    return _write(path, addr, is_write, issue_cycle, trailing_newline=True, chunk=chunk)


def write_dramsim3_trace(path: str | Path, addr: np.ndarray, is_write: np.ndarray | bool,
                         issue_cycle: np.ndarray | int = 0, chunk: int = _CHUNK) -> int:
    """Write a DRAMsim3 trace (same three columns, no trailing newline); returns the number
    of lines.

    Raises
    ------
    InvalidOptionError
        If a value is negative.
    InvalidShapeError
        If the arrays differ in length.
    """
    return _write(Path(path), addr, is_write, issue_cycle, trailing_newline=False,
                  chunk=chunk)


def read_trace(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a trace written by either writer: ``(addr uint64, is_write bool, cycle int64)``.

    ``IFETCH`` counts as a read, as in DRAMSim2; blank lines are skipped.

    Raises
    ------
    InvalidOptionError
        For a line that is not ``0x<hex> READ|WRITE|IFETCH <cycle>`` (the message gives the
        line number).
    """
    addrs: list[int] = []
    writes: list[bool] = []
    cycles: list[int] = []
    try:
        return _read(path, addrs, writes, cycles)
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else "not an ASCII trace"
        raise InvalidOptionError(f"cannot read trace {str(path)!r}: {why}") from None


def _read(path, addrs, writes, cycles):
    with open(path, encoding="ascii") as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) != 3 or not parts[0].lower().startswith("0x"):
                    raise ValueError
                op = parts[1].upper()
                if op not in ("READ", "WRITE", "IFETCH"):
                    raise ValueError
                addrs.append(int(parts[0], 16))
                writes.append(op == "WRITE")
                cycles.append(int(parts[2]))
            except ValueError:
                raise InvalidOptionError(
                    f"{Path(path).name}:{number}: expected '0x<hex addr> READ|WRITE <cycle>', "
                    f"not {line.strip()!r}") from None
    return (np.array(addrs, dtype=np.uint64), np.array(writes, dtype=bool),
            np.array(cycles, dtype=np.int64))
