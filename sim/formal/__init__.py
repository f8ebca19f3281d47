"""Formal proofs of the hardware blocks (SymbiYosys with the PyPI builds of Yosys and solvers).

Each module holds property harnesses: Amaranth modules that instantiate one block, drive its
inputs with free values under ``Assume`` and check it with ``Assert`` and ``Cover``
(:mod:`.props`). :mod:`.proofs` lists every proof with its mode and depth; ``python -m
scanfuse.sim.formal`` (``make formal``) runs them all and prints a status table; the work
directories go to ``build/formal``. ``docs/verification.md`` lists the properties.

* :mod:`.stream` -- skid buffer: no loss, no duplication, order kept; valid/ready rule.
* :mod:`.axi4` -- the DMA's AXI4 master: channel rules, burst legality, 4 KiB, outstanding
  limit, WLAST, counters.
* :mod:`.axil` -- the AXI4-Lite register slave.
* :mod:`.checker` -- the descriptor checker against the Python rules.
* :mod:`.addrgen` -- the Scan address generator against a reference walk.
"""
