"""Pydantic models of the YAML scenario format: field types, ranges and choices.

They only check shapes; the loader turns them into the frozen dataclasses of
spec.py and actions.py.  Strict mode, so ``pages: "3"`` or ``fast: 1`` is an
error rather than a guess.  Each action model's field names equal the action
dataclass's; aliases give the YAML keys (the keyword for the first field).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from cowlab.scenario.actions import ACTIONS, ADVICES, GUP_FLAG_NAMES, PROTS
from cowlab.scenario.validate import MAX_PAGES, NAME

Name = Annotated[str, StringConstraints(pattern=rf"^{NAME}$")]
NodeId = Annotated[int, Field(ge=0)]
Pages = Annotated[int, Field(ge=1, le=MAX_PAGES)]
#: filesystem types the model tells apart: tmpfs (memfd and shmem: no writeback, no
#: page_mkwrite), hugetlbfs (a memfd with MFD_HUGETLB: huge pages, no writeback) and the
#: disk filesystems gup_longterm knows (writeback)
FileSystem = Literal["tmpfs", "hugetlbfs", "ext4", "xfs", "btrfs"]


def _one_of(choices: tuple[str, ...]) -> Any:
    """A str restricted to ``choices``, with an error message listing them."""

    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of: {', '.join(choices)}")
        return value

    return Annotated[str, AfterValidator(check)]


if TYPE_CHECKING:  # a validated str, to a type checker
    Prot = str
    Advice = str
    GupFlag = str
else:
    Prot = _one_of(PROTS)
    Advice = _one_of(ADVICES)
    GupFlag = _one_of(GUP_FLAG_NAMES)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MachineModel(Model):
    nodes: int = Field(2, ge=1, le=64)
    numa_balancing: bool = True


class ThreadModel(Model):
    name: Name
    node: NodeId = 0
    affinity: NodeId | None = None


class ProcessModel(Model):
    name: Name
    threads: list[ThreadModel] = Field(min_length=1)


class FileModel(Model):
    name: Name
    pages: Pages = 1
    fs: FileSystem = "ext4"


class BackgroundModel(Model):
    """Budgets of background activity a model check may interleave anywhere."""

    numa_scan: int = Field(0, ge=0, le=16)
    move: int = Field(0, ge=0, le=16)
    lru_drain: int = Field(0, ge=0, le=16)
    reclaim: int = Field(0, ge=0, le=16)
    dma_write: int = Field(0, ge=0, le=16)
    dma_read: int = Field(0, ge=0, le=16)
    kernel_choices: bool = True


class BoundsModel(Model):
    """Overrides of the compact state's bounds (cowlab.model.layout.Bounds), for a
    scenario or configuration whose states outgrow the estimate."""

    processes: int | None = Field(None, ge=1, le=64)
    threads: int | None = Field(None, ge=1, le=256)
    pages: int | None = Field(None, ge=2, le=1 << 16)
    vpns: int | None = Field(None, ge=4, le=1 << 16)
    vmas: int | None = Field(None, ge=1, le=1024)
    frames: int | None = Field(None, ge=1, le=64)
    holds: int | None = Field(None, ge=1, le=64)
    locals: int | None = Field(None, ge=1, le=1024)
    slots: int | None = Field(None, ge=1, le=1 << 16)
    refs: int | None = Field(None, ge=1, le=1024)
    file_pages: int | None = Field(None, ge=1, le=1 << 16)


class ScenarioModel(Model):
    name: str
    description: str = ""
    references: list[str] = []
    introduced_by: list[str] = []
    fixed_by: list[str] = []
    machine: MachineModel = MachineModel()
    files: list[FileModel] = []
    processes: list[ProcessModel]
    #: checked one by one by the loader (a step's keys depend on its action)
    steps: list[Any] = []
    #: check configurations only: thread name -> its actions, in order, no global order
    programs: dict[str, list[Any]] | None = None
    background: BackgroundModel | None = None
    bounds: BoundsModel | None = None
    #: what the scenario should do on each kernel (holds, broken, or a promise that
    #: breaks): the pytest plugin (cowlab.pytest_plugin) runs each as a test
    expect: dict[str, str] | None = None


# --- one model per action ----------------------------------------------------


class MmapArgs(Model):
    name: Name = Field(alias="mmap")
    pages: Pages = 1
    prot: Prot = "rw"
    file: Name | None = None
    shared: bool = False
    hugetlb: bool = False
    thp: bool = False
    mthp: bool = False


class ProcMemWriteArgs(Model):
    addr: str = Field(alias="proc_mem_write")


class ProcMemReadArgs(Model):
    addr: str = Field(alias="proc_mem_read")


class WriteArgs(Model):
    addr: str = Field(alias="write")


class ReadArgs(Model):
    addr: str = Field(alias="read")


class MunmapArgs(Model):
    region: str = Field(alias="munmap")
    first: int = Field(0, ge=0, le=MAX_PAGES)
    count: int | None = Field(None, ge=1, le=MAX_PAGES)


class MprotectArgs(Model):
    region: str = Field(alias="mprotect")
    prot: Prot
    first: int = Field(0, ge=0, le=MAX_PAGES)
    count: int | None = Field(None, ge=1, le=MAX_PAGES)


class MremapArgs(Model):
    region: str = Field(alias="mremap")
    to: Name
    first: int = Field(0, ge=0, le=MAX_PAGES)
    count: int | None = Field(None, ge=1, le=MAX_PAGES)


class MadviseArgs(Model):
    region: str = Field(alias="madvise")
    advice: Advice
    first: int = Field(0, ge=0, le=MAX_PAGES)
    count: int | None = Field(None, ge=1, le=MAX_PAGES)


class ForkArgs(Model):
    child: Name = Field(alias="fork")
    thread: Name | None = None


class ExitArgs(Model):
    exit: Literal[True] | None = None


class PinArgs(Model):
    addr: str = Field(alias="pin")
    name: Name = Field(alias="as")
    flags: list[GupFlag] = ["FOLL_PIN", "FOLL_WRITE", "FOLL_LONGTERM"]
    fast: bool = False
    by: Literal["driver", "io_uring"] = "driver"
    expect: Literal["ok", "refused"] | None = None


class UnpinArgs(Model):
    name: Name = Field(alias="unpin")


class VmspliceArgs(Model):
    addr: str = Field(alias="vmsplice")
    name: Name = Field(alias="as")


class PipeReadArgs(Model):
    name: Name = Field(alias="pipe_read")


class ClearRefsArgs(Model):
    what: Literal["soft_dirty"] = Field("soft_dirty", alias="clear_refs")


class NumaScanArgs(Model):
    numa_scan: Literal[True] | None = None


class ResumeArgs(Model):
    resume: Literal[True] | None = None


class DmaWriteArgs(Model):
    pin: Name = Field(alias="dma_write")


class DmaReadArgs(Model):
    pin: Name = Field(alias="dma_read")


class LruDrainArgs(Model):
    node: NodeId | None = Field(None, alias="lru_drain")


class MoveArgs(Model):
    thread: Name = Field(alias="move")
    node: NodeId


class ReclaimArgs(Model):
    addr: str = Field(alias="reclaim")


#: action keyword -> the model of its YAML mapping
ARG_MODELS: dict[str, type[Model]] = {
    "mmap": MmapArgs,
    "write": WriteArgs,
    "read": ReadArgs,
    "munmap": MunmapArgs,
    "mprotect": MprotectArgs,
    "madvise": MadviseArgs,
    "mremap": MremapArgs,
    "fork": ForkArgs,
    "exit": ExitArgs,
    "pin": PinArgs,
    "proc_mem_write": ProcMemWriteArgs,
    "proc_mem_read": ProcMemReadArgs,
    "unpin": UnpinArgs,
    "vmsplice": VmspliceArgs,
    "pipe_read": PipeReadArgs,
    "numa_scan": NumaScanArgs,
    "clear_refs": ClearRefsArgs,
    "resume": ResumeArgs,
    "dma_write": DmaWriteArgs,
    "dma_read": DmaReadArgs,
    "lru_drain": LruDrainArgs,
    "move": MoveArgs,
    "reclaim": ReclaimArgs,
}
assert ARG_MODELS.keys() == ACTIONS.keys(), "every action needs an argument model"


def yaml_keys(model: type[BaseModel]) -> list[str]:
    """The YAML keys a model accepts, in declaration order."""
    return [f.alias or name for name, f in model.model_fields.items()]
