"""Planning pointwise layers: GEMM view, buffer model, exact traffic, search, lower bound."""

from .bound import lower_bound
from .buffer import BufferModel, ElementWidths
from .gemm import Gemm
from .network_plan import LayerPlan, NetworkPlan, plan_network, plan_single_gemm
from .search import ORDER_CHOICES, GemmPlan, plan_gemm
from .tiling import LOOP_ORDERS, Tiling, VisitOrder
from .traffic import Traffic, gemm_traffic

__all__ = ["Gemm", "Tiling", "VisitOrder", "LOOP_ORDERS", "BufferModel", "ElementWidths",
           "Traffic", "gemm_traffic", "lower_bound", "GemmPlan", "plan_gemm", "ORDER_CHOICES",
           "LayerPlan", "NetworkPlan", "plan_network", "plan_single_gemm"]
