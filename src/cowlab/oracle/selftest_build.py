"""The kernel's own selftests, cow.c and gup_longterm.c, from the Debian source package
of the kernel the oracle boots (docs/oracle.md, "The kernel's selftests").

``linux-source-BRANCH`` of exactly the booted kernel's Debian version is fetched with
``apt-get download`` (5.10 through the private bullseye configuration of
cowlab.oracle.fetch) and only what the two tests need is unpacked from its tarball:
``tools/testing/selftests/mm`` (``vm`` before v6.3), ``kselftest*.h``,
``tools/include``, ``tools/arch/x86/include``, ``mm/gup_test.h``, and the kernel's
user-space headers, which ``make headers`` installs into ``usr/include`` from the
tree's ``include/uapi`` and ``arch/x86/include/uapi`` (the selftests' Makefile calls
them KHDR_INCLUDES).  The package is deleted once unpacked; the subset and the
binaries are cached under ``CACHE/selftests/BRANCH/DEBIAN-VERSION/``.

Each test is compiled as its Makefile says (``-Wall -O2 -U_FORTIFY_SOURCE``, the
tree's headers, ``vm_util.c`` and ``thp_settings.c`` where the tree has them,
``-lrt -lpthread -lm`` and liburing when it is installed), statically, with the
host's gcc, from inside the test directory so that ``__FILE__`` is relative:
gup_longterm makes its "local tmpfile" as ``__FILE__`` + a suffix, in the working
directory of the run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cowlab.oracle.fetch import apt_options, cache_root, download, say

#: the selftests compared with the catalog: program -> the catalog's prefix for its lines
TESTS: dict[str, str] = {"cow": "cow.c", "gup_longterm": "gup_longterm"}
#: helpers the mm selftests link into every program when their Makefile does not say
#: (``$(TEST_GEN_FILES): vm_util.c thp_settings.c``; hugepage_settings.c from v7.x)
HELPERS = ("vm_util.c", "thp_settings.c", "hugepage_settings.c")
_MAKE_DEPS = re.compile(r"^\$\(TEST_GEN_FILES\):\s*(.+)$", re.M)
#: seconds a ``make headers`` or a compile may take
BUILD_TIMEOUT_S = 600
_CFLAGS = ("-Wall", "-O2", "-U_FORTIFY_SOURCE", "-static")
_LIBS = ("-lrt", "-lpthread", "-lm")


class SelftestError(RuntimeError):
    """The source could not be unpacked or its headers not installed."""


@dataclass(frozen=True)
class SelftestSource:
    #: 6.12
    branch: str
    #: the Debian version of linux-source-BRANCH: the booted kernel's, 6.12.117-1~deb12u1
    debian: str
    #: the unpacked subset: the tree's root (linux-source-6.12/)
    tree: Path
    #: tools/testing/selftests/DIR: mm from v6.3, vm before
    directory: str
    #: program -> its .c file exists in this tree
    present: dict[str, bool]
    #: seconds the fetch, unpack and ``make headers`` took (0 when cached)
    seconds: float = 0.0

    @property
    def package(self) -> str:
        return f"linux-source-{self.branch}"

    @property
    def test_dir(self) -> Path:
        return self.tree / "tools" / "testing" / "selftests" / self.directory

    def describe(self) -> str:
        return f"{self.package} {self.debian}"


@dataclass(frozen=True)
class SelftestBuild:
    test: str
    #: the static binary (None when the tree has no such test or the build failed)
    exe: Path | None
    #: why there is no binary: "" when there is one
    problem: str = ""
    #: the tree lacks the test (a skip row, not an error)
    absent: bool = False
    log: Path | None = None
    seconds: float = 0.0
    cached: bool = False


def _patterns(top: str) -> list[str]:
    """What to unpack of the tarball (whose members start with ``top/``)."""
    wanted = [
        "tools/testing/selftests/mm/*",
        "tools/testing/selftests/vm/*",
        "tools/testing/selftests/kselftest*",
        "tools/include/*",
        "tools/arch/x86/include/*",
        "mm/gup_test.h",
        # make headers: the top Makefile, kbuild's scripts and the uapi sources
        "Makefile",
        "Kbuild",
        "scripts/*",
        "include/*",
        "arch/x86/*",
        "usr/*",
    ]
    return [f"{top}/{p}" for p in wanted]


#: what stays of the unpacked tree once the headers are installed
_KEEP = ("tools", "mm", "usr/include")


def _unpack(deb: Path, branch: str, dest: Path) -> Path:
    """The subset of usr/src/linux-source-BRANCH.tar.xz inside ``deb``, into ``dest``;
    the tree's root."""
    top = f"linux-source-{branch}"
    inner = f"./usr/src/{top}.tar.xz"
    dest.mkdir(parents=True, exist_ok=True)
    script = (
        f'dpkg-deb --fsys-tarfile "$1" | tar -xOf - "$2" | xz -dc | '
        f'tar -x -C "$3" --wildcards {" ".join(repr(p) for p in _patterns(top))}'
    )
    proc = subprocess.run(
        ["sh", "-c", script, "sh", str(deb), inner, str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    # a pattern that matches nothing (mm/ in a tree that still calls it vm/) is fine
    noise = ("Not found in archive", "Exiting with failure status due to previous errors")
    errors = [line for line in proc.stderr.splitlines() if line.strip() and not any(n in line for n in noise)]
    root = dest / top
    if errors or not root.is_dir():
        said = " ".join(errors)[-600:] or "nothing unpacked"
        raise SelftestError(f"unpacking {inner} of {deb.name}: {said}")
    return root


def _install_headers(root: Path) -> None:
    """``make headers`` in the unpacked tree (usr/include), then drop what only it needed."""
    proc = subprocess.run(
        ["make", "-s", "-j2", "ARCH=x86", "headers"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0 or not (root / "usr" / "include" / "linux").is_dir():
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        raise SelftestError(f"make headers failed ({proc.returncode}): {tail[-600:]}")


def _prune(root: Path) -> None:
    for child in list(root.iterdir()):
        if child.name == "usr":
            for sub in list(child.iterdir()):
                if sub.name != "include":
                    shutil.rmtree(sub) if sub.is_dir() else sub.unlink()
        elif child.name not in _KEEP:
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def _selftest_dir(root: Path) -> str:
    base = root / "tools" / "testing" / "selftests"
    for name in ("mm", "vm"):
        if (base / name).is_dir():
            return name
    raise SelftestError(f"{root.name}: neither tools/testing/selftests/mm nor vm in the tarball")


def source_dir(branch: str, debian: str, cache_dir: Path) -> Path:
    return cache_dir / "selftests" / branch / debian


def cached_source(branch: str, debian: str, cache_dir: Path | None = None) -> SelftestSource | None:
    """The unpacked subset, if it is in the cache."""
    base = source_dir(branch, debian, cache_dir or cache_root())
    meta = base / "tree.json"
    if not meta.is_file():
        return None
    data = json.loads(meta.read_text())
    tree = base / "tree" / f"linux-source-{branch}"
    if not tree.is_dir():
        return None
    return SelftestSource(branch, debian, tree, data["directory"], dict(data["present"]))


def ensure_source(branch: str, debian: str, cache_dir: Path | None = None) -> SelftestSource:
    """linux-source-BRANCH=DEBIAN's selftest subset, fetched and unpacked once.

    FetchError (RegistryUnreachable, PackageMissing) when apt cannot get it;
    SelftestError when the package does not unpack or ``make headers`` fails."""
    cache_dir = cache_dir or cache_root()
    cached = cached_source(branch, debian, cache_dir)
    if cached is not None:
        return cached
    base = source_dir(branch, debian, cache_dir)
    base.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    opts = apt_options(branch, cache_dir)
    package = f"linux-source-{branch}"
    with tempfile.TemporaryDirectory(prefix="src-", dir=base) as tmp:
        work = Path(tmp)
        deb = download([f"{package}={debian}"], opts, work)
        say(f"{branch}: unpacking the selftests of {deb.name}")
        root = _unpack(deb, branch, work / "tree")
        deb.unlink()
        directory = _selftest_dir(root)
        test_dir = root / "tools" / "testing" / "selftests" / directory
        present = {t: (test_dir / f"{t}.c").is_file() for t in TESTS}
        if any(present.values()):
            say(f"{branch}: make headers (the tree's uapi headers for the selftests)")
            _install_headers(root)
        _prune(root)
        shutil.rmtree(base / "tree", ignore_errors=True)
        (work / "tree").rename(base / "tree")
    seconds = time.monotonic() - start
    (base / "tree.json").write_text(
        json.dumps({"directory": directory, "present": present, "seconds": round(seconds, 1)}) + "\n"
    )
    tree = base / "tree" / package
    return SelftestSource(branch, debian, tree, directory, present, seconds)


def have_liburing() -> bool:
    return Path("/usr/include/liburing.h").is_file()


def compile_command(source: SelftestSource, test: str, out: Path) -> list[str]:
    """gcc, run in the test's directory, with its file names relative."""
    tree = source.tree
    helpers = helper_sources(source.test_dir)
    # -I the selftests' directory: kselftest.h, as lib.mk adds it for trees whose tests
    # include it without "../"
    cmd = ["gcc", *_CFLAGS, "-I", str(tree), "-I", str(source.test_dir.parent)]
    cmd += ["-isystem", str(tree / "usr" / "include"), "-isystem", str(tree / "tools" / "include" / "uapi")]
    cmd += ["-o", str(out), f"{test}.c", *helpers, *_LIBS]
    if have_liburing():
        cmd.append("-luring")
    return cmd


def helper_sources(test_dir: Path) -> list[str]:
    """The .c files the Makefile links into every program (``$(TEST_GEN_FILES): ...``),
    else those of HELPERS the directory has."""
    makefile = test_dir / "Makefile"
    m = _MAKE_DEPS.search(makefile.read_text(errors="replace")) if makefile.is_file() else None
    if m is not None:
        named = [w for w in m[1].split() if w.endswith(".c")]
        if named and all((test_dir / w).is_file() for w in named):
            return named
    return [h for h in HELPERS if (test_dir / h).is_file()]


def _local_config(source: SelftestSource) -> None:
    """What the selftests' check_config.sh writes: whether liburing is there."""
    text = "#define LOCAL_CONFIG_HAVE_LIBURING 1\n" if have_liburing() else "// No liburing support found\n"
    for name in ("local_config.h", "local_config.h_gen"):  # the second from v7.x
        (source.test_dir / name).write_text(text)


def _gcc_version() -> str:
    proc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.splitlines()[0] if proc.returncode == 0 and proc.stdout else "no gcc"


def build_digest(source: SelftestSource) -> str:
    digest = hashlib.sha256()
    for part in (_gcc_version(), " ".join(_CFLAGS + _LIBS), str(have_liburing()), source.debian):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:12]


def build_selftests(
    source: SelftestSource, tests: list[str] | None = None, cache_dir: Path | None = None
) -> dict[str, SelftestBuild]:
    """The static binaries of ``tests`` (default: all of TESTS), built once and cached."""
    cache_dir = cache_dir or cache_root()
    out_dir = source_dir(source.branch, source.debian, cache_dir) / f"bin-{build_digest(source)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    builds: dict[str, SelftestBuild] = {}
    for test in tests or list(TESTS):
        if not source.present.get(test):
            why = (
                f"not in this kernel's source: {source.describe()} has no "
                f"tools/testing/selftests/{source.directory}/{test}.c"
            )
            builds[test] = SelftestBuild(test, None, why, absent=True)
            continue
        exe = out_dir / test
        log = out_dir / f"{test}.log"
        if exe.is_file():
            builds[test] = SelftestBuild(test, exe, log=log, cached=True)
            continue
        if shutil.which("gcc") is None:
            builds[test] = SelftestBuild(test, None, "no gcc on this machine (apt-get install gcc libc6-dev)")
            continue
        _local_config(source)
        tmp = out_dir / f".{test}.tmp"
        cmd = compile_command(source, test, tmp)
        start = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, cwd=source.test_dir, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
            )
            text, failed = proc.stdout + proc.stderr, proc.returncode != 0 or not tmp.is_file()
        except subprocess.TimeoutExpired:
            text, failed = f"gcc timed out after {BUILD_TIMEOUT_S} s", True
        seconds = time.monotonic() - start
        log.write_text(f"cd {source.test_dir}\n{' '.join(cmd)}\n{text}")
        if failed:
            tail = " | ".join(line for line in text.strip().splitlines()[-4:])
            why = f"{test}.c of {source.describe()} does not build: {tail[-500:]}"
            builds[test] = SelftestBuild(test, None, why, log=log, seconds=seconds)
            continue
        tmp.rename(exe)
        say(f"built {test} of {source.describe()} in {seconds:.1f} s")
        builds[test] = SelftestBuild(test, exe, log=log, seconds=seconds)
    return builds


def fetch_error(e: Exception) -> str:
    """One line for an error row."""
    return f"{type(e).__name__}: {' '.join(str(e).split())[:600]}"
