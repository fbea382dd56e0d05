"""The commit timeline: which modeled commit switches which rule, and kernels built from it."""

from cowlab.history.commits import Commit
from cowlab.history.kernel import (
    Kernel,
    UnknownKernelError,
    build_kernel,
    commit_url,
    find_commit,
    kernel_at,
)
from cowlab.history.releases import RELEASES, normalize_release
from cowlab.history.rules import RULE_NAMES, RULE_SUMMARIES, Rules
from cowlab.history.stable import DEBIAN_KERNELS, STABLE_BRANCHES, Backport
from cowlab.history.timeline import STABLE_ONLY, TIMELINE

__all__ = [
    "DEBIAN_KERNELS",
    "RELEASES",
    "RULE_NAMES",
    "RULE_SUMMARIES",
    "STABLE_BRANCHES",
    "STABLE_ONLY",
    "TIMELINE",
    "Backport",
    "Commit",
    "Kernel",
    "Rules",
    "UnknownKernelError",
    "build_kernel",
    "commit_url",
    "find_commit",
    "kernel_at",
    "normalize_release",
]
