"""``scanfuse coverage FILE`` (``make regress``): the functional-coverage summary of the cocotb
engine runs (:mod:`scanfuse.sim.coverage`): hits per bin and the bins never hit."""

import json

__all__ = ["add_parser", "command"]

#: Largest coverage file read (characters); a make-regress run writes about 1 MB.
_MAX_BYTES = 256 << 20


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse coverage`` on the top-level subparsers."""
    p = sub.add_parser("coverage", help="functional-coverage summary of the engine benches",
                       description="Summarise the JSON-lines coverage records the cocotb engine "
                                   "bench appends to $SCANFUSE_COVERAGE.")
    p.add_argument("file", metavar="FILE", help="JSON-lines coverage records")


def command(args, console) -> int:
    """Print the summary; exit 1 when there are no records, 2 for an unreadable file."""
    from ..errors import InvalidOptionError
    from ..sim.coverage import summarize

    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read(_MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "not UTF-8 text"
        raise InvalidOptionError(f"coverage file {args.file}: {reason}") from None
    if len(text) > _MAX_BYTES:
        raise InvalidOptionError(f"coverage file {args.file}: larger than {_MAX_BYTES:,} bytes")
    try:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise InvalidOptionError(f"coverage file {args.file}: not JSON lines ({err.msg}, "
                                 f"line {err.lineno})") from None
    if not records or not all(isinstance(r, dict) for r in records):
        print(f"no coverage records in {args.file}")
        return 1
    print(summarize(records))
    return 0
