"""Fetch Debian cloud kernels (never installed: ``apt-get download`` + ``dpkg-deb -x``)
and the host tools the oracle needs (docs/oracle.md, "Running on real kernels").

6.1 and 6.12 come from the machine's own (Debian 12) apt sources; 5.10 from
bullseye through a private apt configuration under the cache directory, naming the
same mirror the machine uses, so the system's sources stay untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: version -> (meta package, private bullseye configuration?)
KERNELS: dict[str, tuple[str, bool]] = {
    "6.1": ("linux-image-cloud-amd64", False),
    "6.12": ("linux-image-6.12-cloud-amd64", False),
    "5.10": ("linux-image-cloud-amd64", True),
}
#: Debian package -> a file it provides (to check it is installed)
TOOLS: dict[str, str] = {
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "busybox-static": "/bin/busybox",
    "cpio": "/usr/bin/cpio",
    "gcc": "/usr/bin/gcc",
    "libc6-dev": "/usr/include/stdio.h",
    "liburing-dev": "/usr/include/liburing.h",
}
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_IMAGE = re.compile(r"Depends: (linux-image-\S+)")


class FetchError(RuntimeError):
    pass


@dataclass(frozen=True)
class KernelFiles:
    version: str
    #: the kernel release (``uname -r`` in the guest), e.g. 6.1.0-56-cloud-amd64
    release: str
    vmlinuz: Path
    #: lib/modules/RELEASE
    modules: Path

    def brd(self) -> Path | None:
        """brd.ko or brd.ko.xz, if the kernel has it as a module."""
        for name in ("brd.ko", "brd.ko.xz", "brd.ko.zst"):
            hits = sorted(self.modules.rglob(name))
            if hits:
                return hits[0]
        return None


def cache_root() -> Path:
    return Path(os.environ.get("COWLAB_CACHE") or Path.home() / ".cache" / "cowlab")


def say(text: str) -> None:
    print(f"cowlab oracle: {text}", file=sys.stderr, flush=True)


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FetchError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
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


def _depends(meta: str, opts: list[str]) -> str:
    out = _run(["apt-cache", *opts, "depends", meta])
    m = _IMAGE.search(out)
    if not m:
        raise FetchError(f"{meta}: no linux-image dependency in apt-cache depends:\n{out}")
    return m[1]


def _download(packages: list[str], opts: list[str], dest: Path) -> Path:
    """apt-get download the first package that works; the .deb path."""
    errors = []
    for pkg in packages:
        try:
            say(f"downloading {pkg}")
            _run(["apt-get", *opts, "download", pkg], cwd=dest)
        except FetchError as e:
            errors.append(str(e))
            continue
        debs = sorted(dest.glob(f"{pkg.replace('+', '?')}_*.deb"))
        if debs:
            return debs[-1]
    raise FetchError("\n".join(errors) or f"no .deb for {packages}")


def ensure_kernel(version: str, cache_dir: Path | None = None) -> KernelFiles:
    """The vmlinuz and modules of a Debian cloud kernel, fetched once into the cache."""
    if version not in KERNELS:
        raise FetchError(f"unknown kernel {version!r}: one of {', '.join(KERNELS)}")
    cache_dir = cache_dir or cache_root()
    root = cache_dir / "kernels" / version
    found = _unpacked(version, root / "root")
    if found:
        return found
    meta, private = KERNELS[version]
    opts: list[str] = []
    if private:
        opts = bullseye_options(cache_dir)
        say("apt-get update of a private bullseye configuration")
        _run(["apt-get", *opts, "update"])
    image = _depends(meta, opts)
    root.mkdir(parents=True, exist_ok=True)
    names = [image] if image.endswith("-unsigned") else [image + "-unsigned", image]
    deb = _download(names, opts, root)
    tmp = root / "root.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    _run(["dpkg-deb", "-x", str(deb), str(tmp)])
    shutil.rmtree(root / "root", ignore_errors=True)
    tmp.rename(root / "root")
    deb.unlink()
    found = _unpacked(version, root / "root")
    if not found:
        raise FetchError(f"{deb.name}: no boot/vmlinuz-* in the package")
    return found


def _unpacked(version: str, root: Path) -> KernelFiles | None:
    images = sorted((root / "boot").glob("vmlinuz-*")) if root.is_dir() else []
    if not images:
        return None
    release = images[-1].name.removeprefix("vmlinuz-")
    return KernelFiles(version, release, images[-1], root / "lib" / "modules" / release)
