"""The oracle: scenarios as C programs run on real kernels, and their TAP results."""

from cowlab.oracle.export import approximations, export_c
from cowlab.oracle.fetch import KernelFiles, ensure_kernel, ensure_tools
from cowlab.oracle.program import ExportError
from cowlab.oracle.runner import Cell, run_on_kernels
from cowlab.oracle.tap import TapResult, TapTest, TapTotals, parse_tap
from cowlab.oracle.vm import VmResult, boot

__all__ = [
    "Cell",
    "ExportError",
    "KernelFiles",
    "TapResult",
    "TapTest",
    "TapTotals",
    "VmResult",
    "approximations",
    "boot",
    "ensure_kernel",
    "ensure_tools",
    "export_c",
    "parse_tap",
    "run_on_kernels",
]
