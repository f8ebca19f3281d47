"""``scanfuse decompose``: CP-decompose a conv kernel into 1x1, kx1, 1xk, 1x1 layers
(parser and handler)."""

import json

from rich.console import Console

from ..errors import InvalidOptionError
from . import options

__all__ = ["add_parser", "command"]


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse decompose`` on the top-level subparsers."""
    p = sub.add_parser("decompose", help="CP-decompose a conv kernel into 1x1, kx1, 1xk, 1x1 layers",
                       description="CP-decompose W[Cout, Cin, kh, kw] (tensorly ALS, seeded) into a "
                                   "1x1 conv Cin->R, a kh x 1 depthwise conv (stride (s,1)), a 1 x kw "
                                   "depthwise conv (stride (1,s)) and a 1x1 conv R->Cout; report "
                                   "factor shapes, MACs before and after for one input image, and "
                                   "the relative reconstruction error ||W - W_hat|| / ||W||.")
    p.add_argument("--shape", required=True, metavar="Cout,Cin,kh,kw", help="kernel shape")
    p.add_argument("--rank", required=True, metavar="R",
                   help="CP rank: an integer >= 1, 'channels' (R = Cout), 'max3' (max(shape)//3) "
                        "or 'mac_ratio:r' (largest R whose MACs are at most r x the original's)")
    p.add_argument("--stride", type=int, default=1, metavar="s", help="conv stride, >= 1 (default 1)")
    p.add_argument("--kernel", metavar="FILE.npy",
                   help="decompose this kernel (numpy .npy of the given shape) instead of a seeded "
                        "random one")
    p.add_argument("--input-hw", default="56,56", metavar="H,W",
                   help="input image size for the MAC counts (default 56,56)")
    p.add_argument("--seed", type=options.seed_type((1 << 32) - 1), default=0, help="seed of the ALS start (and random kernel)")
    p.add_argument("--iters", type=int, default=1000, metavar="N",
                   help="most ALS sweeps, >= 1 (default 1000; a 64x64x3x3 kernel takes ~0.1 s each)")
    p.add_argument("--no-fit", action="store_true",
                   help="shapes and MACs only: skip the decomposition itself")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def command(args, console: Console) -> int:
    import numpy as np

    from ..network.decompose import decompose_report, parse_rank_rule
    shape = _int_list(args.shape, 4, "--shape Cout,Cin,kh,kw")
    input_hw = _int_list(args.input_hw, 2, "--input-hw H,W")
    if args.iters < 1:
        raise InvalidOptionError(f"--iters must be >= 1, not {args.iters}")
    kernel = None
    if args.kernel is not None:
        try:
            kernel = np.load(args.kernel, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InvalidOptionError(f"cannot read kernel {args.kernel!r}: {err}") from None
    report = decompose_report(shape, parse_rank_rule(args.rank), args.stride, kernel, input_hw,
                              seed=args.seed, n_iter_max=args.iters, compute=not args.no_fit)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    from rich.table import Table
    table = Table(title=f"CP decomposition of {shape[0]}x{shape[1]}x{shape[2]}x{shape[3]} at rank "
                        f"{report.rank}, stride {args.stride}, {input_hw[0]}x{input_hw[1]} input")
    for col in ("layer", "kind", "Cin→Cout", "kernel", "stride", "padding", "MACs"):
        table.add_column(col, justify="right" if col == "MACs" else "left")
    for layer, macs in zip(report.layers, report.layer_macs):
        table.add_row(layer.name, layer.kind.value, f"{layer.cin}→{layer.cout}",
                      "×".join(map(str, layer.kernel)), "×".join(map(str, layer.stride)),
                      "×".join(map(str, layer.padding)), f"{macs:,}")
    console.print(table)
    console.print(f"factors: " + ", ".join(f"{n} {d[0]}×{d[1]}" for n, d in report.factor_shapes), highlight=False)
    console.print(f"MACs {report.macs_original:,} → {report.macs_decomposed:,} "
                  f"(ratio {report.mac_ratio:.3f})", highlight=False)
    if report.rel_error is not None:
        console.print(f"relative reconstruction error {report.rel_error:.3e} after "
                      f"{report.iterations} ALS sweeps ({report.kernel_source} kernel)", highlight=False)
    return 0


def _int_list(text: str, count: int, what: str) -> tuple[int, ...]:
    parts = str(text).split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count:
        raise InvalidOptionError(f"{what} must be {count} comma-separated integers, not {text!r}")
    return values
