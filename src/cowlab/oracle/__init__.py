"""The oracle: scenarios as C programs run on real kernels, and their TAP results."""

from cowlab.oracle.export import approximations, export_c
from cowlab.oracle.program import ExportError
from cowlab.oracle.tap import TapResult, TapTest, TapTotals, parse_tap

__all__ = ["ExportError", "TapResult", "TapTest", "TapTotals", "approximations", "export_c", "parse_tap"]
