"""The GEMM view of a pointwise (1x1) convolution: ``C[M,N] = A[M,K] . B[K,N]``."""

from dataclasses import dataclass

from ..errors import InvalidShapeError
from ..network.layers import Layer

#: Largest GEMM dimension the planner takes (elements): 2^24 = 16,777,216, e.g. a 4096x4096
#: output image. The tile search keys every candidate by one int64, so ``M*N*K`` is capped at
#: :data:`MAX_GEMM_MACS` too. Raise them here (and mind the search's memory) for larger work.
MAX_GEMM_DIM = 1 << 24

#: Largest ``M*K*N`` (multiply-accumulates) of one GEMM: 2^48, ~2.8e14.
MAX_GEMM_MACS = 1 << 48


def check_dim(name: str, value: object) -> int:
    """Return ``value`` as an int if it is a positive whole number, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidShapeError(f"{name} must be a positive whole number, not {value!r}")
    return value


@dataclass(frozen=True)
class Gemm:
    """A matrix product ``C[M,N] = A[M,K] . B[K,N]``.

    For a 1x1 convolution over an NHWC input: ``M = Ho*Wo`` output pixels (a strided 1x1 conv
    subsamples the input rows), ``K = Cin``, ``N = Cout``. ``A`` holds activations, ``B``
    weights, ``C`` outputs. All three dimensions are element counts, each >= 1.
    """

    M: int
    K: int
    N: int

    def __post_init__(self):
        for name in ("M", "K", "N"):
            value = check_dim(name, getattr(self, name))
            if value > MAX_GEMM_DIM:
                raise InvalidShapeError(f"{name} = {value:,} is above the planner's limit of "
                                        f"{MAX_GEMM_DIM:,} elements per GEMM dimension "
                                        f"(scanfuse.plan.gemm.MAX_GEMM_DIM)")
        if self.M * self.K * self.N > MAX_GEMM_MACS:
            raise InvalidShapeError(f"M*K*N = {self.M * self.K * self.N:,} MACs is above the "
                                    f"planner's limit of {MAX_GEMM_MACS:,} "
                                    f"(scanfuse.plan.gemm.MAX_GEMM_MACS)")

    @classmethod
    def of_layer(cls, layer: Layer) -> "Gemm":
        """The GEMM of a pointwise layer: ``M = Ho*Wo``, ``K = Cin``, ``N = Cout``."""
        if not layer.is_pointwise:
            raise InvalidShapeError(f"layer {layer.name} is {layer.kind.value}, not pointwise: no GEMM view")
        return cls(layer.h_out * layer.w_out, layer.cin, layer.cout)

    @classmethod
    def parse(cls, text: str) -> "Gemm":
        """Parse ``"M,K,N"`` (three positive integers)."""
        parts = str(text).split(",")
        if len(parts) != 3:
            raise InvalidShapeError(f"a GEMM is given as M,K,N (three positive integers), not {text!r}")
        values = []
        for name, part in zip("MKN", parts):
            part = part.strip()
            if not (part.isascii() and part.isdigit() and len(part) <= 20):
                raise InvalidShapeError(
                    f"{name} must be a positive whole number, not {part!r}")
            values.append(int(part))
        return cls(*values)

    @property
    def macs(self) -> int:
        """Multiply-accumulates: ``M*K*N``."""
        return self.M * self.K * self.N

    @property
    def compulsory(self) -> int:
        """Elements every schedule must move at least once: ``M*K + K*N + M*N``."""
        return self.M * self.K + self.K * self.N + self.M * self.N

    def dim(self, letter: str) -> int:
        """The size of dimension ``'m'``, ``'n'`` or ``'k'``."""
        return {"m": self.M, "n": self.N, "k": self.K}[letter]

    def __str__(self) -> str:
        return f"{self.M}x{self.K}x{self.N}"
