"""Stable kernels: a mainline release plus the backports of modeled commits that its
stable branch took, each with the stable version that first carried it (and the last,
when a later stable-only patch undid it).  A backport may also be a stable-only
commit (timeline.STABLE_ONLY) whose effect on the branch differs from its upstream's.

``v5.10.262`` is v5.10 plus every backport first released in 5.10.N with N <= 262.
Sources: docs/research/history-verification.md (stable review mails, CVE records).
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Backport(NamedTuple):
    commit: str
    #: first stable release of the branch that carried it, e.g. 102 for 5.10.102
    first: int
    source: str
    #: the last release that carried its effect, when a later stable-only patch undid it
    last: int | None = None

    def carried_in(self, sublevel: int) -> bool:
        return self.first <= sublevel and (self.last is None or sublevel <= self.last)


#: branch -> backports of modeled commits, in the order the branch took them
STABLE_BRANCHES: dict[str, tuple[Backport, ...]] = {
    "v5.10": (
        Backport(
            "57efa1fe5957",
            4,
            "'mm/gup: prevent gup_fast from racing with COW during fork': "
            "Linux 5.10.4 announcement 1609328133185251@kroah.com (shortlog); 5.10.y hash "
            "537946556cc9, just before 'Linux 5.10.4' b1313fe517ca in the linux-stable-rc "
            "queue/5.10 push of 2020-12-30; Debian's linux-source-5.10 5.10.262 has its "
            "lockless_pages_from_mm() and write_protect_seq (found by the oracle's stops, issue 15)",
        ),
        Backport(
            "feb889fb40fa",
            9,
            "[PATCH 5.10 000/152] 5.10.9-rc1 review, 20210118113352.764293297@linuxfoundation.org",
        ),
        Backport("9348b73c2e1b", 9, "[PATCH 5.10 110/152], 20210118113358.001978134@linuxfoundation.org"),
        Backport(
            "80d47f5de5e3", 102, "Linux 5.10.102 announcement 164561802556115@kroah.com; osv CVE-2022-48797"
        ),
        Backport(
            "fb3d824d1a46",
            153,
            "its rule only, by the stable-only patch 'mm/memory: add non-anonymous page check in "
            "the copy_present_page()' in the Linux 5.10.153 announcement (docs/research/thp-numa.md §6)",
        ),
        Backport(
            "40dad765c045",
            162,
            "within 788d0824269b 'io_uring: import 5.15-stable io_uring' (5.10.162; "
            "docs/research/iouring-file-buffers.md §4)",
        ),
    ),
    # 6a56ccbcf6c6, d74943a2f3cd (failed to apply) and d2136d749d76 did not reach 6.1.y
    "v6.1": (
        Backport(
            "476c1dfefab8",
            130,
            "Salvatore Bonaccorso, Z_6sh7Byddqdk1Z-@eldamar.lan (Debian bugs 1102889, 1102914, "
            "1103153); undone in 6.1.135 by the stable-only 'mm: Fix is_zero_page() usage in "
            "try_grab_page()' (20250416202441.3911142-1-alex.williamson@redhat.com; in the "
            "Linux 6.1.135 announcement 2025042523-ranking-polygon-326c@gregkh, its hash there "
            "not read): docs/research/timeline-v6.18.md §C",
            last=134,
        ),
    ),
    # nothing modeled after v6.12 yet
    "v6.12": (),
}

#: the Debian kernels the oracle boots
DEBIAN_KERNELS: tuple[str, ...] = ("v5.10.262", "v6.1.192", "v6.12.117")

#: branch -> the newest stable release cowlab knows of (the Debian kernel the oracle
#: boots): a later one may have taken backports that are not modeled
NEWEST_STABLE: dict[str, int] = {
    name.rpartition(".")[0]: int(name.rpartition(".")[2]) for name in DEBIAN_KERNELS
}

_STABLE = re.compile(r"v([0-9]+)\.([0-9]+)\.([0-9]+)", re.ASCII)


def parse_stable(text: str) -> tuple[str, int] | None:
    """``"v5.10.262"`` -> ``("v5.10", 262)`` when ``text`` is exactly the name of a
    release of a modeled stable branch, else None."""
    match = _STABLE.fullmatch(text)
    if not match:
        return None
    branch = f"v{int(match.group(1))}.{int(match.group(2))}"
    if branch not in STABLE_BRANCHES or f"{branch}.{int(match.group(3))}" != text:
        return None
    return branch, int(match.group(3))


def backports_in(branch: str, sublevel: int) -> tuple[Backport, ...]:
    return tuple(b for b in STABLE_BRANCHES[branch] if b.carried_in(sublevel))
