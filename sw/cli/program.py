"""``scanfuse program``: the one-layer tile program of a planned GEMM in hex, one AXI beat per
line (:func:`scanfuse.program.descriptors.build_program`)."""

import argparse

from ..errors import InvalidOptionError
from . import options

__all__ = ["add_parser", "command"]


def _address(text: str) -> int:
    """A byte address in the engine's 32-bit space: ``4096`` or ``0x1000``."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"an address is a whole number such as 4096 or 0x1000, "
                                         f"not {text!r}") from None
    if not 0 <= value < 1 << 32:
        raise argparse.ArgumentTypeError(f"an address must be in 0..0xffffffff, not {text!r}")
    return value


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse program`` on the top-level subparsers."""
    p = sub.add_parser("program", help="print the tile program of one planned GEMM in hex",
                       description=__doc__)
    p.add_argument("--gemm", type=options.gemm, required=True, metavar="M,K,N")
    p.add_argument("--buffer", type=options.entries, default=8192, metavar="S",
                   help="planner buffer entries (default 8192)")
    p.add_argument("--a-base", type=_address, default=0x1000)
    p.add_argument("--b-base", type=_address, default=0x8000)
    p.add_argument("--c-base", type=_address, default=0x10000)


def command(args, console) -> int:
    from ..hw.program import OutMode
    from ..plan import BufferModel, plan_gemm
    from ..program.descriptors import LayerSpec, build_program

    g = args.gemm
    regions = {"A": (args.a_base, g.M * g.K), "B": (args.b_base, g.K * g.N),
               "C": (args.c_base, 4 * g.M * g.N)}
    names = sorted(regions, key=lambda n: regions[n][0])
    for first, second in zip(names, names[1:]):
        base, size = regions[first]
        if base + size > regions[second][0]:
            raise InvalidOptionError(
                f"{first} ({size:,} bytes at {base:#x}) overlaps {second} at "
                f"{regions[second][0]:#x}: move --{second.lower()}-base")
    last = names[-1]
    if regions[last][0] + regions[last][1] > 1 << 32:
        raise InvalidOptionError(f"{last} ends past the engine's 32-bit address space")
    plan = plan_gemm(args.gemm, BufferModel(args.buffer))
    image = build_program([LayerSpec(plan, args.a_base, args.b_base, args.c_base,
                                     OutMode.RAW_INT32)])
    desc = image.descriptors[0]
    print(f"# {args.gemm} tiles {plan.tiling.describe()}, {len(image.data)} bytes, "
          f"{image.cfg.axi_bytes}-byte beats")
    print(f"# {desc}")
    for i, beat in enumerate(image.hex_beats()):
        print(f"{i * image.cfg.axi_bytes:04x}: {beat}")
    return 0
