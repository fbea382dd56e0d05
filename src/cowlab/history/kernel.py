"""Naming a kernel: a release, a commit, and commits reverted on top."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from cowlab.history.commits import Commit
from cowlab.history.releases import RELEASE_INDEX, RELEASES, normalize_release
from cowlab.history.rules import RULE_NAMES, Rules
from cowlab.history.stable import NEWEST_STABLE, STABLE_BRANCHES, backports_in, parse_stable
from cowlab.history.timeline import STABLE_ONLY, TIMELINE

_HASH = re.compile(r"^[0-9a-f]{7,40}$")


class UnknownKernelError(ValueError):
    """A kernel or commit name that the timeline does not know."""


@dataclass(frozen=True)
class Kernel:
    """A modeled kernel: the commits applied, and the rule values they produce.

    ``r`` is what the kernel paths read; ``cite(rule)`` says which commit decided
    a rule's value, for the trace.
    """

    name: str
    commits: tuple[Commit, ...]
    reverted: tuple[Commit, ...] = ()
    r: Rules = field(default_factory=Rules)
    _setters: dict[str, Commit] = field(default_factory=dict, repr=False, compare=False)

    def cite(self, rule: str) -> str:
        """The commit behind a rule's value: its setter, or the first commit that
        would change it (``before 09854ba94c6a``), or the revert that undid it."""
        setter = self._setters.get(rule)
        if setter is not None:
            return setter.short
        for commit in self.reverted:
            if any(name == rule for name, _ in commit.sets):
                return f"{commit.short} reverted"
        for commit in TIMELINE:
            if any(name == rule for name, _ in commit.sets):
                return f"before {commit.short}"
        return "baseline"

    def has(self, commit_hash: str) -> bool:
        return any(c.hash.startswith(commit_hash) for c in self.commits)


def commit_url(short: str) -> str:
    """Where a reader opens the commit: Linus's tree, or the stable tree for a commit
    that exists only there."""
    tree = "stable" if any(c.short == short for c in STABLE_ONLY) else "torvalds"
    return f"https://git.kernel.org/{tree}/c/{short}"


def find_commit(text: str) -> Commit:
    """The timeline commit named by a hash prefix of at least 7 hex digits."""
    prefix = text.strip().lower()
    if not _HASH.match(prefix):
        raise UnknownKernelError(f"not a commit hash: {text!r}")
    matches = [
        c for c in TIMELINE + STABLE_ONLY if c.hash.startswith(prefix[:12]) or prefix.startswith(c.hash)
    ]
    if not matches:
        raise UnknownKernelError(f"unknown commit {text!r}: not in the modeled timeline")
    if len(matches) > 1:
        raise UnknownKernelError(f"ambiguous commit prefix {text!r}")
    return matches[0]


def _commits_for(spec: str) -> tuple[str, tuple[Commit, ...]]:
    stable = parse_stable(spec)
    if stable is not None:
        branch, sublevel = stable
        newest = NEWEST_STABLE.get(branch)
        if newest is not None and sublevel > newest:
            raise UnknownKernelError(
                f"unknown kernel {spec!r}: the newest {branch} stable release cowlab models is "
                f"{branch}.{newest}; later ones may carry backports it does not know"
            )
        _, base = _commits_for(branch)
        extra = tuple(find_commit(b.commit) for b in backports_in(branch, sublevel))
        return f"{branch}.{sublevel}", base + tuple(c for c in extra if c not in base)
    tag = normalize_release(spec)
    if tag is not None:
        limit = RELEASE_INDEX[tag]
        return tag, tuple(c for c in TIMELINE if RELEASE_INDEX[c.release] <= limit)
    try:
        commit = find_commit(spec)
    except UnknownKernelError:
        raise UnknownKernelError(
            f"unknown kernel {spec!r}{_did_you_mean(spec)}: give a release "
            f"{RELEASES[0]}..{RELEASES[-1]}, a stable release of {', '.join(STABLE_BRANCHES)} "
            "(e.g. v5.10.262) or a modeled commit hash (see `cowlab kernels`)"
        ) from None
    if commit in STABLE_ONLY:
        raise UnknownKernelError(
            f"{commit.short} exists only on a stable branch: give a stable release that "
            f"carries it (it was first released in {commit.release})"
        )
    index = TIMELINE.index(commit)
    return commit.short, TIMELINE[: index + 1]


def _did_you_mean(spec: str) -> str:
    """The exact name a near miss meant (``5.16``, ``v5.16 ``, full-width digits)."""
    guess = unicodedata.normalize("NFKC", spec).strip()
    if guess[:1].isdigit():
        guess = "v" + guess
    if guess != spec and (normalize_release(guess) or parse_stable(guess)):
        return f" (did you mean {guess!r}?)"
    return ""


def build_kernel(name: str, commits: Iterable[Commit], reverted: Iterable[Commit] = ()) -> Kernel:
    """Apply ``commits`` in order, skipping ``reverted``; the seam for stable kernels."""
    reverted = tuple(reverted)
    values = Rules()._asdict()
    setters: dict[str, Commit] = {}
    applied = tuple(c for c in commits if c not in reverted)
    for commit in applied:
        for rule, value in commit.sets:
            if rule not in RULE_NAMES:
                raise UnknownKernelError(f"commit {commit.short} switches unknown rule {rule!r}")
            values[rule] = value
            setters[rule] = commit
    return Kernel(name, applied, reverted, Rules(**values), setters)


def kernel_at(spec: str, revert: Iterable[str] = ()) -> Kernel:
    """``kernel_at("v5.16")``, ``kernel_at("80d47f5de5e3")``, with optional reverts."""
    base_name, commits = _commits_for(spec)
    reverted: list[Commit] = []
    for text in revert:
        commit = find_commit(text)
        if commit not in commits:
            raise UnknownKernelError(f"cannot revert {commit.short}: it is not in {base_name}")
        reverted.append(commit)
    name = base_name + "".join(f" -{c.short}" for c in reverted)
    return build_kernel(name, commits, reverted)
