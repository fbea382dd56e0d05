"""Fetch Debian cloud kernels of an exact version (never installed: ``apt-get download``
+ ``dpkg-deb -x``) and the host tools the oracle needs (docs/oracle.md, "Running on
real kernels").

6.1 and 6.12 come from the machine's own (Debian 12) apt sources; 5.10 from
bullseye through a private apt configuration under the cache directory, naming the
same mirror the machine uses, so the system's sources stay untouched.

A kernel is asked for by branch (``6.1``: the Debian kernel the model knows,
6.1.192) or by exact version (``6.1.176``).  The cache is looked up by exact
version; when Debian no longer serves the version asked for, the newest it serves
is taken and ``KernelFiles.note`` says so.  Nothing else is ever substituted.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cowlab.history import DEBIAN_KERNELS

#: branch -> (meta package, private bullseye configuration?, image package names)
KERNELS: dict[str, tuple[str, bool, str]] = {
    "6.1": ("linux-image-cloud-amd64", False, r"linux-image-6\.1\.0-[0-9]+-cloud-amd64(-unsigned)?"),
    "6.12": (
        "linux-image-6.12-cloud-amd64",
        False,
        r"linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64(-unsigned)?",
    ),
    "5.10": ("linux-image-cloud-amd64", True, r"linux-image-5\.10\.0-[0-9]+-cloud-amd64(-unsigned)?"),
}
#: branch -> the upstream version the model knows as Debian's (``6.1`` -> ``6.1.192``)
DEFAULT_VERSION: dict[str, str] = {
    v.removeprefix("v").rpartition(".")[0]: v.removeprefix("v") for v in DEBIAN_KERNELS
}
#: Debian package -> a file it provides (to check it is installed)
TOOLS: dict[str, str] = {
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "busybox-static": "/bin/busybox",
    "cpio": "/usr/bin/cpio",
    "gcc": "/usr/bin/gcc",
    "libc6-dev": "/usr/include/stdio.h",
    "liburing-dev": "/usr/include/liburing.h",
    # the pinning module's build (kbuild's own tools come with the kernel's headers)
    "make": "/usr/bin/make",
    "libelf1": "/usr/lib/x86_64-linux-gnu/libelf.so.1",
    # the kernel's selftests: unpacking linux-source-*'s tarball
    "xz-utils": "/usr/bin/xz",
}
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_IMAGE = re.compile(r"Depends: (linux-image-\S+)")
_VERSION = re.compile(r"(?:v)?(\d+\.\d+)(?:\.(\d+))?")
#: apt's words for "the network or the mirror did not answer"
_UNREACHABLE = re.compile(
    r"Could not connect|Could not resolve|Temporary failure resolving|Connection timed out|"
    r"Connection failed|Unable to connect|Network is unreachable|No route to host|Connection refused"
)
_MISSING = re.compile(
    r"Unable to locate package|was not found|Can't find a source to download|has no installation "
    r"candidate|404\s+Not Found|Couldn't find any package"
)


class FetchError(RuntimeError):
    pass


class RegistryUnreachable(FetchError):
    """No Debian registry answered (and nothing usable was cached)."""


class PackageMissing(FetchError):
    """Debian no longer serves the package (or version) asked for."""


@dataclass(frozen=True)
class KernelFiles:
    #: the branch asked for: 5.10, 6.1 or 6.12
    version: str
    #: the kernel release (``uname -r`` in the guest), e.g. 6.1.0-57-cloud-amd64
    release: str
    vmlinuz: Path
    #: lib/modules/RELEASE
    modules: Path
    #: the Debian package version, e.g. 6.1.192-3
    debian: str = ""
    #: the image package, e.g. linux-image-6.1.0-57-cloud-amd64-unsigned
    package: str = ""
    #: what was booted instead of the version asked for, and why ("" when exact)
    note: str = ""

    @property
    def upstream(self) -> str:
        """6.1.192 of 6.1.192-3 (6.12.117 of 6.12.117-1~deb12u1)."""
        return self.debian.split("-", 1)[0]

    @property
    def model_kernel(self) -> str:
        """The stable profile of the model for exactly this version: v6.1.192."""
        return f"v{self.upstream}"

    def brd(self) -> Path | None:
        """brd.ko or brd.ko.xz, if the kernel has it as a module."""
        for name in ("brd.ko", "brd.ko.xz", "brd.ko.zst"):
            hits = sorted(self.modules.rglob(name))
            if hits:
                return hits[0]
        return None

    def describe(self) -> str:
        return f"Debian {self.debian} ({self.release})"


def cache_root() -> Path:
    return Path(os.environ.get("COWLAB_CACHE") or Path.home() / ".cache" / "cowlab")


def say(text: str) -> None:
    print(f"cowlab oracle: {text}", file=sys.stderr, flush=True)


def apt_reason(out: str) -> str:
    """apt's error lines (``E: ...``), without its warnings; else the last lines."""
    errors = [line for line in out.splitlines() if line.startswith("E: ")]
    keep = errors or [line for line in out.splitlines() if line.strip() and "unsandboxed" not in line][-3:]
    return " ".join(keep)[-600:]


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        out = (proc.stderr.strip() + "\n" + proc.stdout.strip()).strip()
        message = f"{' '.join(cmd)} failed ({proc.returncode}): {apt_reason(out)}"
        if _UNREACHABLE.search(out):
            raise RegistryUnreachable(message)
        if _MISSING.search(out):
            raise PackageMissing(message)
        raise FetchError(message)
    return proc.stdout


def missing_tools() -> list[str]:
    return [pkg for pkg, path in TOOLS.items() if not Path(path).exists()]


def ensure_tools() -> None:
    """apt-get install what is missing, saying what it fetches."""
    missing = missing_tools()
    if not missing:
        return
    say(f"installing {' '.join(missing)} with apt-get")
    _run(["apt-get", "install", "-y", "--no-install-recommends", *missing])


def debian_mirrors(
    sources_dir: Path = Path("/etc/apt/sources.list.d"), sources_list: Path = Path("/etc/apt/sources.list")
) -> tuple[str, str]:
    """(debian, debian-security) base URIs the machine's apt sources use."""
    text = "\n".join(p.read_text() for p in sorted(sources_dir.glob("*.sources")) if p.is_file())
    text += "\n" + "\n".join(p.read_text() for p in sorted(sources_dir.glob("*.list")) if p.is_file())
    if sources_list.is_file():
        text += "\n" + sources_list.read_text()
    uris = re.findall(r"(https?://\S+/debian(?:-security)?)/?(?=\s|$)", text)
    main = next((u for u in uris if u.endswith("/debian")), "http://deb.debian.org/debian")
    sec = next((u for u in uris if u.endswith("/debian-security")), main + "-security")
    return main, sec


def bullseye_options(cache_dir: Path) -> list[str]:
    """-o options of a private apt configuration for bullseye (created if missing)."""
    apt = cache_dir / "apt-bullseye"
    lists, cache, parts = apt / "lists", apt / "cache", apt / "sources.list.d"
    for d in (lists / "partial", cache / "archives" / "partial", parts):
        d.mkdir(parents=True, exist_ok=True)
    main, sec = debian_mirrors()
    src = apt / "sources.list"
    src.write_text(
        f"deb [signed-by={KEYRING}] {main} bullseye main\n"
        f"deb [signed-by={KEYRING}] {sec} bullseye-security main\n"
    )
    return [
        "-o",
        f"Dir::State::Lists={lists}",
        "-o",
        f"Dir::Cache={cache}",
        "-o",
        f"Dir::Etc::SourceList={src}",
        "-o",
        f"Dir::Etc::SourceParts={parts}",
    ]


#: seconds after which the private bullseye lists are refreshed
LISTS_MAX_AGE = 24 * 3600


def apt_options(branch: str, cache_dir: Path, *, refresh: bool = False) -> list[str]:
    """apt's -o options for a branch: none for bookworm's, a private configuration for
    bullseye, whose lists are updated when missing, a day old, or ``refresh``."""
    if not KERNELS[branch][1]:
        return []
    opts = bullseye_options(cache_dir)
    lists = sorted((cache_dir / "apt-bullseye" / "lists").glob("*_Packages*"))
    stale = not lists or time.time() - min(p.stat().st_mtime for p in lists) > LISTS_MAX_AGE
    if refresh or stale:
        say("apt-get update of a private bullseye configuration")
        out = subprocess.run(["apt-get", *opts, "update"], capture_output=True, text=True, check=False)
        text = out.stderr + out.stdout
        if _UNREACHABLE.search(text) and not sorted(
            (cache_dir / "apt-bullseye" / "lists").glob("*_Packages*")
        ):
            raise RegistryUnreachable(f"apt-get update (bullseye) reached no mirror: {apt_reason(text)}")
        if out.returncode != 0 and not _UNREACHABLE.search(text):
            raise FetchError(f"apt-get update (bullseye) failed ({out.returncode}): {apt_reason(text)}")
    return opts


def _depends(meta: str, opts: list[str]) -> str:
    out = _run(["apt-cache", *opts, "depends", meta])
    m = _IMAGE.search(out)
    if not m:
        raise PackageMissing(f"{meta}: no linux-image dependency in apt-cache depends:\n{out}")
    return m[1]


def compare_versions(a: str, b: str) -> int:
    """Debian version order (dpkg --compare-versions): -1, 0 or 1."""
    if a == b:
        return 0
    lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0
    return -1 if lt else 1


def newest(versions: list[str]) -> str:
    return max(versions, key=functools.cmp_to_key(compare_versions))


def madison(packages: list[str], opts: list[str]) -> list[tuple[str, str]]:
    """(package, version) of every version apt's lists know of these packages."""
    if not packages:
        return []
    out = subprocess.run(
        ["apt-cache", *opts, "madison", *packages], capture_output=True, text=True, check=False
    ).stdout
    rows = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 2 and parts[0] and parts[1]:
            rows.append((parts[0], parts[1]))
    return rows


def served_images(branch: str, opts: list[str]) -> list[tuple[str, str]]:
    """(image package, Debian version) of the cloud kernels of a branch apt can fetch."""
    pattern = KERNELS[branch][2]
    out = subprocess.run(
        ["apt-cache", *opts, "search", "--names-only", f"^{pattern}$"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    names = [line.split(" - ", 1)[0].strip() for line in out.splitlines() if line.strip()]
    return [(p, v) for p, v in madison(names, opts) if re.fullmatch(pattern, p)]


def download(packages: list[str], opts: list[str], dest: Path) -> Path:
    """apt-get download the first of ``packages`` (``name=version``) that works; the .deb."""
    errors: list[FetchError] = []
    for pkg in packages:
        name = pkg.split("=", 1)[0]
        try:
            say(f"downloading {pkg}")
            _run(["apt-get", *opts, "-o", "APT::Sandbox::User=root", "download", pkg], cwd=dest)
        except FetchError as e:
            errors.append(e)
            continue
        debs = sorted(dest.glob(f"{name.replace('+', '?')}_*.deb"))
        if debs:
            return debs[-1]
    if any(isinstance(e, RegistryUnreachable) for e in errors):
        raise RegistryUnreachable("\n".join(map(str, errors)))
    if errors and all(isinstance(e, PackageMissing) for e in errors):
        raise PackageMissing("\n".join(map(str, errors)))
    raise FetchError("\n".join(map(str, errors)) or f"no .deb for {packages}")


def parse_kernel(spec: str) -> tuple[str, str]:
    """``6.1`` -> (``6.1``, ``6.1.192``: the version the model knows as Debian's);
    ``6.1.176`` or ``v6.1.176`` -> (``6.1``, ``6.1.176``)."""
    m = _VERSION.fullmatch(spec.strip())
    if m is None or m[1] not in KERNELS:
        raise FetchError(
            f"unknown kernel {spec!r}: one of {', '.join(KERNELS)}, or an exact version such as 6.1.192"
        )
    return m[1], f"{m[1]}.{int(m[2])}" if m[2] is not None else DEFAULT_VERSION[m[1]]


def banner(vmlinuz: Path) -> tuple[str, str]:
    """(Debian package version, compiler) from a kernel image's version banner."""
    head = vmlinuz.read_bytes()[:65536]
    m = re.search(rb"SMP (?:PREEMPT_DYNAMIC )?Debian (\S+) \(", head)
    gcc = re.search(rb"\(((?:x86_64-linux-gnu-)?gcc-\d+ \(Debian [^)]*\)[^,)]*)", head)
    return (m[1].decode() if m else "?", gcc[1].decode().strip() if gcc else "?")


def cached_kernels(branch: str, cache_dir: Path) -> list[KernelFiles]:
    """The kernels of a branch in the cache: ``kernels/BRANCH/DEBIAN-VERSION/root``, and
    ``kernels/BRANCH/root`` of the layout before exact versions (used where it is)."""
    base = cache_dir / "kernels" / branch
    roots = [base / "root", *sorted(base.glob("*/root"))] if base.is_dir() else []
    return [files for root in roots if (files := _unpacked(branch, root)) is not None]


def ensure_kernel(spec: str, cache_dir: Path | None = None) -> KernelFiles:
    """The vmlinuz and modules of a Debian cloud kernel of exactly the version asked for
    (``6.1`` means the version the model knows), fetched once into the cache.

    When Debian no longer serves that version the newest it serves is fetched and
    ``note`` says so.  RegistryUnreachable when neither the cache nor a registry has it."""
    branch, wanted = parse_kernel(spec)
    cache_dir = cache_dir or cache_root()
    cached = [k for k in cached_kernels(branch, cache_dir) if k.upstream == wanted]
    if cached:
        return next(k for k in cached if k.debian == newest([c.debian for c in cached]))
    opts: list[str] = []
    try:
        opts = apt_options(branch, cache_dir)
        served = served_images(branch, opts)
    except RegistryUnreachable as e:
        raise RegistryUnreachable(_unavailable(branch, wanted, cache_dir, str(e))) from None
    exact = [(p, v) for p, v in served if v.split("-", 1)[0] == wanted]
    note = ""
    if exact:
        version = newest([v for _, v in exact])
    else:
        try:
            image = _depends(KERNELS[branch][0], opts)
        except FetchError as e:
            if not served:
                raise RegistryUnreachable(
                    _unavailable(branch, wanted, cache_dir, f"apt knows no {branch} cloud kernel: {e}")
                ) from None
            raise
        versions = [v for p, v in served if p in (image, image + "-unsigned")] or [v for _, v in served]
        version = newest(versions)
        note = (
            f"Debian no longer serves {wanted}; it serves {version.split('-', 1)[0]} "
            f"(Debian {version}), booted instead"
        )
        say(f"{branch}: {note}")
        cached = [k for k in cached_kernels(branch, cache_dir) if k.debian == version]
        if cached:
            return _with_note(cached[0], note)
    names = sorted({p for p, v in served if v == version}, key=lambda p: not p.endswith("-unsigned"))
    root = cache_dir / "kernels" / branch / version
    root.mkdir(parents=True, exist_ok=True)
    try:
        deb = download([f"{p}={version}" for p in names], opts, root)
    except RegistryUnreachable as e:
        raise RegistryUnreachable(_unavailable(branch, wanted, cache_dir, str(e))) from None
    tmp = root / "root.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    _run(["dpkg-deb", "-x", str(deb), str(tmp)])
    shutil.rmtree(root / "root", ignore_errors=True)
    tmp.rename(root / "root")
    deb.unlink()
    (root / "package").write_text(deb.name.split("_", 1)[0] + "\n")
    found = _unpacked(branch, root / "root")
    if not found:
        raise FetchError(f"{deb.name}: no boot/vmlinuz-* in the package")
    return _with_note(found, note)


def _with_note(files: KernelFiles, note: str) -> KernelFiles:
    return KernelFiles(
        files.version, files.release, files.vmlinuz, files.modules, files.debian, files.package, note
    )


def _unavailable(branch: str, wanted: str, cache_dir: Path, why: str) -> str:
    others = [k.debian for k in cached_kernels(branch, cache_dir)]
    have = f"; the cache has {', '.join(others)} (ask for it by its version)" if others else ""
    return f"kernel {wanted} is not cached and no Debian registry answered{have}: {why.strip()[:400]}"


def _unpacked(branch: str, root: Path) -> KernelFiles | None:
    images = sorted((root / "boot").glob("vmlinuz-*")) if root.is_dir() else []
    if not images:
        return None
    release = images[-1].name.removeprefix("vmlinuz-")
    package = _package_name(root.parent)
    debian, _ = banner(images[-1])
    return KernelFiles(branch, release, images[-1], root / "lib" / "modules" / release, debian, package)


def _package_name(directory: Path) -> str:
    marker = directory / "package"
    return marker.read_text().strip() if marker.is_file() else ""
