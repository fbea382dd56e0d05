"""Build kernels for the oracle's VM from Debian's ``linux-source-5.10``, ``-6.1`` and
``-6.12`` (issue 11, item 6; issue 15; docs/oracle.md, "Kernels built here").

Debian's cloud kernels are what users run, but only a kernel built here can carry a
patch: on 5.10 the ``revert`` variant undoes the 5.10.y backport of 80d47f5de5e3 (the
NUMA scanner's page_count test in change_pte_range(), ``kpatch/``), the ``stock``
variant is the same source and configuration without it, the control.  The ``stops``
variant (every branch) adds the test-only holds at the model's stages
(``kpatch/stops-BRANCH.patch``, the table in ``cowlab.oracle.stops``), and
``stops-revert`` (5.10) both.  A build is named ``BRANCH-VARIANT`` (``6.1-stops``); on
5.10 ``stock`` and ``revert`` keep their old names, and their old digests and cache
directories.  The configuration is
x86_64_defconfig plus what the oracle's VM needs (two NUMA nodes through ACPI SRAT, NUMA
balancing, migration, io_uring, THP, swap on brd, the 8250 serial console, modules,
SCHED_DEBUG for the 5.10 numa_balancing sysctls, debugfs) and minus the drivers a QEMU
guest with no devices never uses; HZ, preemption and THP mode as Debian's 5.10 kernel
has them (the same on 6.1 and 6.12), so the scanner runs at the same pace.

Everything lives in ``CACHE/kbuild``: the unpacked tree (``src/DEBIAN-VERSION``), and one
build per variant, keyed by the source version, the configuration and the patches
(``DEBIAN-VERSION/VARIANT-DIGEST``: a hard-linked copy of the tree with the patches
applied and the objects, which also serves as the pinning module's headers, plus
``out/bzImage`` and ``out/root/lib/modules``).  Nothing is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cowlab.oracle.fetch import FetchError, KernelFiles, apt_options, cache_root, download, say

#: branch -> the Debian version of ``linux-source-BRANCH`` the builds come from: the
#: versions the oracle boots (fetch.py; the model's v5.10.262, v6.1.192, v6.12.117)
SOURCES: dict[str, str] = {
    "5.10": "5.10.262-1",
    "6.1": "6.1.192-3",
    "6.12": "6.12.117-1~deb12u1",
}
#: the branch of the 5.10-only names ``stock`` and ``revert``
SOURCE_BRANCH = "5.10"
SOURCE_DEBIAN = SOURCES[SOURCE_BRANCH]
PATCH_DIR = Path(__file__).parent / "kpatch"
#: variant -> (patch files in PATCH_DIR, ``{branch}`` filled in; modeled commits the
#: patches revert)
VARIANTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "stock": ((), ()),
    "revert": (("revert-80d47f5de5e3-5.10.patch",), ("80d47f5de5e3",)),
    "stops": (("stops-{branch}.patch",), ()),
    "stops-revert": (("stops-{branch}.patch", "revert-80d47f5de5e3-5.10.patch"), ("80d47f5de5e3",)),
}
#: branch -> the variants built from it (the revert patch exists for 5.10 only)
BRANCH_VARIANTS: dict[str, tuple[str, ...]] = {
    "5.10": ("stock", "revert", "stops", "stops-revert"),
    "6.1": ("stops",),
    "6.12": ("stops",),
}
#: the 5.10 builds that kept their names from before there were branches
LEGACY = ("stock", "revert")
#: options set to y on top of x86_64_defconfig
ENABLE: tuple[str, ...] = (
    "NUMA",
    "X86_64_ACPI_NUMA",
    "ACPI_NUMA",
    "NUMA_BALANCING",
    "NUMA_BALANCING_DEFAULT_ENABLED",
    "MIGRATION",
    "COMPACTION",
    "KSM",
    "IO_URING",
    "TRANSPARENT_HUGEPAGE",
    "TRANSPARENT_HUGEPAGE_ALWAYS",
    "HUGETLBFS",
    "SWAP",
    "PROC_PAGE_MONITOR",
    "BLK_DEV",
    "BLK_DEV_INITRD",
    "DEVTMPFS",
    "TMPFS",
    "DEBUG_FS",
    "MODULES",
    "MODULE_UNLOAD",
    "SERIAL_8250",
    "SERIAL_8250_CONSOLE",
    "SCHED_DEBUG",
    "HZ_250",
    "PREEMPT_VOLUNTARY",
)
#: options built as modules (the initramfs loads brd.ko for swap, as on Debian's kernels)
AS_MODULE: tuple[str, ...] = ("BLK_DEV_RAM",)
#: options turned off: hardware a device-less QEMU guest lacks, and what only slows the build
DISABLE: tuple[str, ...] = (
    "DRM",
    "SOUND",
    "WIRELESS",
    "WLAN",
    "CFG80211",
    "ETHERNET",
    "USB_SUPPORT",
    "HID",
    "FB",
    "NETFILTER",
    "IPV6",
    "BT",
    "NFS_FS",
    "MEDIA_SUPPORT",
    "AUDIT",
    "SECURITY_SELINUX",
    "DEBUG_INFO",
    "LOCALVERSION_AUTO",
    "MODULE_SIG",
    "TRANSPARENT_HUGEPAGE_MADVISE",
    "HZ_1000",
    "PREEMPT_NONE",
)
#: seconds a kernel build may take (7 minutes measured on 2 cores)
BUILD_TIMEOUT_S = 3600


class KbuildError(RuntimeError):
    """The kernel could not be built; ``log`` holds what make printed."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


def build_name(branch: str, variant: str) -> str:
    """``stock``/``revert`` on 5.10 (their old names), else ``BRANCH-VARIANT``."""
    return variant if branch == SOURCE_BRANCH and variant in LEGACY else f"{branch}-{variant}"


#: every build's name, as `cowlab oracle build-kernel --variant` takes it
BUILD_NAMES: tuple[str, ...] = tuple(build_name(b, v) for b, vs in BRANCH_VARIANTS.items() for v in vs)
#: the kernels the oracle boots by name (``built:NAME``)
BUILT_NAMES: tuple[str, ...] = tuple(f"built:{n}" for n in BUILD_NAMES)


def split_name(name: str) -> tuple[str, str]:
    """``6.1-stops`` -> (``6.1``, ``stops``); ``stock`` -> (``5.10``, ``stock``); also
    ``5.10-stock``.  ValueError for anything else."""
    if name in LEGACY:
        branch, variant = SOURCE_BRANCH, name
    else:
        branch, _, variant = name.partition("-")
    if branch not in BRANCH_VARIANTS or variant not in BRANCH_VARIANTS[branch]:
        raise ValueError(f"unknown kernel variant {name!r}: one of {', '.join(BUILD_NAMES)}")
    return branch, variant


@dataclass(frozen=True)
class BuiltKernel:
    """A kernel built here, bootable by the oracle's VM like a Debian one."""

    #: stock, revert, stops or stops-revert (of ``branch``)
    variant: str
    #: the tree it was built in (its own headers for the pinning module)
    tree: Path
    #: vmlinuz = out/bzImage, modules = out/root/lib/modules/RELEASE, debian = the source's version
    files: KernelFiles
    digest: str
    #: modeled commits the build reverts (the model is asked with the same reverts)
    reverts: tuple[str, ...]
    seconds: float = 0.0
    cached: bool = False
    branch: str = SOURCE_BRANCH

    @property
    def release(self) -> str:
        return self.files.release

    @property
    def model_kernel(self) -> str:
        return self.files.model_kernel

    @property
    def name(self) -> str:
        """``revert``, ``6.1-stops``: what --variant and ``built:`` call it."""
        return build_name(self.branch, self.variant)

    def describe(self) -> str:
        """``linux-source-5.10 5.10.262-1, revert build`` (``uname -r`` says which build)."""
        return f"linux-source-{self.branch} {self.files.debian}, {self.variant} build"


def check_variant(variant: str) -> None:
    split_name(variant)


def patches(variant: str) -> list[Path]:
    """The patch files of a build (``revert``, ``6.1-stops``), in the order applied."""
    branch, v = split_name(variant)
    return [PATCH_DIR / name.format(branch=branch) for name in VARIANTS[v][0]]


def config_lines() -> list[str]:
    """The configuration on top of x86_64_defconfig, one ``NAME=y|m|n`` per option."""
    return [f"{o}=y" for o in ENABLE] + [f"{o}=m" for o in AS_MODULE] + [f"{o}=n" for o in DISABLE]


def build_digest(variant: str, debian: str | None = None) -> str:
    """What a build depends on: the source version, the configuration and the patches
    (unchanged for ``stock`` and ``revert`` since there were branches)."""
    branch, _ = split_name(variant)
    debian = debian or SOURCES[branch]
    digest = hashlib.sha256()
    digest.update(f"linux-source-{branch}={debian}\0".encode())
    digest.update("\n".join(config_lines()).encode() + b"\0")
    for patch in patches(variant):
        digest.update(patch.name.encode() + b"\0" + patch.read_bytes() + b"\0")
    return digest.hexdigest()[:8]


def local_version(variant: str, digest: str) -> str:
    """The release suffix: ``uname -r`` says which build booted (``-cowlab-revert-D``,
    ``-cowlab-stops-D``: the version before it says the branch)."""
    return f"-cowlab-{split_name(variant)[1]}-{digest}"


def config_commands(variant: str, digest: str) -> list[list[str]]:
    """The ``scripts/config`` calls after ``make x86_64_defconfig``."""
    args = ["scripts/config", "--file", ".config"]
    for line in config_lines():
        name, value = line.split("=")
        args += [{"y": "--enable", "m": "--module", "n": "--disable"}[value], name]
    args += ["--set-str", "LOCALVERSION", local_version(variant, digest)]
    return [args]


def missing_options(config: str) -> list[str]:
    """Options of ENABLE / AS_MODULE that ``make olddefconfig`` did not keep (a dependency
    missing), as ``NAME=want``."""
    have = {}
    for line in config.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            name, _, value = line.partition("=")
            have[name.removeprefix("CONFIG_")] = value
    wanted = [(o, "y") for o in ENABLE] + [(o, "m") for o in AS_MODULE]
    return [f"{o}={v}" for o, v in wanted if have.get(o) != v]


def source_dir(cache_dir: Path, debian: str = SOURCE_DEBIAN) -> Path:
    return cache_dir / "kbuild" / "src" / debian


def source_tree(cache_dir: Path, branch: str = SOURCE_BRANCH) -> Path:
    """Where the branch's unpacked tree is (or will be)."""
    return source_dir(cache_dir, SOURCES[branch]) / f"linux-source-{branch}"


def ensure_source(
    cache_dir: Path | None = None, debian: str | None = None, *, branch: str = SOURCE_BRANCH
) -> Path:
    """The whole linux-source-BRANCH tree of that Debian version (the branch's in
    SOURCES), fetched and unpacked once: 5.10 through the private bullseye apt
    configuration, 6.1 and 6.12 from the machine's own sources.

    FetchError (RegistryUnreachable, PackageMissing) when apt cannot get it."""
    cache_dir = cache_dir or cache_root()
    debian = debian or SOURCES[branch]
    base = source_dir(cache_dir, debian)
    tree = base / f"linux-source-{branch}"
    if (base / "unpacked").is_file() and tree.is_dir():
        return tree
    base.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tree, ignore_errors=True)
    opts = apt_options(branch, cache_dir)
    package = f"linux-source-{branch}"
    deb = download([f"{package}={debian}"], opts, base)
    say(f"unpacking {deb.name}")
    inner = f"./usr/src/{package}.tar.xz"
    script = 'dpkg-deb --fsys-tarfile "$1" | tar -xOf - "$2" | xz -dc | tar -x -C "$3"'
    proc = subprocess.run(
        ["sh", "-c", script, "sh", str(deb), inner, str(base)], capture_output=True, text=True, check=False
    )
    deb.unlink()
    if proc.returncode != 0 or not (tree / "Makefile").is_file():
        raise FetchError(f"unpacking {inner} of {deb.name}: {proc.stderr.strip()[-600:] or 'no tree'}")
    (base / "unpacked").write_text(f"{package}={debian}\n")
    return tree


def patched_files(patch: Path) -> list[str]:
    """Paths (relative to the tree, -p1) a unified diff changes."""
    return [
        line[4:].split("\t", 1)[0].strip().split("/", 1)[1]
        for line in patch.read_text().splitlines()
        if line.startswith("+++ ") and "/" in line
    ]


def apply_patch(tree: Path, patch: Path) -> None:
    """``patch -p1`` into ``tree``; a patched file that is a hard link of the pristine tree
    becomes a copy first, so the pristine file is never changed."""
    for rel in patched_files(patch):
        target = tree / rel
        if target.is_file() and target.stat().st_nlink > 1:
            data = target.read_bytes()
            target.unlink()
            target.write_bytes(data)
    proc = subprocess.run(
        ["patch", "-p1", "--forward", "--batch", "-i", str(patch)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        said = " ".join((proc.stdout + proc.stderr).split())[-400:]
        raise KbuildError(f"{patch.name} does not apply to {tree}: {said}")


def build_dir(variant: str, cache_dir: Path, debian: str | None = None) -> Path:
    """``kbuild/DEBIAN-VERSION/VARIANT-DIGEST`` (``5.10.262-1/revert-821a4584``,
    ``6.1.192-3/stops-DIGEST``)."""
    branch, v = split_name(variant)
    debian = debian or SOURCES[branch]
    return cache_dir / "kbuild" / debian / f"{v}-{build_digest(variant, debian)}"


def cached_build(variant: str, cache_dir: Path | None = None) -> BuiltKernel | None:
    """The build of this variant (``revert``, ``6.1-stops``) with today's configuration
    and patches, if there is one."""
    base = build_dir(variant, cache_dir or cache_root())
    meta = base / "build.json"
    if not meta.is_file():
        return None
    data = json.loads(meta.read_text())
    return _built(variant, base, data, cached=True)


def resolve_built(name: str, cache_dir: Path | None = None) -> BuiltKernel | None:
    """``built:revert``, ``built:6.1-stops`` (one of BUILT_NAMES): its cached build, or
    None when it is not built (or its configuration or patches changed).  ValueError
    for a name not in BUILT_NAMES."""
    if name not in BUILT_NAMES:
        raise ValueError(f"unknown built kernel {name!r}: one of {', '.join(BUILT_NAMES)}")
    return cached_build(name.removeprefix("built:"), cache_dir)


def _built(variant: str, base: Path, data: dict[str, object], *, cached: bool) -> BuiltKernel:
    branch, v = split_name(variant)
    release = str(data["release"])
    files = KernelFiles(
        branch,
        release,
        base / "out" / "bzImage",
        base / "out" / "root" / "lib" / "modules" / release,
        str(data["debian"]),
        f"linux-source-{branch} ({v} build)",
    )
    seconds = float(str(data.get("seconds", 0.0)))
    return BuiltKernel(v, base / "tree", files, str(data["digest"]), VARIANTS[v][1], seconds, cached, branch)


def _make(tree: Path, args: list[str], log: Path, jobs: int) -> None:
    env = dict(os.environ, LC_ALL="C")
    cmd = ["nice", "-n", "10", "make", f"-j{jobs}", *args]
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        try:
            proc = subprocess.run(
                cmd,
                cwd=tree,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise KbuildError(f"make {' '.join(args)} timed out after {BUILD_TIMEOUT_S} s", log) from None
    if proc.returncode != 0:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-6:])
        raise KbuildError(f"make {' '.join(args)} failed ({proc.returncode}): {tail[-600:]}", log)


def build_kernel(variant: str, cache_dir: Path | None = None, *, jobs: int = 2) -> BuiltKernel:
    """The build's kernel (``revert``, ``6.1-stops``: one of BUILD_NAMES): from the
    cache, or built from the Debian source (7 to 15 minutes on 2 cores) and cached.
    KbuildError when a step fails (with its log)."""
    branch, v = split_name(variant)
    debian = SOURCES[branch]
    cache_dir = cache_dir or cache_root()
    cached = cached_build(variant, cache_dir)
    if cached is not None:
        return cached
    for tool in ("make", "gcc", "patch", "bison", "flex", "bc"):
        if shutil.which(tool) is None:
            raise KbuildError(
                f"no {tool} on this machine "
                "(apt-get install build-essential bc bison flex libelf-dev libssl-dev)"
            )
    pristine = ensure_source(cache_dir, branch=branch)
    digest = build_digest(variant)
    base = build_dir(variant, cache_dir)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    tree = base / "tree"
    log = base / "build.log"
    start = time.monotonic()
    say(f"building {v} from linux-source-{branch} {debian} in {base} (7 to 15 minutes)")
    subprocess.run(["cp", "-al", str(pristine), str(tree)], check=True)
    for patch in patches(variant):
        apply_patch(tree, patch)
    _make(tree, ["x86_64_defconfig"], log, 1)
    for cmd in config_commands(variant, digest):
        subprocess.run(cmd, cwd=tree, check=True, capture_output=True)
    _make(tree, ["olddefconfig"], log, 1)
    missing = missing_options((tree / ".config").read_text())
    if missing:
        raise KbuildError(f"make olddefconfig dropped {', '.join(missing)}", log)
    _make(tree, ["bzImage", "modules"], log, jobs)
    out = base / "out"
    _make(tree, ["modules_install", f"INSTALL_MOD_PATH={out / 'root'}", "INSTALL_MOD_STRIP=1"], log, 1)
    shutil.copyfile(tree / "arch" / "x86" / "boot" / "bzImage", out / "bzImage")
    release = (tree / "include" / "config" / "kernel.release").read_text().strip()
    seconds = time.monotonic() - start
    data: dict[str, object] = {
        "variant": v,
        "branch": branch,
        "debian": debian,
        "digest": digest,
        "release": release,
        "patches": [p.name for p in patches(variant)],
        "seconds": round(seconds, 1),
    }
    (base / "build.json").write_text(json.dumps(data, indent=1) + "\n")
    say(f"built {release} in {seconds:.0f} s")
    return _built(variant, base, data, cached=False)
