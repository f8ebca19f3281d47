"""``scanfuse program``: the one-layer tile program of a planned GEMM in hex, one AXI beat per
line (:func:`scanfuse.program.descriptors.build_program`)."""

from . import options

__all__ = ["add_parser", "command"]


def _address(text: str) -> int:
    return int(text, 0)


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
