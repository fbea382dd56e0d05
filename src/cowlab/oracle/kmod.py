"""Build the cowlab_pin module (``module/``) for a Debian kernel the oracle boots.

Against that kernel's own Debian headers (``linux-headers-RELEASE``, its
``-common`` package and ``linux-kbuild-*``, all of the kernel's exact package
version) and with the compiler that built it (``CONFIG_CC_VERSION_TEXT`` of the
headers' .config, e.g. gcc-10 10.2.1-6 for 5.10): the system's when its Debian
version is the same, else ``gcc-N``, ``cpp-N`` and ``libgcc-N-dev`` of that
version.  Everything is ``apt-get download`` + ``dpkg-deb -x`` into the cache
(``CACHE/headers``, ``CACHE/compilers``), never installed; the built module is
cached by release, package version and a digest of the module's source
(``CACHE/modules``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cowlab.oracle.fetch import (
    FetchError,
    KernelFiles,
    PackageMissing,
    RegistryUnreachable,
    apt_options,
    cache_root,
    download,
    say,
)

MODULE_DIR = Path(__file__).parent / "module"
SOURCES = ("Kbuild", "cowlab_pin.c", "cowlab_pin_abi.h")
NAME = "cowlab_pin"
#: seconds a module build may take
BUILD_TIMEOUT_S = 300
_DEPENDS = re.compile(r"^Depends: (.*)$", re.M)
_CC_TEXT = re.compile(r'^CONFIG_CC_VERSION_TEXT="(?:x86_64-linux-gnu-)?(gcc-(\d+)) \(Debian ([^)]+)\)', re.M)


class ModuleError(RuntimeError):
    """No module for this kernel; ``kind`` says which step failed: ``headers``
    (a package is missing, or no registry answered), ``compiler`` or ``build``."""

    def __init__(
        self, kind: str, message: str, log: Path | None = None, *, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.log = log
        #: nothing was cached and no Debian registry answered
        self.unreachable = unreachable


@dataclass(frozen=True)
class Headers:
    #: usr/src/linux-headers-RELEASE: make -C here
    build_dir: Path
    #: gcc-12
    compiler: str
    #: the compiler's Debian version the kernel was built with, e.g. 12.2.0-14+deb12u1
    compiler_version: str
    #: directories put first on PATH so that kbuild finds that compiler ([] = the system's)
    path: tuple[Path, ...]
    note: str = ""


@dataclass(frozen=True)
class ModuleBuild:
    ko: Path
    release: str
    #: seconds the build took (0 when the cached module was used)
    seconds: float
    cached: bool
    compiler: str
    note: str = ""


def source_digest() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (MODULE_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _deb_depends(package: str, version: str, opts: list[str]) -> list[str]:
    """Names in the Depends of ``package=version`` (alternatives flattened)."""
    proc = subprocess.run(
        ["apt-cache", *opts, "show", f"{package}={version}"], capture_output=True, text=True, check=False
    )
    m = _DEPENDS.search(proc.stdout)
    if proc.returncode != 0 or m is None:
        raise PackageMissing(f"apt knows no {package}={version}: {proc.stderr.strip()[-300:]}")
    return [alt.strip().split(" ", 1)[0] for dep in m[1].split(",") for alt in dep.split("|")]


def _unpack(debs: list[Path], dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for deb in debs:
        proc = subprocess.run(
            ["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise FetchError(f"dpkg-deb -x {deb.name}: {proc.stderr.strip()[-300:]}")
        deb.unlink()
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _fetch(packages: list[str], opts: list[str], dest: Path) -> None:
    """apt-get download each ``name=version`` and unpack them all into ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="debs-", dir=dest.parent) as tmp:
        debs = [download([pkg], opts, Path(tmp)) for pkg in packages]
        _unpack(debs, dest)


def ensure_headers(kernel: KernelFiles, cache_dir: Path | None = None) -> Headers:
    """The kernel's Debian headers and its compiler, fetched once into the cache."""
    cache_dir = cache_dir or cache_root()
    if not kernel.debian or kernel.debian == "?":
        raise ModuleError("headers", f"{kernel.vmlinuz}: no Debian version in its banner")
    root = cache_dir / "headers" / kernel.release / kernel.debian / "root"
    build_dir = root / "usr" / "src" / f"linux-headers-{kernel.release}"
    try:
        opts = apt_options(kernel.version, cache_dir)
        if not (build_dir / "Makefile").is_file():
            headers = f"linux-headers-{kernel.release}"
            wanted = [headers] + [
                d
                for d in _deb_depends(headers, kernel.debian, opts)
                if d.startswith(("linux-headers-", "linux-kbuild-"))
            ]
            say(f"{kernel.version}: fetching {', '.join(wanted)} ({kernel.debian})")
            _fetch([f"{p}={kernel.debian}" for p in wanted], opts, root)
            _relocate(root, kernel.release)
        config = (build_dir / ".config").read_text(errors="replace")
    except RegistryUnreachable as e:
        why = f"the headers of {kernel.describe()} are not cached and no Debian registry answered: {e}"
        raise ModuleError("headers", why, unreachable=True) from None
    except PackageMissing as e:
        raise ModuleError("headers", f"header package missing for {kernel.describe()}: {e}") from None
    except (FetchError, OSError) as e:
        raise ModuleError("headers", f"headers of {kernel.describe()}: {e}") from None
    m = _CC_TEXT.search(config)
    if m is None:
        raise ModuleError("compiler", f"{build_dir}/.config names no Debian gcc (CONFIG_CC_VERSION_TEXT)")
    compiler, major, version = m[1], m[2], m[3]
    path, note = ensure_compiler(major, version, kernel.version, cache_dir)
    return Headers(build_dir, compiler, version, path, note)


def _relocate(root: Path, release: str) -> None:
    """The headers' Makefile includes the -common one by its installed path: point it here."""
    makefile = root / "usr" / "src" / f"linux-headers-{release}" / "Makefile"
    text = makefile.read_text()
    makefile.write_text(re.sub(r"^include /usr/src/", f"include {root}/usr/src/", text, flags=re.M))


def _installed(package: str) -> str | None:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version} ${db:Status-Abbrev}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    parts = proc.stdout.split()
    return parts[0] if proc.returncode == 0 and len(parts) > 1 and parts[1].startswith("ii") else None


def ensure_compiler(major: str, version: str, branch: str, cache_dir: Path) -> tuple[tuple[Path, ...], str]:
    """PATH directories for gcc-MAJOR of that Debian version: none when the system's is
    it, else the packages unpacked in the cache.  (dirs, note)."""
    packages = [f"gcc-{major}", f"cpp-{major}", f"libgcc-{major}-dev"]
    if all(_installed(p) == version for p in packages) and shutil.which(f"x86_64-linux-gnu-gcc-{major}"):
        return (), ""
    root = cache_dir / "compilers" / f"gcc-{major}_{version}" / "root"
    gcc = root / "usr" / "bin" / f"x86_64-linux-gnu-gcc-{major}"
    if gcc.is_file():
        return (root / "usr" / "bin",), ""
    note = ""
    try:
        opts = apt_options(branch, cache_dir)
        try:
            say(f"fetching gcc-{major} {version} (the compiler of the {branch} kernel)")
            _fetch([f"{p}={version}" for p in packages], opts, root)
        except PackageMissing:
            served = _candidate(f"gcc-{major}", opts)
            if served is None:
                raise ModuleError("compiler", f"gcc-{major} is not served any more") from None
            note = f"gcc-{major} {version} is no longer served; built with {served}"
            say(note)
            root = cache_dir / "compilers" / f"gcc-{major}_{served}" / "root"
            if not (root / "usr" / "bin" / f"x86_64-linux-gnu-gcc-{major}").is_file():
                _fetch([f"{p}={served}" for p in packages], opts, root)
    except RegistryUnreachable as e:
        why = f"gcc-{major} {version} is not cached and no Debian registry answered: {e}"
        raise ModuleError("compiler", why, unreachable=True) from None
    return (root / "usr" / "bin",), note


def _candidate(package: str, opts: list[str]) -> str | None:
    out = subprocess.run(["apt-cache", *opts, "policy", package], capture_output=True, text=True, check=False)
    m = re.search(r"Candidate: (\S+)", out.stdout)
    return m[1] if m and m[1] != "(none)" else None


def build_module(
    kernel: KernelFiles, cache_dir: Path | None = None, *, headers: Headers | None = None
) -> ModuleBuild:
    """cowlab_pin.ko for this kernel: from the cache, or built (kbuild, M=) and cached.
    ``headers``: a kernel built here is its own (cowlab.oracle.kbuild); else Debian's."""
    cache_dir = cache_dir or cache_root()
    out_dir = cache_dir / "modules" / kernel.release / f"{kernel.debian}-{source_digest()}"
    ko = out_dir / f"{NAME}.ko"
    if ko.is_file():
        compiler = (out_dir / "compiler").read_text().strip() if (out_dir / "compiler").is_file() else ""
        return ModuleBuild(ko, kernel.release, 0.0, True, compiler)
    headers = headers or ensure_headers(kernel, cache_dir)
    for tool in ("make", "ld", "strip"):
        if shutil.which(tool) is None:
            raise ModuleError("build", f"no {tool} on this machine (apt-get install make binutils)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="build-", dir=out_dir.parent) as tmp:
        build = Path(tmp)
        for name in SOURCES:
            shutil.copyfile(MODULE_DIR / name, build / name)
        env = dict(os.environ, LC_ALL="C")
        env["PATH"] = os.pathsep.join([*map(str, headers.path), env.get("PATH", "/usr/bin:/bin")])
        # no BTF for the module: it would need pahole, and nothing here reads it
        cmd = [
            "make",
            "-C",
            str(headers.build_dir),
            f"M={build}",
            "CONFIG_DEBUG_INFO_BTF_MODULES=",
            "modules",
        ]
        try:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
            )
            log_text = proc.stdout + proc.stderr
            failed = proc.returncode != 0 or not (build / f"{NAME}.ko").is_file()
        except subprocess.TimeoutExpired:
            log_text, failed = f"make timed out after {BUILD_TIMEOUT_S} s", True
        log = out_dir.parent / f"build-{kernel.debian}-{source_digest()}.log"
        log.write_text(" ".join(cmd) + "\n" + log_text)
        if failed:
            tail = " | ".join(line for line in log_text.strip().splitlines()[-6:])
            raise ModuleError("build", f"module build failed for {kernel.describe()}: {tail[-600:]}", log)
        staged = build / "staged"
        staged.mkdir()
        subprocess.run(
            ["strip", "--strip-debug", "-o", str(staged / f"{NAME}.ko"), str(build / f"{NAME}.ko")],
            check=True,
        )
        label = f"{headers.compiler} {headers.compiler_version}"
        (staged / "compiler").write_text(label + "\n")
        shutil.copyfile(log, staged / "build.log")
        shutil.rmtree(out_dir, ignore_errors=True)
        staged.rename(out_dir)
    seconds = time.monotonic() - start
    say(f"built {NAME}.ko for {kernel.release} with {label} in {seconds:.1f} s")
    return ModuleBuild(out_dir / f"{NAME}.ko", kernel.release, seconds, False, label, headers.note)
