"""What user space is promised, tracked beside the machine.

The spec is the ideal memory each process should see: the last token written at
each address (by its CPU, or by a device through its pin), and the set of tokens it
may ever legitimately see (its own writes, its devices' writes, and what it
inherited at fork).  It reads only the observations in a step's events, never the
kernel's bookkeeping, so it cannot share the kernel model's mistakes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cowlab.invariants.violation import (
    CALL_RESULT,
    FILE_ISOLATION,
    FILE_PIN_WRITEBACK,
    FORK_ISOLATION,
    NO_LOST_WRITE,
    PIN_COHERENCE,
    PROGRESS,
    RO_PIN_COHERENCE,
    Violation,
)
from cowlab.model import Machine
from cowlab.model import state as S
from cowlab.model.events import (
    CallReturned,
    DeviceLoad,
    DeviceStore,
    Event,
    Forked,
    Hung,
    Load,
    Mapped,
    Moved,
    RefDropped,
    RefTaken,
    Store,
    Zapped,
)
from cowlab.model.pte import (
    is_migration_entry,
    is_swap_entry,
    pfn_swap_entry_to_pfn,
    pte_pfn,
    pte_present,
    pte_to_swp_entry,
    swp_offset,
)
from cowlab.model.swap import fs_has_writeback


class RefSpec(NamedTuple):
    name: str
    pid: int
    vpn: int
    write: bool
    holder: str
    #: the user still maps the pinned address; munmap/DONTNEED/exit detach it
    attached: bool = True


class Spec(NamedTuple):
    #: ((pid, vpn), token) for addresses written since mapped; absent means zero
    expected: tuple[tuple[tuple[int, int], int], ...] = ()
    #: per pid: tokens the process may legitimately observe
    known: tuple[frozenset[int], ...] = ()
    #: (token, pid, how) of every store, in order
    writers: tuple[tuple[int, int, str], ...] = ()
    refs: tuple[RefSpec, ...] = ()
    #: tokens every process may see: the files' data, on disk or stored through a
    #: shared mapping
    public: frozenset[int] = frozenset()
    #: ((pid, vpn), (file, page, shared)) for addresses that map a file page: a shared
    #: one reads the file's current data; a private one until the process stores there
    aliases: tuple[tuple[tuple[int, int], tuple[int, int, bool]], ...] = ()
    #: ((file, page), token): the data of a file page a shared mapping reaches
    file_data: tuple[tuple[tuple[int, int], int], ...] = ()
    #: private addresses whose file page a shared mapping changed since they were
    #: mapped: Linux shows the new data until the process copies the page, POSIX
    #: promises neither, so a load there is checked for leaks only
    loose: frozenset[tuple[int, int]] = frozenset()

    def expect(self, pid: int, vpn: int) -> int:
        alias = self.alias(pid, vpn)
        if alias is not None and alias[2]:
            return self.file_token(alias[0], alias[1])
        return _lookup(self.expected, (pid, vpn), 0)

    def alias(self, pid: int, vpn: int) -> tuple[int, int, bool] | None:
        """(file, page, shared) of the file page the address maps, if any."""
        return _lookup(self.aliases, (pid, vpn), None)

    def with_alias(self, pid: int, vpn: int, alias: tuple[int, int, bool] | None) -> Spec:
        return self._replace(aliases=_with(self.aliases, (pid, vpn), alias), loose=self.loose - {(pid, vpn)})

    def file_token(self, file: int, page: int, default: int = 0) -> int:
        return _lookup(self.file_data, (file, page), default)

    def with_file_data(self, file: int, page: int, token: int) -> Spec:
        return self._replace(file_data=_with(self.file_data, (file, page), token))

    def with_expect(self, pid: int, vpn: int, token: int | None) -> Spec:
        return self._replace(expected=_with(self.expected, (pid, vpn), token or None))

    def learn(self, pid: int, token: int) -> Spec:
        known = list(self.known)
        while len(known) <= pid:
            known.append(frozenset())
        known[pid] = known[pid] | {token}
        return self._replace(known=tuple(known))

    def may_see(self, pid: int, token: int) -> bool:
        return token == 0 or token in self.public or (pid < len(self.known) and token in self.known[pid])

    def writer(self, token: int) -> tuple[int, str]:
        """(pid, how) of the store that wrote ``token``."""
        for t, pid, how in reversed(self.writers):
            if t == token:
                return pid, how
        raise KeyError(token)

    def ref(self, name: str) -> RefSpec | None:
        for ref in self.refs:
            if ref.name == name:
                return ref
        return None


def _lookup(pairs: tuple[tuple[Any, Any], ...], key: object, default: Any) -> Any:
    """The value a sorted tuple of (key, value) pairs holds for ``key``."""
    for k, value in pairs:
        if k == key:
            return value
    return default


def _with(pairs: tuple[tuple[Any, Any], ...], key: Any, value: Any) -> tuple[tuple[Any, Any], ...]:
    """``pairs`` with ``key`` mapped to ``value`` (dropped when ``value`` is None), still
    sorted: the spec is part of a checker state, so equal specs must be equal tuples."""
    rest = [(k, v) for k, v in pairs if k != key]
    if value is not None:
        rest.append((key, value))
        rest.sort()
    return tuple(rest)


def initial_spec(nprocs: int, public: frozenset[int] = frozenset()) -> Spec:
    return Spec(known=tuple(frozenset() for _ in range(nprocs)), public=public)


def _who(m: Machine, pid: int) -> str:
    return S.mm_name(m, pid)


def _token_desc(spec: Spec, m: Machine, token: int) -> str:
    if token == 0:
        return "#0 (zero)"
    if token in spec.public:
        return f"#{token} (the file's data)"
    pid, how = spec.writer(token)
    return f"#{token} (written by {_who(m, pid)}{' ' + how if how else ''})"


def _leak(spec: Spec, m: Machine, pid: int, token: int, via: str) -> Violation:
    writer, _ = spec.writer(token)
    relation = (
        "parent into child"
        if S.mm_parent(m, pid) == writer
        else ("child into parent" if S.mm_parent(m, writer) == pid else "one process into another")
    )
    return Violation(
        FORK_ISOLATION,
        f"leak from {relation}: {_who(m, pid)} {via} saw {_token_desc(spec, m, token)}"
        + ("" if relation.startswith("one") else " after they forked apart"),
        f"{pid}:{via}",
    )


def observe(spec: Spec, m: Machine, events: list[Event]) -> tuple[Spec, list[Violation]]:
    """Fold one step's observations into the spec; return what they broke."""
    found: list[Violation] = []
    for ev in events:
        kind = type(ev)
        if kind is Store:
            spec = spec._replace(writers=(*spec.writers, (ev.token, ev.pid, "")))
            spec = _store(spec.learn(ev.pid, ev.token), ev.pid, ev.vpn, ev.token)
        elif kind is Load:
            spec, found = _check_load(spec, m, ev, found)
        elif kind is RefTaken:
            spec = spec._replace(refs=(*spec.refs, RefSpec(ev.name, ev.pid, ev.vpn, ev.write, ev.holder)))
        elif kind is RefDropped:
            spec = spec._replace(refs=tuple(r for r in spec.refs if r.name != ev.name))
        elif kind is DeviceStore:
            ref = spec.ref(ev.name)
            assert ref is not None
            spec = spec._replace(writers=(*spec.writers, (ev.token, ref.pid, f"via {ev.name}")))
            spec = spec.learn(ref.pid, ev.token)
            if ref.attached:
                spec = _store(spec, ref.pid, ref.vpn, ev.token)
        elif kind is DeviceLoad:
            found.extend(_check_device_load(spec, m, ev))
        elif kind is Forked:
            spec = _fork(spec, ev)
        elif kind is Moved:
            spec = _move(spec, ev)
        elif kind is CallReturned:
            outcome = "ok" if ev.result == "done" else "refused"
            if ev.expect and outcome != ev.expect:
                found.append(
                    Violation(
                        CALL_RESULT,
                        f"{ev.call} for {ev.name} returned {ev.result}: the program expects it "
                        + ("to succeed" if ev.expect == "ok" else "to be refused"),
                        f"{ev.name}:{ev.call}",
                    )
                )
        elif kind is Hung:
            found.append(
                Violation(
                    PROGRESS,
                    f"{ev.thread} loops forever in {ev.stage}: the system call never returns",
                    f"hang:{ev.thread}",
                )
            )
        elif kind is Zapped or kind is Mapped:
            fresh = ev.fresh or (0,) * len(ev.vpns)
            for i, (vpn, token) in enumerate(zip(ev.vpns, fresh, strict=True)):
                spec = spec.with_expect(ev.pid, vpn, token or None)
                if kind is Zapped and ev.unmapped:  # munmap, exit: nothing mapped there now
                    spec = spec.with_alias(ev.pid, vpn, None)
                elif ev.file >= 0:
                    spec = _map_file_page(spec, ev, vpn, (ev.file, ev.pgoff + i, ev.shared), token)
            if kind is Mapped:
                continue
            spec = spec._replace(
                refs=tuple(
                    r._replace(attached=False) if r.pid == ev.pid and r.vpn in ev.vpns else r
                    for r in spec.refs
                )
            )
    return spec, found


def _store(spec: Spec, pid: int, vpn: int, token: int) -> Spec:
    """A store at ``vpn`` (by the CPU, or a device through a pin there).  Through a
    shared mapping it is the file's new data: every mapping of the page reads it, and
    private mappings of the page that have not copied it may."""
    alias = spec.alias(pid, vpn)
    if alias is None or not alias[2]:
        if alias is not None:  # a private mapping's own copy from now on
            spec = spec.with_alias(pid, vpn, None)
        return spec.with_expect(pid, vpn, token)
    page = (alias[0], alias[1])
    spec = spec.with_file_data(alias[0], alias[1], token)
    loose = {key for key, (f, p, shared) in spec.aliases if not shared and (f, p) == page}
    return spec._replace(public=spec.public | {token}, loose=spec.loose | loose)


def _map_file_page(
    spec: Spec, ev: Mapped | Zapped, vpn: int, alias: tuple[int, int, bool], fresh: int
) -> Spec:
    """mmap() or MADV_DONTNEED of an address that maps a file page: it reads the
    file's current data afterwards (a private one until it stores)."""
    file, page, shared = alias
    data = spec.file_token(file, page, fresh)
    if shared:  # the first shared mapping of the page records its data
        spec = spec.with_file_data(file, page, data)
    return spec.with_alias(ev.pid, vpn, alias).with_expect(ev.pid, vpn, data or None)


def _check_load(spec: Spec, m: Machine, ev: Load, found: list[Violation]) -> tuple[Spec, list[Violation]]:
    where = f"vpn {ev.vpn:#x}"
    if not spec.may_see(ev.pid, ev.token):
        found.append(_leak(spec, m, ev.pid, ev.token, f"reading {where}"))
    elif ev.exact and (ev.pid, ev.vpn) not in spec.loose:
        want = spec.expect(ev.pid, ev.vpn)
        if ev.token != want:
            found.append(
                Violation(
                    NO_LOST_WRITE,
                    f"{_who(m, ev.pid)} read {_token_desc(spec, m, ev.token)} at {where}, but the "
                    f"last write there was {_token_desc(spec, m, want)}",
                    f"{ev.pid}:{ev.vpn}",
                )
            )
    return spec, found


def _check_device_load(spec: Spec, m: Machine, ev: DeviceLoad) -> list[Violation]:
    ref = spec.ref(ev.name)
    assert ref is not None
    via = f"through {ev.name}"
    if not spec.may_see(ref.pid, ev.token):
        return [_leak(spec, m, ref.pid, ev.token, via)]
    if ref.holder != "device" or not ref.attached or (ref.pid, ref.vpn) in spec.loose:
        return []
    want = spec.expect(ref.pid, ref.vpn)
    if ev.token == want:
        return []
    invariant = PIN_COHERENCE if ref.write else RO_PIN_COHERENCE
    return [
        Violation(
            invariant,
            f"device read {_token_desc(spec, m, ev.token)} {via}, but {_who(m, ref.pid)} last "
            f"wrote {_token_desc(spec, m, want)} at vpn {ref.vpn:#x}",
            f"{ev.name}:read",
        )
    ]


def _fork(spec: Spec, ev: Forked) -> Spec:
    known = list(spec.known)
    while len(known) <= ev.child:
        known.append(frozenset())
    known[ev.child] = known[ev.parent] if ev.parent < len(known) else frozenset()
    spec = spec._replace(known=tuple(known))
    for vpn in ev.copied:
        spec = spec.with_expect(ev.child, vpn, spec.expect(ev.parent, vpn))
        alias = spec.alias(ev.parent, vpn)
        if alias is not None:
            spec = spec.with_alias(ev.child, vpn, alias)
            if (ev.parent, vpn) in spec.loose:
                spec = spec._replace(loose=spec.loose | {(ev.child, vpn)})
    return spec


def _move(spec: Spec, ev: Moved) -> Spec:
    tokens = {old: spec.expect(ev.pid, old) for old, _ in ev.moves}
    aliases = {old: spec.alias(ev.pid, old) for old, _ in ev.moves}
    loose = {old for old, _ in ev.moves if (ev.pid, old) in spec.loose}
    for old, _ in ev.moves:
        spec = spec.with_expect(ev.pid, old, None).with_alias(ev.pid, old, None)
    for old, new in ev.moves:
        spec = spec.with_expect(ev.pid, new, tokens[old] or None).with_alias(ev.pid, new, aliases[old])
        if old in loose:
            spec = spec._replace(loose=spec.loose | {(ev.pid, new)})
    where = dict(ev.moves)
    return spec._replace(
        refs=tuple(
            r._replace(vpn=where[r.vpn]) if r.pid == ev.pid and r.vpn in where else r for r in spec.refs
        )
    )


def resolve(m: Machine, pid: int, vpn: int) -> int | None:
    """The pfn the process reaches at ``vpn``: mapped, migrating, or in the swap cache."""
    pte = S.pte_at(m, pid, vpn)
    if pte_present(pte):
        return pte_pfn(pte)
    if is_migration_entry(pte):
        return pfn_swap_entry_to_pfn(pte)
    if is_swap_entry(pte):
        slot = swp_offset(pte_to_swp_entry(pte))
        if not S.swap_in_use(m, slot):
            return None
        cache = S.swap_cache_pfn(m, slot)
        return cache if cache >= 0 else None
    return None


def check_files(spec: Spec, m: Machine) -> list[Violation]:
    """File isolation as a state property: every page-cache page holds the file's data
    (what it has on disk, or what was last stored through a shared mapping: nothing
    else may write a file), and the huge zero page still reads as zero."""
    found = []
    for f in range(S.nr_files(m)):
        name = S.file_name(m, f)
        for index in range(S.file_nr_pages(m, f)):
            pfn = S.file_page_pfn(m, f, index)
            token = spec.file_token(f, index, S.file_original(m, f, index))
            now = S.page_content(m, pfn)
            if now != token:
                found.append(
                    Violation(
                        FILE_ISOLATION,
                        f"page {index} of {name} (pfn {pfn}) now holds "
                        f"{_token_desc(spec, m, now)}: a write through a private mapping reached "
                        "the file",
                        f"{name}:{index}",
                    )
                )
    for pfn in range(m.L.nr_pages):  # a free pfn is no huge zero page
        if S.is_huge_zero_page(m, pfn) and S.page_content(m, pfn) != 0:
            found.append(
                Violation(
                    FILE_ISOLATION,
                    f"the huge zero page (pfn {pfn}) now holds "
                    f"{_token_desc(spec, m, S.page_content(m, pfn))}"
                    ": a write through a private mapping reached memory every process shares",
                    f"huge_zero:{pfn}",
                )
            )
    return found


def check_pins(spec: Spec, m: Machine) -> list[Violation]:
    """Pin coherence as a state property: each attached R/W device reference is on the
    page its process reaches at the pinned address; and no long-term write pin holds
    a page-cache page that writeback may clean under the device (8ac268436e6d's
    reason: lost writes, or a filesystem meeting a dirty page it did not prepare)."""
    found = []
    for ref in spec.refs:
        held = S.ref_named(m, ref.name)
        if held >= 0 and ref.write and S.ref_longterm(m, held):
            owner = S.page_cache_owner(m, S.ref_pfn(m, held))
            fs = S.file_fs(m, owner[0]) if owner is not None else ""
            if owner is not None and fs_has_writeback(fs):
                found.append(
                    Violation(
                        FILE_PIN_WRITEBACK,
                        f"{ref.name} is a long-term write pin on page {owner[1]} of "
                        f"{S.file_name(m, owner[0])}, on {fs}: writeback "
                        "may clean the page while the device writes it",
                        f"{ref.name}:file",
                    )
                )
        if not (ref.attached and ref.write and ref.holder == "device"):
            continue
        held = S.ref_named(m, ref.name)
        if held < 0:
            continue
        held_pfn = S.ref_pfn(m, held)
        now = resolve(m, ref.pid, ref.vpn)
        if now != held_pfn:
            reach = f"pfn {now}" if now is not None else "no page"
            found.append(
                Violation(
                    PIN_COHERENCE,
                    f"{ref.name} holds pfn {held_pfn} but {_who(m, ref.pid)} now reaches {reach} "
                    f"at vpn {ref.vpn:#x}: the device and the CPU use different pages",
                    f"{ref.name}:page",
                )
            )
    return found
