"""Formal proofs of the hardware blocks (SymbiYosys with the PyPI builds of Yosys and solvers).

Each harness module holds an Amaranth module that instantiates one block, drives its inputs
with free values under ``Assume`` and checks it with ``Assert`` and ``Cover``. ``scanfuse
formal`` (``make formal``) runs every proof of :mod:`.proofs`, then the planted bugs
(:mod:`.suite`), and prints a status table with depths; work directories go to ``build/formal``.
``docs/verification.md`` lists every property with its status.

* :mod:`.props` -- free values, the past, valid/ready channel rules, a reference FIFO, access to
  a block's internal registers for induction invariants;
* :mod:`.run` -- RTLIL out, the ``.sby`` file, SymbiYosys, the verdict back;
* :mod:`.proofs` -- the list of proofs (harness, modes, depths; which run in ``make test``);
* :mod:`.planted` -- copies of blocks with one known bug each, which the proofs must catch;
* harnesses: :mod:`.stream` (skid buffer), :mod:`.axi4` (the DMA's AXI4 master), :mod:`.axil`
  (the AXI4-Lite register slave), :mod:`.checker` (descriptor checker against the Python
  rules), :mod:`.addrgen` (address generator against a reference walk).
"""

#: Wall-clock seconds a proof task or planted bug may take unless told otherwise (``scanfuse
#: formal --timeout``): ``addrgen_c``'s BMC took 1,458 and 2,130 s on a 2-core machine
#: (docs/verification.md); give it more on a shared one.
DEFAULT_TIMEOUT_S = 1800.0
