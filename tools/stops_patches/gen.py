# SPDX-License-Identifier: GPL-2.0
"""Write src/cowlab/oracle/kpatch/stops-BRANCH.patch from the unpacked Debian tree in the
cache (``cowlab oracle build-kernel`` unpacks it): the shared core (core.c, header.h)
with the branch's stage list and VMA walk filled in, and the branch's edits
(edits_BRANCH.py: each an exact, unique text replacement in a pristine file).

    python3 tools/stops_patches/gen.py 6.1 [OUT_DIR]

The stage list comes from cowlab.oracle.stops (the table, read by path: no package
imports), so the names compiled in are supported(branch); the test
tests/oracle/test_stops_patch.py checks the patches against the table.  A changed
patch is a new build (its digest changes)."""

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path.home() / ".cache/cowlab/kbuild/src"
TREES = {
    "5.10": SRC / "5.10.262-1/linux-source-5.10",
    "6.1": SRC / "6.1.192-3/linux-source-6.1",
    "6.12": SRC / "6.12.117-1~deb12u1/linux-source-6.12",
}
HERE = Path(__file__).parent
INCLUDE = "#include <linux/cowlab_stops.h>\n"


def stages(branch):
    """(ENUM_NAME, stage) for each stage the table places on the branch, in its order."""
    spec = importlib.util.spec_from_file_location("stops", HERE.parents[1] / "src/cowlab/oracle/stops.py")
    table = importlib.util.module_from_spec(spec)
    sys.modules["stops"] = table  # dataclasses looks the module up while building the table
    spec.loader.exec_module(table)
    return [(name.upper().replace(".", "_"), name) for name in table.supported(branch)]


def edit(text, old, new, path):
    n = text.count(old)
    if n != 1:
        sys.exit(f"{path}: {n} matches of {old!r}")
    return text.replace(old, new)


def main(branch):
    sys.path.insert(0, str(HERE))
    mod = __import__(f"edits_{branch.replace('.', '_')}")
    tree = TREES[branch]
    work = Path(tempfile.mkdtemp(prefix=f"cowlab-stops-{branch}-"))
    a, b = work / "a", work / "b"
    for rel, edits in mod.EDITS.items():
        text = (tree / rel).read_text()
        (a / rel).parent.mkdir(parents=True, exist_ok=True)
        (a / rel).write_text(text)
        if rel.endswith(".c"):
            text = edit(text, '#include "internal.h"\n', INCLUDE + '#include "internal.h"\n', rel)
        for old, new in edits:
            text = edit(text, old, new, rel)
        (b / rel).parent.mkdir(parents=True, exist_ok=True)
        (b / rel).write_text(text)
    listed = stages(branch)
    enum = "".join(f"\tCOWLAB_STOP_{k},\n" for k, _ in listed)
    names = "".join(f'\t[COWLAB_STOP_{k}] = "{n}",\n' for k, n in listed)
    header = (HERE / "header.h").read_text().replace("@ENUM@\n", enum)
    core = (HERE / "core.c").read_text().replace("@NAMES@\n", names)
    core = core.replace("\t@VMA_ITER_DECL@\n", mod.VMA_ITER_DECL).replace("@VMA_LOOP@", mod.VMA_LOOP)
    (b / "include/linux").mkdir(parents=True, exist_ok=True)
    (b / "include/linux/cowlab_stops.h").write_text(header)
    (b / "mm/cowlab_stops.c").write_text(core)
    diff = subprocess.run(["diff", "-ruN", "a", "b"], cwd=work, capture_output=True, text=True).stdout
    diff = re.sub(r"^(---|\+\+\+) (\S+)\t.*$", r"\1 \2", diff, flags=re.M)
    diff = "\n".join(ln for ln in diff.splitlines() if not ln.startswith("diff -ruN")) + "\n"
    out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parents[1] / "src/cowlab/oracle/kpatch"
    out = out_dir / f"stops-{branch}.patch"
    out.write_text(mod.PREAMBLE + "\n" + diff)
    shutil.rmtree(work)
    print(out, len(diff.splitlines()))


main(sys.argv[1])
