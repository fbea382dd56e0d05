"""The race hunter without a VM: the workload's output parsed, cells and their agreement,
every failure mode as an error cell (fakes for the kernel, module, initramfs and boot),
the model's verdicts per variant, bad input.  The real hunts: test_race_vm.py (slow)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cowlab.cli import app
from cowlab.oracle import race
from cowlab.oracle.fetch import FetchError, KernelFiles
from cowlab.oracle.kmod import ModuleBuild, ModuleError
from cowlab.oracle.vm import OK, PANIC, TIMEOUT, VmResult, booted, split_output

SETTINGS = (
    "# cowlab race gaudi: variant=pin-after-scan pages=32 seconds=5 touch_ms=150 scan_wait_ms=1000 "
    "flags=FOLL_PIN|FOLL_FORCE|FOLL_WRITE|FOLL_LONGTERM fast=1\n# nodes=2 cpu0=node0 cpu1=node1\n"
)
HIT = (
    "RACE HIT iter=7 page=3 by=pfn,contents pin_pfn=0x1234 map_pfn=0x5678 cpu_read=0xc0a1000007000032 "
    "dev_wrote=0xc0a1000007000033 dev_read=0xc0a1000007000033 page_node=0 map_node=1 scan_updates=40 "
    "hint_faults=12 migrate_fail=10 t_ms=812"
)


def summary(iterations: int = 40, hits: int = 0, hit_pages: int = 0) -> str:
    return (
        f"RACE SUMMARY variant=pin-after-scan iterations={iterations} pages_per_iteration=32 hits={hits} "
        f"hit_pages={hit_pages} pfn_hits={hit_pages} content_hits={hit_pages} scans=40 no_scan=0 "
        "scan_updates=1500 scan_covered=38 touches_remote=900 touches_local=880 touches_unknown=0 "
        "hint_faults=1300 hint_faults_local=400 pages_migrated=0 migrate_fail=9000 seconds=5.0\n"
    )


def test_parse_a_run_without_hits() -> None:
    out = race.parse_race_output(SETTINGS + "# progress iterations=20 hits=0 t_ms=2500\n" + summary(), 0)
    assert out.status == race.RAN and out.reason == ""
    assert out.settings["variant"] == "pin-after-scan" and out.settings["pages"] == "32"
    assert out.count("iterations") == 40 and out.count("hits") == 0 and out.count("migrate_fail") == 9000
    assert out.hits == ()


def test_parse_a_run_with_hits() -> None:
    out = race.parse_race_output(SETTINGS + HIT + "\n" + summary(40, 1, 1), 0)
    assert out.status == race.RAN and out.hits == (HIT.removeprefix("RACE HIT "),)
    assert race.words(out.hits[0])["pin_pfn"] == "0x1234"


@pytest.mark.parametrize(
    ("text", "status", "kind", "reason"),
    [
        (
            SETTINGS + "RACE SKIP one NUMA node: the race needs a remote touch\n",
            4,
            race.SKIP,
            "one NUMA node",
        ),
        (SETTINGS + "RACE ERROR COWLAB_PIN_IOC_PIN: Bad address\n", 1, race.ERROR, "COWLAB_PIN_IOC_PIN"),
        (SETTINGS + "# progress iterations=50 hits=0 t_ms=9000\n", None, race.ERROR, "killed before its end"),
        (SETTINGS, 0, race.ERROR, "no RACE SUMMARY"),
        (SETTINGS + summary(), 139, race.ERROR, "exit status 139"),
        (SETTINGS + summary(40, 2, 2), 0, race.ERROR, "no RACE HIT line"),
        (SETTINGS + "RACE SKIP no /dev/cowlab_pin\n", 0, race.ERROR, "RACE SKIP with exit status 0"),
    ],
)
def test_parse_what_is_no_run(text: str, status: int | None, kind: str, reason: str) -> None:
    out = race.parse_race_output(text, status)
    assert out.status == kind and reason in out.reason


def cell(model: str, status: str = race.RAN, hits: int = 0, iterations: int = 100) -> race.RaceCell:
    return race.RaceCell(
        "gaudi", race.AFTER, "5.10", "Debian 5.10.262-1", "5.10.0-46-cloud-amd64", "v5.10.262", model,
        None, status, iterations=iterations, hits=hits,
    )  # fmt: skip


def test_agreement_of_a_hunt() -> None:
    assert (cell("broken", hits=3).agree, cell("broken", hits=3).outcome()) == (True, "reproduced")
    assert (cell("holds").agree, cell("holds").outcome()) == (True, "consistent")
    assert (cell("holds", hits=1).agree, cell("holds", hits=1).outcome()) == (False, "DISAGREES")
    # no hit where the model breaks is a null result, not a disagreement
    assert (cell("broken").agree, cell("broken").outcome()) == (None, "not reproduced")
    assert cell("broken", hits=3).rate == 0.03 and cell("broken").rate == 0.0
    for status in (race.ERROR, race.SKIP):
        assert (cell("broken", status).agree, cell("broken", status).rate) == (None, None)
        assert cell("broken", status).outcome() == status
    assert cell("error").agree is None
    assert cell("broken", hits=1).to_json()["outcome"] == "reproduced"


def test_variants_and_kernels_are_checked() -> None:
    assert race.variants_of("gaudi") == (race.BEFORE,)
    assert race.variants_of("gaudi-open") == (race.BEFORE, race.AFTER)
    assert race.variants_of("gaudi-open", [race.AFTER]) == (race.AFTER,)
    with pytest.raises(race.RaceError, match="no race workload for 'iouring-swap'"):
        race.variants_of("iouring-swap")
    with pytest.raises(race.RaceError, match="unknown variant"):
        race.variants_of("gaudi", ["pin-during-scan"])
    race.check_kernels(["5.10", "6.1.192", "built:stock", "built:revert"])
    for bad, said in (
        ("7.0", "unknown kernel"),
        ("host", "two NUMA nodes"),
        ("built:other", "unknown kernel"),
    ):
        with pytest.raises(race.RaceError, match=said):
            race.check_kernels([bad])


def test_model_verdicts_per_variant() -> None:
    """What the report puts beside the hunts: the fix closes pin-before-scan only."""
    assert race.model_verdict(race.BEFORE, "v5.10.262") == ("holds", None)
    assert race.model_verdict(race.BEFORE, "v5.10.262", ["80d47f5de5e3"]) == ("broken", "pin_coherence")
    assert race.model_verdict(race.AFTER, "v5.10.262") == ("broken", "pin_coherence")
    assert race.model_verdict(race.AFTER, "v6.1.192") == ("holds", None)
    assert race.model_verdict(race.AFTER, "v9.9")[0] == "error"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")
def test_the_workload_compiles_and_skips_without_a_second_node(tmp_path: Path) -> None:
    exe = race.compile_workload(tmp_path)
    assert exe == race.compile_workload(tmp_path)  # cached by its source
    nodes = len(list(Path("/sys/devices/system/node").glob("node[0-9]*")))
    if nodes != 1:
        pytest.skip("this machine has several nodes")
    env = dict(os.environ, COWLAB_RACE_SECONDS="1")
    proc = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=30, check=False)
    out = race.parse_race_output(proc.stdout, proc.returncode)
    assert out.status == race.SKIP and out.settings["variant"] == race.BEFORE, proc.stdout
    fresh = dict(env, COWLAB_RACE_FRESH="1")  # the SKIP is said once, before any child
    proc = subprocess.run([str(exe)], capture_output=True, text=True, env=fresh, timeout=30, check=False)
    assert race.parse_race_output(proc.stdout, proc.returncode).status == race.SKIP, proc.stdout
    bad = dict(env, COWLAB_RACE_PAGES="9999")
    proc = subprocess.run([str(exe)], capture_output=True, text=True, env=bad, timeout=30, check=False)
    assert race.parse_race_output(proc.stdout, proc.returncode).status == race.ERROR


BOOT = "=== cowlab boot 5.10.0-46-cloud-amd64 nodes=2\n"
INSMOD_OK = "=== cowlab loading cowlab_pin\n=== cowlab insmod cowlab_pin status=0\n"


def marked(name: str, body: str, status: int | None = 0) -> str:
    end = "" if status is None else f"=== cowlab end {name} status={status}\n"
    return f"=== cowlab begin {name}\n{body}{end}"


class FakeVm:
    """run_race with a fake kernel, module build, initramfs and boot."""

    def __init__(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, status: str = OK
    ) -> None:
        self.output, self.status = output, status
        self.seen: dict[str, object] = {}
        self.files = KernelFiles(
            "5.10", "5.10.0-46-cloud-amd64", tmp_path / "vmlinuz", tmp_path, "5.10.262-1"
        )
        self.module_error: Exception | None = None
        self.resolve_error: Exception | None = None
        monkeypatch.setattr(race, "compile_workload", lambda cache: tmp_path / "gaudi_race")
        monkeypatch.setattr(race, "resolve", self.resolve)
        monkeypatch.setattr(race, "build_module", self.build_module)
        monkeypatch.setattr(race, "build_initramfs", self.build_initramfs)
        monkeypatch.setattr(race, "boot", self.boot)

    def resolve(self, kernel: str, cache: Path) -> race.Target:
        if self.resolve_error is not None:
            raise self.resolve_error
        return race.Target(self.files, "Debian 5.10.262-1", "v5.10.262")

    def build_module(self, files: KernelFiles, cache: Path, **kw: object) -> ModuleBuild:
        if self.module_error is not None:
            raise self.module_error
        return ModuleBuild(Path("/x/cowlab_pin.ko"), files.release, 1.0, False, "gcc-10")

    def build_initramfs(self, programs: dict[str, Path], out: Path, **kw: object) -> Path:
        self.seen.update(kw, programs=sorted(programs))
        return out

    def boot(self, kernel: Path, initrd: Path, timeout: float, **kw: object) -> VmResult:
        self.seen["timeout"] = timeout
        programs, finished = split_output(self.output)
        return VmResult(
            self.status, Path("/x/console.log"), self.output, 9.0, programs, finished, booted(self.output)
        )


def hunt(tmp_path: Path, **kw: object) -> list[race.RaceCell]:
    return race.run_race("gaudi-open", ["5.10"], seconds=5, cache_dir=tmp_path, workdir=tmp_path, **kw)  # type: ignore[arg-type]


def test_a_hunt_with_a_fake_vm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = BOOT + INSMOD_OK + marked("gaudi_race_before", SETTINGS + summary())
    out += marked("gaudi_race_after", SETTINGS + HIT + "\n" + summary(40, 1, 2))
    vm = FakeVm(tmp_path, monkeypatch, out)
    before, after = hunt(tmp_path, pages=16)
    assert vm.seen["programs"] == ["gaudi_race_after", "gaudi_race_before"]
    assert vm.seen["env"] == {
        "COWLAB_RACE_SECONDS": "5",
        "COWLAB_RACE_PAGES": "16",
        "COWLAB_RACE_TOUCH_MS": "150",
        "COWLAB_RACE_FRESH": "1",
    }
    assert vm.seen["timeout_s"] == 5 + race.SLACK_S
    assert (before.model, before.status, before.iterations, before.hits, before.outcome()) == (
        "holds", race.RAN, 40, 0, "consistent",
    )  # fmt: skip
    assert (after.model, after.hits, after.hit_pages, after.outcome()) == ("broken", 1, 2, "reproduced")
    assert after.first_hit.startswith("iter=7 page=3") and after.rate == 1 / 40
    assert (after.booted, after.release, after.model_kernel) == (
        "Debian 5.10.262-1", "5.10.0-46-cloud-amd64", "v5.10.262",
    )  # fmt: skip
    text = race.race_markdown([before, after], "cowlab oracle race gaudi-open --kernels 5.10 --seconds 5")
    assert text.startswith(race.RACE_HEADING) and "| 1/40 = 0.0250 | reproduced |" in text
    assert "900 / 1300 / 9000" in text


@pytest.mark.parametrize(
    ("output", "status", "said"),
    [
        (BOOT + INSMOD_OK + marked("gaudi_race_before", SETTINGS), PANIC, "VM panic"),
        (
            BOOT + INSMOD_OK + marked("gaudi_race_before", SETTINGS + "# progress\n", None),
            TIMEOUT,
            "timed out",
        ),
        (BOOT + "=== cowlab insmod cowlab_pin status=1\n", OK, "insmod cowlab_pin.ko refused (status 1)"),
        (BOOT, OK, "was not loaded"),
        ("=== cowlab boot 6.1.0-57-cloud-amd64 nodes=2\n" + INSMOD_OK, OK, "the guest runs 6.1.0-57"),
        ("", "no-output", "VM no-output"),
        (BOOT + "=== cowlab version Linux ... SMP Debian 5.10.261-1 (2026-01-01)\n", OK, "Debian 5.10.261-1"),
    ],
)
def test_what_keeps_a_hunt_from_a_result_is_an_error_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, status: str, said: str
) -> None:
    FakeVm(tmp_path, monkeypatch, output, status)
    cells = hunt(tmp_path)
    assert [c.status for c in cells] == [race.ERROR, race.ERROR]
    assert all(said in c.note and c.agree is None and c.rate is None for c in cells), cells[0].note


def test_only_iterations_in_the_variants_order_count() -> None:
    """The rate's denominator is the iterations whose scan and pin came in the variant's
    order; the others are reported apart."""
    text = SETTINGS + summary(40, 1, 1).replace(
        " seconds=", " ordered=30 unordered=10 unordered_hits=3 seconds="
    )
    out = race.parse_race_output(
        text.replace("RACE SUMMARY", HIT + "\nRACE UNORDERED-HIT iter=2 page=1\nRACE SUMMARY"), 0
    )
    assert out.status == race.RAN and len(out.hits) == 1
    vm = VmResult(OK, Path("/x/console.log"), "", 1.0, {}, True, booted(BOOT + INSMOD_OK))
    target = race.Target(
        KernelFiles("5.10", "5.10.0-46-cloud-amd64", Path("/v"), Path("/m"), "5.10.262-1"), "", "v5.10.262"
    )
    programs, _ = split_output(
        marked("gaudi_race_after", text.replace("RACE SUMMARY", HIT + "\nRACE SUMMARY"))
    )
    vm = replace(vm, programs=programs)
    [c] = race.cells_from_vm(
        vm, "gaudi", [race.AFTER], "5.10", target, {race.AFTER: ("broken", "pin_coherence")}
    )
    assert (c.iterations, c.hits, c.rate) == (30, 1, 1 / 30)
    assert "10 unordered (3 hit pages)" in race.race_markdown([c], "x")


def test_a_vm_killed_from_outside_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """qemu killed by someone else (a signal, not our timeout): both cells are errors that
    say so, with what qemu printed last."""
    (tmp_path / "vm").mkdir()
    (tmp_path / "vm" / "qemu.stderr").write_text("qemu-system-x86_64: terminating on signal 15 from pid 7\n")
    out = BOOT + INSMOD_OK + marked("gaudi_race_before", SETTINGS + "# progress iterations=50\n", None)
    vm = FakeVm(tmp_path, monkeypatch, out)
    monkeypatch.setattr(
        race,
        "boot",
        lambda *a, **kw: replace(vm.boot(*a, **kw), console=tmp_path / "vm" / "console.log"),
    )
    before, after = hunt(tmp_path)
    assert before.status == after.status == race.ERROR
    assert (
        "the VM ended after 9 s before the hunts did (qemu-system-x86_64: terminating on signal 15"
        in after.note
    )
    assert before.note.startswith("the VM ended") and "killed before its end" in before.note


def test_a_skip_in_the_guest_is_no_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = SETTINGS + "RACE SKIP no /dev/cowlab_pin (No such file or directory)\n"
    FakeVm(tmp_path, monkeypatch, BOOT + INSMOD_OK + marked("gaudi_race_before", body, 4))
    [c] = race.run_race("gaudi", ["5.10"], seconds=5, cache_dir=tmp_path, workdir=tmp_path)
    assert (c.status, c.agree, c.outcome()) == (race.SKIP, None, "skip") and "cowlab_pin" in c.note


def test_module_and_kernel_failures_are_error_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = FakeVm(tmp_path, monkeypatch, "")
    vm.module_error = ModuleError("build", "module build failed for 5.10: error: x", tmp_path / "build.log")
    cells = hunt(tmp_path)
    assert all(c.status == race.ERROR and c.note.startswith("cowlab_pin build: module build") for c in cells)
    assert cells[0].log == str(tmp_path / "build.log") and "timeout" not in vm.seen
    vm.module_error = ModuleError("headers", "header package missing for Debian 5.10.262-1")
    assert all("cowlab_pin headers: header package missing" in c.note for c in hunt(tmp_path))
    vm.resolve_error = FileNotFoundError("built:revert is not built: run `cowlab oracle build-kernel`")
    assert all("not built" in c.note and c.model == "error" for c in hunt(tmp_path))
    vm.resolve_error = FetchError("kernel 5.10.262 is not cached and no Debian registry answered")
    cells = hunt(tmp_path)
    assert all("no Debian registry" in c.note and c.model_kernel == "v5.10.262" for c in cells)


def test_a_built_kernel_not_built_is_an_error_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(race, "compile_workload", lambda cache: tmp_path / "gaudi_race")
    [c] = race.run_race("gaudi", ["built:revert"], seconds=5, cache_dir=tmp_path, workdir=tmp_path)
    assert c.status == race.ERROR and "cowlab oracle build-kernel --variant revert" in c.note


def test_cli_bad_input_is_exit_2() -> None:
    runner = CliRunner()
    for args, said in (
        (["oracle", "race", "iouring-swap"], "no race workload"),
        (["oracle", "race", "gaudi", "--kernels", "host"], "two NUMA nodes"),
        (["oracle", "race", "gaudi", "--variant", "sometimes"], "unknown variant"),
        (["oracle", "race", "gaudi", "--pages", "0"], "--pages"),
        (["oracle", "build-kernel", "--variant", "patched"], "unknown kernel variant"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and said in result.output, result.output
