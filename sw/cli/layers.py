"""``scanfuse layers``: a built-in network's layers and MACs (parser and handler)."""

import json

from rich.console import Console

from ..network import get_network, network_names

__all__ = ["add_parser", "command"]


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse layers`` on the top-level subparsers."""
    p = sub.add_parser("layers", help="list a built-in network's layers and MACs",
                       description="List a network's layers: kind, channels, kernel, stride, "
                                   "padding, groups, input/output H and W, MACs.")
    p.add_argument("--network", required=True, metavar="NAME",
                   help=f"one of: {', '.join(network_names())}")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def command(args, console: Console) -> int:
    from ..report.plan_report import network_layers_json, network_layers_table
    network = get_network(args.network)
    if args.json:
        print(json.dumps(network_layers_json(network), indent=2))
    else:
        console.print(network_layers_table(network))
    return 0
