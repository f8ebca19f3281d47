"""The tile visit sequence: the one definition of raster and Scan order.

Both the step-list generator (:mod:`scanfuse.schedule`) and, through tests, the closed-form
traffic model derive from :func:`tile_walk`; the hardware address generator must reproduce it.
"""

from collections.abc import Iterator

from .tiling import VisitOrder, check_loop_order


def tile_walk(counts: dict[str, int], loop_order: str,
              visit_order: VisitOrder) -> Iterator[dict[str, int]]:
    """Yield tile coordinates ``{'m': im, 'n': in, 'k': ik}`` in visit order.

    ``counts`` gives the number of tiles per index. With loop order ``(o, mid, z)`` (outermost
    first):

    * raster visits ``(o, mid, z)`` in lexicographic order;
    * Scan walks ``o`` forwards; ``mid`` forwards on even ``o`` iterations and backwards on odd
      ones; and ``z`` forwards on even *runs* and backwards on odd runs, where runs are counted
      globally (run ``r`` is the ``r``-th ``(o, mid)`` pair visited). Every step then changes
      exactly one index.
    """
    check_loop_order(loop_order)
    o, mid, z = loop_order
    n_o, n_mid, n_z = counts[o], counts[mid], counts[z]
    scan = VisitOrder.parse(visit_order) is VisitOrder.SCAN
    run = 0
    for io in range(n_o):
        mid_range = range(n_mid - 1, -1, -1) if scan and io % 2 else range(n_mid)
        for imid in mid_range:
            z_range = range(n_z - 1, -1, -1) if scan and run % 2 else range(n_z)
            for iz in z_range:
                yield {o: io, mid: imid, z: iz}
            run += 1
