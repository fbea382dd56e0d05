"""What a test that boots real kernels needs, or the reason it skips.

It skips when the tools are missing or when a kernel, its headers or its compiler
are neither cached nor fetchable because no Debian registry answers; it never
fails for lack of network.  Anything else (a package Debian no longer serves, a
module that does not build) is a failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cowlab.oracle.fetch import KernelFiles, RegistryUnreachable, ensure_kernel
from cowlab.oracle.kmod import ModuleBuild, ModuleError, build_module

TOOLS = ("qemu-system-x86_64", "gcc", "cpio", "busybox", "make")

needs_vm = pytest.mark.skipif(
    not all(shutil.which(t) for t in TOOLS) or not Path("/bin/busybox").exists(),
    reason="qemu-system-x86, gcc, cpio, busybox-static and make are installed by .ci/run",
)


def kernel_or_skip(version: str) -> KernelFiles:
    try:
        return ensure_kernel(version)
    except RegistryUnreachable as e:
        pytest.skip(f"kernel {version}: {e}")


def module_or_skip(kernel: KernelFiles) -> ModuleBuild:
    try:
        return build_module(kernel)
    except ModuleError as e:
        if e.unreachable:
            pytest.skip(f"cowlab_pin for {kernel.release}: {e}")
        raise
