"""The C runtime's memory levers: mappings, pagemap, pins (the cowlab_pin module;
io_uring fixed buffers and gup_test without it), pipes, NUMA placement and
balancing, files, and the checks.

Our own C; it follows ``c_base.BASE`` in the exported program, and the pinning
module's interface (``module/cowlab_pin_abi.h``, ``PIN_ABI``) goes before it.
"""

from pathlib import Path

#: the ioctl interface of /dev/cowlab_pin, pasted into every program as the module has it
PIN_ABI = (Path(__file__).parent / "module" / "cowlab_pin_abi.h").read_text()

MEMORY = r"""
#define PM_PRESENT ((uint64_t)1 << 63)
#define PM_SWAPPED ((uint64_t)1 << 62)
#define PM_PFN_MASK (((uint64_t)1 << 55) - 1)
#define HPAGE_SIZE (2UL << 20)
#define ADDR(r, page) ((char *)region[r] + (size_t)(page) * (size_t)page_size)
#define ADDR_HUGE(r, page) ((char *)region[r] + (size_t)(page) * HPAGE_SIZE)
#define BUF_MAX (1 << 16)

/* per process: fork copies these tables with the rest of memory */
HELPER void *region[NREGIONS + 1];
static int pipe_fd[NPIPES + 1][2];
HELPER int file_rw[NFILES + 1], file_ro[NFILES + 1];

static int read_text(const char *path, char *buf, size_t len);

HELPER uint64_t load64(const void *addr)
{
	return *(const volatile uint64_t *)addr;
}

HELPER void store64(void *addr, uint64_t v)
{
	*(volatile uint64_t *)addr = v;
}

/* The pagemap entry of addr: PFNs read as 0 without CAP_SYS_ADMIN. */
static uint64_t pagemap_entry(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)addr / (uintptr_t)page_size * sizeof(e))) != sizeof(e))
		e = 0;
	close(fd);
	return e;
}

enum { MAP_KIND_PRIVATE, MAP_KIND_HUGETLB, MAP_KIND_SHARED };

HELPER void *do_mmap(size_t len, int prot, int fd, int kind)
{
	int huge = kind == MAP_KIND_HUGETLB;
	int flags = (kind == MAP_KIND_SHARED ? MAP_SHARED : MAP_PRIVATE) | (fd < 0 ? MAP_ANONYMOUS : 0) |
		(huge ? MAP_HUGETLB : 0);
	void *p = mmap(NULL, len, prot, flags, fd, 0);

	if (p == MAP_FAILED && huge)
		skip_rest("%s: mmap(MAP_HUGETLB): %s", op_label[sh->current_op], strerror(errno));
	if (p == MAP_FAILED)
		run_abort("%s: mmap: %s", op_label[sh->current_op], strerror(errno));
	return p;
}

/*
 * A THP region, as cow.c makes one: twice the room, the start aligned to a PMD
 * (2048 kB; a 16 kB mTHP range is aligned too), the slack unmapped, and
 * MADV_HUGEPAGE on the range.  Its first fault may then map a THP.
 */
HELPER void *do_mmap_thp(size_t len, int prot)
{
	size_t room = len + HPAGE_SIZE;
	char *raw = mmap(NULL, room, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *p;

	if (raw == MAP_FAILED)
		run_abort("%s: mmap: %s", op_label[sh->current_op], strerror(errno));
	p = (char *)(((uintptr_t)raw + HPAGE_SIZE - 1) & ~(uintptr_t)(HPAGE_SIZE - 1));
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (raw + room > p + len)
		munmap(p + len, (size_t)(raw + room - (p + len)));
	if (madvise(p, len, MADV_HUGEPAGE))
		skip_rest("%s: madvise(MADV_HUGEPAGE): %s", op_label[sh->current_op], strerror(errno));
	return p;
}

/*
 * After the first fault on a THP range (pages base pages at addr): the model maps a
 * THP (or the huge zero page) there; without one on this machine the run is not the
 * scenario, so the rest SKIPs.  As cow.c: the last subpage must be populated too.
 */
HELPER void thp_populated(void *addr, long pages, const char *what)
{
	char setting[128] = "?", size[128] = "-", path[128];
	long kb = pages * page_size / 1024;

	if (pagemap_entry((char *)addr + (size_t)(pages - 1) * page_size) & PM_PRESENT)
		return;
	read_text("/sys/kernel/mm/transparent_hugepage/enabled", setting, sizeof(setting));
	snprintf(path, sizeof(path), "/sys/kernel/mm/transparent_hugepage/hugepages-%ldkB/enabled", kb);
	read_text(path, size, sizeof(size));
	skip_rest("%s: the kernel did not populate %s (%ld kB) (transparent_hugepage/enabled: %s; %ld kB: %s)",
			op_label[sh->current_op], what, kb, setting, kb, size);
}

/* MADV_COLLAPSE: unknown before 6.1 (EINVAL), and the kernel may decline a range
 * (cow.c skips then too): the rest SKIPs. */
HELPER void do_collapse(void *addr, size_t len)
{
	if (madvise(addr, len, MADV_COLLAPSE))
		skip_rest("%s: madvise(MADV_COLLAPSE): %s%s", op_label[sh->current_op], strerror(errno),
				errno == EINVAL ? " (unknown before 6.1; later kernels refuse some ranges)" : "");
}

/* mremap(MREMAP_MAYMOVE|MREMAP_FIXED) to a fresh place, as cow.c moves half a THP. */
HELPER void *do_mremap(void *addr, size_t len)
{
	void *to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *p;

	if (to == MAP_FAILED)
		run_abort("%s: mmap for mremap: %s", op_label[sh->current_op], strerror(errno));
	p = mremap(addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (p == MAP_FAILED)
		run_abort("%s: mremap: %s", op_label[sh->current_op], strerror(errno));
	return p;
}

HELPER void do_munmap(void *addr, size_t len)
{
	if (munmap(addr, len))
		run_abort("%s: munmap: %s", op_label[sh->current_op], strerror(errno));
}

HELPER void do_mprotect(void *addr, size_t len, int prot)
{
	if (mprotect(addr, len, prot))
		run_abort("%s: mprotect: %s", op_label[sh->current_op], strerror(errno));
}

HELPER void do_madvise(void *addr, size_t len, int advice)
{
	if (!madvise(addr, len, advice))
		return;
	if (errno == EINVAL)
		skip_rest("%s: this kernel does not know the advice", op_label[sh->current_op]);
	run_abort("%s: madvise: %s", op_label[sh->current_op], strerror(errno));
}

/* MADV_PAGEOUT; pages in must_go that stay mapped mean no swap-out: SKIP the rest. */
HELPER void do_pageout(void *addr, int pages, uint64_t must_go)
{
	int i;

	do_madvise(addr, (size_t)pages * page_size, MADV_PAGEOUT);
	for (i = 0; i < pages; i++) {
		if (!(pagemap_entry((char *)addr + (size_t)i * page_size) & PM_PRESENT))
			continue;
		if (must_go >> i & 1)
			skip_rest("%s: MADV_PAGEOUT left page %d mapped", op_label[sh->current_op], i);
		out("# %s: page %d stays mapped after MADV_PAGEOUT\n", op_label[sh->current_op], i);
	}
}

/* After MADV_PAGEOUT of a range: one of its pages (model page n) still mapped. */
HELPER void pageout_left(void *addr, int n, int must_go)
{
	if (!(pagemap_entry(addr) & PM_PRESENT))
		return;
	if (must_go)
		skip_rest("%s: MADV_PAGEOUT left page %d mapped", op_label[sh->current_op], n);
	out("# %s: page %d stays mapped after MADV_PAGEOUT\n", op_label[sh->current_op], n);
}

HELPER void clear_refs(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd < 0)
		skip_rest("cannot open /proc/self/clear_refs: %s", strerror(errno));
	if (write(fd, "4", 1) != 1)
		skip_rest("cannot write /proc/self/clear_refs: %s", strerror(errno));
	close(fd);
}

/* A FOLL_FORCE|FOLL_WRITE GUP of the kernel on our behalf, as a debugger pokes. */
HELPER void proc_mem_write(void *addr, uint64_t v)
{
	int fd = open("/proc/self/mem", O_RDWR);

	if (fd < 0)
		skip_rest("cannot open /proc/self/mem: %s", strerror(errno));
	if (pwrite(fd, &v, sizeof(v), (off_t)(uintptr_t)addr) != sizeof(v))
		skip_rest("cannot write /proc/self/mem: %s", strerror(errno));
	close(fd);
}

/* A FOLL_FORCE GUP without FOLL_WRITE, then the kernel copies the data out. */
HELPER uint64_t proc_mem_read(void *addr)
{
	uint64_t v = 0;
	int fd = open("/proc/self/mem", O_RDONLY);

	if (fd < 0)
		skip_rest("cannot open /proc/self/mem: %s", strerror(errno));
	if (pread(fd, &v, sizeof(v), (off_t)(uintptr_t)addr) != sizeof(v))
		skip_rest("cannot read /proc/self/mem: %s", strerror(errno));
	close(fd);
	return v;
}

/* vmsplice() without SPLICE_F_GIFT: the pipe holds a FOLL_GET reference to the page. */
HELPER void do_vmsplice(int p, void *addr)
{
	struct iovec iov = { addr, (size_t)page_size };

	if (pipe_fd[p][0] < 0 && pipe(pipe_fd[p]))
		run_abort("%s: pipe: %s", op_label[sh->current_op], strerror(errno));
	if (vmsplice(pipe_fd[p][1], &iov, 1, 0) != page_size)
		run_abort("%s: vmsplice: %s", op_label[sh->current_op], strerror(errno));
}

HELPER uint64_t do_pipe_read(int p)
{
	static char buf[BUF_MAX];
	uint64_t v;
	long done = 0;

	while (done < page_size) {
		ssize_t n = read(pipe_fd[p][0], buf + done, (size_t)(page_size - done));

		if (n <= 0)
			run_abort("%s: read of the pipe: %s", op_label[sh->current_op],
					n ? strerror(errno) : "end of file");
		done += n;
	}
	memcpy(&v, buf, sizeof(v));
	return v;
}

/* ---- pins: the cowlab_pin module; io_uring fixed buffers and gup_test without it ---- */
enum { PIN_NONE, PIN_URING, PIN_GUP, PIN_DEV };

struct pin {
	int kind;
	void *addr;
	uint64_t pfn;		/* right after pinning (module or pagemap); 0 if unknown */
	int pagemap_pfns;	/* pagemap showed a PFN right after pinning (root) */
	int fd;			/* /dev/cowlab_pin, the DMA memfd (io_uring) or gup_test */
	char why[200];		/* why there is no pin */
#ifdef COWLAB_HAVE_LIBURING
	struct io_uring ring;
#endif
};

HELPER struct pin pin[NPINS + 1];

/* 1: /dev/cowlab_pin is there and speaks our ABI; 0: not (pin_module_why says why) */
static int pin_module;
static char pin_module_why[200];
/* COWLAB_PINS=uring: R/W long-term pins through io_uring even with the module */
static int pins_by_uring;

#define PIN_URING_FLAGS (COWLAB_PIN_WRITE | COWLAB_PIN_LONGTERM)
/* io_uring registers with FOLL_PIN|FOLL_WRITE|FOLL_LONGTERM (FOLL_FORCE and fast noted) */
#define URING_CAN(flags) (((flags) & (PIN_URING_FLAGS | COWLAB_PIN_GET)) == PIN_URING_FLAGS)

/* Once, before the first step: is the module loaded (COWLAB_PINS picks the lever)? */
static void pin_module_probe(void)
{
	struct cowlab_pin_info info;
	const char *lever = getenv("COWLAB_PINS");
	int fd;

	pins_by_uring = lever && !strcmp(lever, "uring");
	fd = open("/dev/" COWLAB_PIN_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(pin_module_why, sizeof(pin_module_why),
				"no /dev/" COWLAB_PIN_NAME " (the cowlab_pin module is not loaded): %s", strerror(errno));
		return;
	}
	if (ioctl(fd, COWLAB_PIN_IOC_INFO, &info))
		snprintf(pin_module_why, sizeof(pin_module_why), "cowlab_pin INFO: %s", strerror(errno));
	else if (info.abi != COWLAB_PIN_ABI)
		snprintf(pin_module_why, sizeof(pin_module_why), "/dev/" COWLAB_PIN_NAME " speaks ABI %u, not %d",
				info.abi, COWLAB_PIN_ABI);
	else
		pin_module = 1;
	close(fd);
	if (pin_module)
		out("# pins: cowlab_pin module (built for %u.%u.%u)%s\n", info.linux_version >> 16,
			info.linux_version >> 8 & 0xff, info.linux_version & 0xff,
			pins_by_uring ? ", R/W long-term ones through io_uring (COWLAB_PINS=uring)" : "");
}

/* gup_test's long-term pin ABI (CONFIG_GUP_TEST), declared here under our own names */
struct cowlab_longterm_pin {
	uint64_t addr;
	uint64_t size;
	uint32_t flags;
};
#define GUP_TEST_PATH "/sys/kernel/debug/gup_test"
#define LONGTERM_PIN_START _IOW('g', 7, struct cowlab_longterm_pin)
#define LONGTERM_PIN_STOP _IO('g', 8)
#define LONGTERM_PIN_READ _IOW('g', 9, uint64_t)
#define LONGTERM_PIN_FAST 2

static void pin_taken(struct pin *p, int kind, void *addr, int fd)
{
	uint64_t e = pagemap_entry(addr), pfn = e & PM_PFN_MASK;

	p->kind = kind;
	p->addr = addr;
	p->fd = fd;
	/* PFNs read as 0 without CAP_SYS_ADMIN */
	p->pagemap_pfns = e & PM_PRESENT ? pfn != 0 : geteuid() == 0;
	if (!p->pfn)
		p->pfn = pfn;
	else if (pfn && pfn != p->pfn)
		out("# %s: pinned pfn 0x%" PRIx64 " but pagemap shows pfn 0x%" PRIx64 " right after\n",
			op_label[sh->current_op], p->pfn, pfn);
}

/* The scenario's GUP flags through /dev/cowlab_pin: the pin a driver takes. */
static void pin_dev(struct pin *p, void *addr, unsigned int flags, const char *what)
{
	struct cowlab_pin_req req = { (uintptr_t)addr, 1, (uintptr_t)&p->pfn, flags, 0 };
	int fd = open("/dev/" COWLAB_PIN_NAME, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		run_abort("%s: open /dev/" COWLAB_PIN_NAME ": %s", op_label[sh->current_op], strerror(errno));
	p->pfn = 0;
	if (ioctl(fd, COWLAB_PIN_IOC_PIN, &req))
		run_abort("%s: cowlab_pin %s: %s", op_label[sh->current_op], what, strerror(errno));
	pin_taken(p, PIN_DEV, addr, fd);
}

#ifdef COWLAB_HAVE_LIBURING
/* One 8-byte transfer between the memfd and the fixed buffer. */
static void uring_io(struct pin *p, int into_buffer)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		run_abort("io_uring: no free submission entry");
	if (into_buffer)
		io_uring_prep_read_fixed(sqe, p->fd, p->addr, sizeof(uint64_t), 0, 0);
	else
		io_uring_prep_write_fixed(sqe, p->fd, p->addr, sizeof(uint64_t), 0, 0);
	if (io_uring_submit(&p->ring) != 1 || io_uring_wait_cqe(&p->ring, &cqe))
		run_abort("io_uring submit/wait failed");
	ret = cqe->res;
	io_uring_cqe_seen(&p->ring, cqe);
	if (ret != sizeof(uint64_t))
		run_abort("io_uring %s: %s", into_buffer ? "READ_FIXED" : "WRITE_FIXED",
				ret < 0 ? strerror(-ret) : "short transfer");
}
#endif

/* FOLL_PIN|FOLL_WRITE|FOLL_LONGTERM: register the page as an io_uring fixed buffer. */
static void pin_rw(struct pin *p, void *addr)
{
#ifdef COWLAB_HAVE_LIBURING
	struct iovec iov = { addr, (size_t)page_size };
	int ret = io_uring_queue_init(4, &p->ring, 0), fd;

	if (ret < 0)
		skip_rest("io_uring_queue_init: %s", strerror(-ret));
	ret = io_uring_register_buffers(&p->ring, &iov, 1);
	if (ret < 0)
		skip_rest("io_uring_register_buffers: %s", strerror(-ret));
	fd = memfd_create("cowlab-dma", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, page_size))
		run_abort("memfd for the DMA: %s", strerror(errno));
	p->pfn = 0;
	pin_taken(p, PIN_URING, addr, fd);
#else
	(void)p;
	(void)addr;
	skip_rest("built without liburing: no io_uring fixed buffers");
#endif
}

/* FOLL_PIN|FOLL_LONGTERM without FOLL_WRITE through gup_test (CONFIG_GUP_TEST). */
static void pin_ro(struct pin *p, void *addr, int fast)
{
	struct cowlab_longterm_pin args = { (uintptr_t)addr, (uint64_t)page_size,
						fast ? LONGTERM_PIN_FAST : 0 };
	int fd = open(GUP_TEST_PATH, O_RDWR);

	if (fd < 0) {
		snprintf(p->why, sizeof(p->why), "R/O pins need the cowlab_pin module or %s (CONFIG_GUP_TEST): %s",
				GUP_TEST_PATH, strerror(errno));
		out("# %s: %s; %s\n", op_label[sh->current_op], pin_module_why, p->why);
		return;
	}
	if (ioctl(fd, LONGTERM_PIN_START, &args)) {
		snprintf(p->why, sizeof(p->why), "gup_test PIN_LONGTERM_TEST_START: %s", strerror(errno));
		out("# %s: %s\n", op_label[sh->current_op], p->why);
		close(fd);
		return;
	}
	p->pfn = 0;
	pin_taken(p, PIN_GUP, addr, fd);
}

/*
 * A pin step: the module with the scenario's flags when it is loaded; without it
 * a R/W long-term FOLL_PIN goes to io_uring and a R/O one to gup_test, and any
 * other pin has no lever (its checks SKIP).
 */
HELPER void pin_step(struct pin *p, void *addr, unsigned int flags, const char *what)
{
	p->kind = PIN_NONE;
	if (pin_module && !(pins_by_uring && URING_CAN(flags))) {
		pin_dev(p, addr, flags, what);
		return;
	}
	if (URING_CAN(flags)) {
		if (flags & (COWLAB_PIN_FORCE | COWLAB_PIN_FAST))
			out("# %s: %s taken as an io_uring fixed buffer (FOLL_PIN|FOLL_WRITE|FOLL_LONGTERM)%s%s\n",
				op_label[sh->current_op], what, pin_module ? "" : ": ", pin_module_why);
		pin_rw(p, addr);
		return;
	}
	if ((flags & ~(COWLAB_PIN_FAST)) == COWLAB_PIN_LONGTERM) {
		pin_ro(p, addr, !!(flags & COWLAB_PIN_FAST));
		return;
	}
	snprintf(p->why, sizeof(p->why), "a %.60s pin needs the cowlab_pin module: %.120s", what, pin_module_why);
	out("# %s: %s\n", op_label[sh->current_op], p->why);
}

/*
 * A long-term write pin of a page of a MAP_SHARED file on a filesystem with
 * writeback: the kernel refuses it (EFAULT) from 6.5; taken, it breaks
 * file_pin_writeback.  Only the module says what GUP itself does (io_uring had
 * its own file check before 6.5), so without it the check SKIPs.
 */
HELPER void pin_step_file(struct pin *p, void *addr, unsigned int flags, const char *what, int test)
{
	struct cowlab_pin_req req = { (uintptr_t)addr, 1, (uintptr_t)&p->pfn, flags, 0 };
	int fd;

	p->kind = PIN_NONE;
	if (!pin_module) {
		snprintf(p->why, sizeof(p->why), "a %.60s pin of a file page needs the cowlab_pin module", what);
		report(test, RES_SKIP, test_promise[test], p->why);
		return;
	}
	fd = open("/dev/" COWLAB_PIN_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		run_abort("%s: open /dev/" COWLAB_PIN_NAME ": %s", op_label[sh->current_op], strerror(errno));
	p->pfn = 0;
	if (ioctl(fd, COWLAB_PIN_IOC_PIN, &req)) {
		if (errno != EFAULT)
			run_abort("%s: cowlab_pin %s: %s", op_label[sh->current_op], what, strerror(errno));
		close(fd);
		snprintf(p->why, sizeof(p->why), "the kernel refused the pin (EFAULT)");
		out("# %s: %s\n", op_label[sh->current_op], p->why);
		report(test, RES_PASS, test_promise[test], NULL);
		return;
	}
	pin_taken(p, PIN_DEV, addr, fd);
	out("# %s: the kernel pinned a page-cache page of a filesystem with writeback for long-term writes\n",
		op_label[sh->current_op]);
	report(test, RES_FAIL, test_promise[test], NULL);
}

enum { EXPECT_NONE, EXPECT_OK, EXPECT_REFUSED };

/*
 * io_uring_register_buffers() of one page, as the scenario's program calls it
 * (by: io_uring): with an expectation, its return is the call_result check
 * (refused: -EOPNOTSUPP from io_uring's own file check before 6.5, -EFAULT from
 * GUP); without one a failure SKIPs the rest.  Registered, it is a pin like any.
 */
HELPER void pin_uring(struct pin *p, void *addr, int expect, int test)
{
#ifdef COWLAB_HAVE_LIBURING
	struct iovec iov = { addr, (size_t)page_size };
	int ret = io_uring_queue_init(4, &p->ring, 0), fd;

	p->kind = PIN_NONE;
	if (ret < 0)
		skip_rest("io_uring_queue_init: %s", strerror(-ret));
	ret = io_uring_register_buffers(&p->ring, &iov, 1);
	if (ret == 0) {
		fd = memfd_create("cowlab-dma", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, page_size))
			run_abort("memfd for the DMA: %s", strerror(errno));
		p->pfn = 0;
		pin_taken(p, PIN_URING, addr, fd);
	} else {
		io_uring_queue_exit(&p->ring);
		snprintf(p->why, sizeof(p->why), "io_uring_register_buffers: %s", strerror(-ret));
		out("# %s: %s\n", op_label[sh->current_op], p->why);
	}
	if (expect == EXPECT_NONE) {
		if (ret)
			skip_rest("%s", p->why);
		return;
	}
	if (ret && ret != -EOPNOTSUPP && ret != -EFAULT)
		run_abort("%s: %s, neither a success nor a refusal", op_label[sh->current_op], p->why);
	if (!ret != (expect == EXPECT_OK))
		out("# %s: the program expects the registration %s\n", op_label[sh->current_op],
			expect == EXPECT_OK ? "to succeed" : "to be refused");
	report(test, !ret == (expect == EXPECT_OK) ? RES_PASS : RES_FAIL, test_promise[test], NULL);
#else
	(void)p;
	(void)addr;
	(void)expect;
	(void)test;
	skip_rest("built without liburing: no io_uring fixed buffers");
#endif
}

HELPER void unpin(struct pin *p)
{
	if (p->kind == PIN_DEV) {
		if (ioctl(p->fd, COWLAB_PIN_IOC_UNPIN))
			run_abort("%s: cowlab_pin UNPIN: %s", op_label[sh->current_op], strerror(errno));
		close(p->fd);
	}
#ifdef COWLAB_HAVE_LIBURING
	if (p->kind == PIN_URING) {
		io_uring_unregister_buffers(&p->ring);
		io_uring_queue_exit(&p->ring);
		close(p->fd);
	}
#endif
	if (p->kind == PIN_GUP) {
		ioctl(p->fd, LONGTERM_PIN_STOP);
		close(p->fd);
	}
	p->kind = PIN_NONE;
	snprintf(p->why, sizeof(p->why), "the pin was released");
}

/* The device writes through the pin: the module's kernel mapping of the page, or
 * IORING_OP_READ_FIXED from a memfd into the pinned buffer. */
HELPER void dma_write(struct pin *p, uint64_t v)
{
	struct cowlab_pin_io io = { 0, 0, sizeof(v), (uintptr_t)&v };

	if (p->kind == PIN_DEV) {
		if (ioctl(p->fd, COWLAB_PIN_IOC_WRITE, &io))
			run_abort("%s: cowlab_pin WRITE: %s", op_label[sh->current_op], strerror(errno));
		return;
	}
#ifdef COWLAB_HAVE_LIBURING
	if (p->kind == PIN_URING) {
		if (pwrite(p->fd, &v, sizeof(v), 0) != sizeof(v))
			run_abort("pwrite to the DMA memfd: %s", strerror(errno));
		uring_io(p, 1);
		return;
	}
#endif
}

/* The device reads: the module, WRITE_FIXED into a memfd, or gup_test; 0 if no pin. */
static int dma_read(struct pin *p, uint64_t *v)
{
	static char buf[BUF_MAX];
	uint64_t dst = (uintptr_t)buf;
	struct cowlab_pin_io io = { 0, 0, sizeof(*v), (uintptr_t)v };

	if (p->kind == PIN_DEV) {
		if (ioctl(p->fd, COWLAB_PIN_IOC_READ, &io))
			run_abort("%s: cowlab_pin READ: %s", op_label[sh->current_op], strerror(errno));
		return 1;
	}
	if (p->kind == PIN_GUP) {
		if (ioctl(p->fd, LONGTERM_PIN_READ, &dst))
			run_abort("gup_test PIN_LONGTERM_TEST_READ: %s", strerror(errno));
		memcpy(v, buf, sizeof(*v));
		return 1;
	}
#ifdef COWLAB_HAVE_LIBURING
	if (p->kind == PIN_URING) {
		uring_io(p, 0);
		if (pread(p->fd, v, sizeof(*v), 0) != sizeof(*v))
			run_abort("pread of the DMA memfd: %s", strerror(errno));
		return 1;
	}
#endif
	return 0;
}

/* ---- NUMA: placement and balancing ---- */
#define NUMA_ENABLE_PATH "/proc/sys/kernel/numa_balancing"
static const char *const numa_knob[] = { "scan_delay_ms", "scan_period_min_ms",
						"scan_period_max_ms", "scan_size_mb" };
static const char *const numa_fast[] = { "0", "10", "100", "256" };

/* ---- knobs: saved at the start, restored at the end ---- */
#define NKNOBS 32
static char knob_path[NKNOBS][320], knob_saved[NKNOBS][64];
#define HUGE_KNOB 5
/* the first free slot for set_knob() */
static int knobs_used = HUGE_KNOB + 1;

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void restore_knobs(void)
{
	int i;

	for (i = NKNOBS - 1; i >= 0; i--)
		if (knob_path[i][0])
			write_text(knob_path[i], knob_saved[i]);
}

/* Write value to a sysfs/procfs knob, remembering what it held (the bracketed
 * choice of a THP setting such as "always [madvise] never"); 0 on success. */
static int set_knob(const char *path, const char *value)
{
	char now[64], *open_br, *close_br;

	if (read_text(path, now, sizeof(now)))
		return -1;
	open_br = strchr(now, '[');
	close_br = open_br ? strchr(open_br, ']') : NULL;
	if (close_br) {
		*close_br = 0;
		memmove(now, open_br + 1, strlen(open_br + 1) + 1);
	}
	if (knobs_used < NKNOBS) {
		snprintf(knob_path[knobs_used], sizeof(knob_path[0]), "%s", path);
		snprintf(knob_saved[knobs_used], sizeof(knob_saved[0]), "%s", now);
		knobs_used++;
	}
	return write_text(path, value);
}

/* ---- THP: available, and for mTHP exactly one sub-PMD size (16 kB) enabled ---- */
#define THP_DIR "/sys/kernel/mm/transparent_hugepage"

/* The active choice of a setting such as "always [madvise] never". */
static int thp_setting_is(const char *path, const char *want)
{
	char buf[128], *open_br, *close_br;

	if (read_text(path, buf, sizeof(buf)))
		return 0;
	open_br = strchr(buf, '[');
	close_br = open_br ? strchr(open_br, ']') : NULL;
	if (!close_br)
		return 0;
	*close_br = 0;
	return !strcmp(open_br + 1, want);
}

/* Enable one THP size on MADV_HUGEPAGE ranges if it is off; 0 when it is on. */
static int thp_enable(const char *size_knob)
{
	if (thp_setting_is(THP_DIR "/enabled", "never") && set_knob(THP_DIR "/enabled", "madvise"))
		return -1;
	/* before 6.8 there is no per-size knob: the top-level one decides the PMD size */
	if (access(size_knob, F_OK) || !thp_setting_is(size_knob, "never"))
		return 0;
	return set_knob(size_knob, "madvise");
}

/*
 * THP as the scenario's regions need it: the PMD size (thp) or exactly one sub-PMD
 * size, 16 kB (mthp), enabled on MADV_HUGEPAGE ranges, the other sub-PMD anon sizes
 * off so that no larger folio fits a range first.  Settings are restored at the end.
 */
static const char *thp_setup(int thp, int mthp)
{
	static char why[256];
	char path[320];
	struct dirent *d;
	DIR *dir;
	long kb;

	if (page_size != 4096)
		return "THP regions are laid out for 4 kB pages";
	if (access(THP_DIR "/enabled", R_OK))
		return "no transparent huge pages (" THP_DIR "/enabled missing)";
	if (thp && thp_enable(THP_DIR "/hugepages-2048kB/enabled")) {
		snprintf(why, sizeof(why), "cannot enable 2048 kB THPs: %s", strerror(errno));
		return why;
	}
	if (!mthp)
		return NULL;
	if (access(THP_DIR "/hugepages-16kB/enabled", F_OK))
		return "no multi-size THP of 16 kB (" THP_DIR "/hugepages-16kB/enabled: new in 6.8)";
	dir = opendir(THP_DIR);
	while (dir && (d = readdir(dir))) {
		if (sscanf(d->d_name, "hugepages-%ldkB", &kb) != 1 || kb == 16 || kb * 1024 >= (long)HPAGE_SIZE)
			continue;
		snprintf(path, sizeof(path), THP_DIR "/%.255s/enabled", d->d_name);
		if (access(path, F_OK) || thp_setting_is(path, "never"))
			continue;	/* a shmem-only size, or off */
		if (set_knob(path, "never")) {
			snprintf(why, sizeof(why), "cannot switch off the %ld kB THP size: %s", kb, strerror(errno));
			closedir(dir);
			return why;
		}
	}
	if (dir)
		closedir(dir);
	if (thp_enable(THP_DIR "/hugepages-16kB/enabled")) {
		snprintf(why, sizeof(why), "cannot enable the 16 kB THP size: %s", strerror(errno));
		return why;
	}
	return NULL;
}

/* ---- files on a filesystem with writeback: in the working directory ---- */
#define EXT4_MAGIC 0xEF53
#define XFS_MAGIC 0x58465342
#define BTRFS_MAGIC 0x9123683E

static const char *disk_file_dir(void)
{
	static char why[160];
	struct statfs st;

	if (statfs(".", &st))
		snprintf(why, sizeof(why), "statfs of the working directory: %s", strerror(errno));
	else if (st.f_type == EXT4_MAGIC || st.f_type == XFS_MAGIC || st.f_type == BTRFS_MAGIC)
		return NULL;
	else
		snprintf(why, sizeof(why), "a file on a filesystem with writeback (ext4, xfs, btrfs) needs such a "
				"working directory; it is of type 0x%lx", (unsigned long)st.f_type);
	return why;
}

/* The number after "KEY " at the start of a line of a /proc file such as
 * /proc/meminfo ("HugePages_Free:") or /proc/vmstat ("pgmigrate_fail"), else -1. */
static long proc_field(const char *path, const char *key)
{
	char buf[16384], *p;
	size_t len = strlen(key);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, len) && p[len] == ' ')
			return strtol(p + len + 1, NULL, 10);
	return -1;
}

/* ---- hugetlb: free 2048 kB pages, reserved as root if missing ---- */
static long meminfo(const char *key)
{
	return proc_field("/proc/meminfo", key);
}

static const char *reserve_huge_pages(long need)
{
	static char why[128];
	char now[32], want[32];
	long free_pages = meminfo("HugePages_Free:");

	if (meminfo("Hugepagesize:") != 2048)
		return "needs 2048 kB huge pages";
	if (free_pages >= need)
		return NULL;
	/* from the total: pages an exiting io_uring ring still holds are surplus ones */
	if (!read_text("/proc/sys/vm/nr_hugepages", now, sizeof(now))) {
		snprintf(want, sizeof(want), "%ld", meminfo("HugePages_Total:") + need - free_pages);
		if (!write_text("/proc/sys/vm/nr_hugepages", want)) {
			snprintf(knob_path[HUGE_KNOB], sizeof(knob_path[HUGE_KNOB]), "/proc/sys/vm/nr_hugepages");
			snprintf(knob_saved[HUGE_KNOB], sizeof(knob_saved[HUGE_KNOB]), "%s", now);
		}
	}
	if (meminfo("HugePages_Free:") >= need)
		return NULL;
	snprintf(why, sizeof(why), "needs %ld free 2048 kB huge pages", need);
	return why;
}

static int node_cpus(int node, cpu_set_t *set)
{
	char path[96], buf[512], *s, *end;
	int fd, count = 0;
	long lo, hi;
	ssize_t n;

	CPU_ZERO(set);
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (s = buf; *s >= '0' && *s <= '9'; s = end + 1) {
		lo = hi = strtol(s, &end, 10);
		if (*end == '-')
			hi = strtol(end + 1, &end, 10);
		for (; lo <= hi && lo < CPU_SETSIZE; lo++, count++)
			CPU_SET(lo, set);
		if (*end != ',')
			break;
	}
	return count;
}

/* sched_setaffinity of the calling thread to the CPUs of node */
HELPER void place_self(int node)
{
	cpu_set_t set;

	if (node_cpus(node, &set) <= 0)
		skip_rest("node %d has no CPUs here", node);
	if (sched_setaffinity(0, sizeof(set), &set))
		skip_rest("sched_setaffinity to node %d: %s", node, strerror(errno));
}

/* Remember the balancing knobs (debugfs on 6.1+, sysctl on 5.10) to restore them. */
static void numa_save(void)
{
	struct stat st;
	int debugfs = !stat("/sys/kernel/debug/sched/numa_balancing", &st), i;

	snprintf(knob_path[0], sizeof(knob_path[0]), "%s", NUMA_ENABLE_PATH);
	for (i = 0; i < 4; i++)
		snprintf(knob_path[i + 1], sizeof(knob_path[i + 1]),
				debugfs ? "/sys/kernel/debug/sched/numa_balancing/%s" : "/proc/sys/kernel/numa_balancing_%s",
				numa_knob[i]);
	for (i = 0; i < 5; i++)
		if (read_text(knob_path[i], knob_saved[i], sizeof(knob_saved[i])))
			knob_path[i][0] = 0;
}

/* The scenario's machine without balancing: switch it off if we can. */
static void numa_setup(int balancing)
{
	if (balancing || !knob_path[0][0] || !strcmp(knob_saved[0], "0"))
		return;
	if (write_text(knob_path[0], "0"))
		out("# NUMA balancing is on and cannot be switched off: scans may interfere\n");
}

/*
 * Whether NUMA balancing did what the model's numa_scan and hinting faults do is up
 * to the kernel: the counters of /proc/vmstat since the start say what it did.
 */
static const char *const vmstat_key[] = { "numa_pte_updates", "numa_huge_pte_updates", "numa_hint_faults",
						"numa_pages_migrated", "pgmigrate_fail", "thp_migration_fail", NULL };
static long vmstat_base[8];

static long vmstat_value(const char *key)
{
	return proc_field("/proc/vmstat", key);
}

static void vmstat_start(void)
{
	int i;

	for (i = 0; vmstat_key[i]; i++)
		vmstat_base[i] = vmstat_value(vmstat_key[i]);
}

static void vmstat_note(const char *when)
{
	char line[512];
	int i, len = snprintf(line, sizeof(line), "# vmstat since the start, %s:", when);

	for (i = 0; vmstat_key[i] && len < (int)sizeof(line); i++)
		if (vmstat_base[i] >= 0)
			len += snprintf(line + len, sizeof(line) - (size_t)len, " %s +%ld", vmstat_key[i],
					vmstat_value(vmstat_key[i]) - vmstat_base[i]);
	out("%.500s\n", line);
}

/*
 * task_numa_work() cannot be called: enable balancing with fast scanning and
 * keep this thread running (the scan is queued from its scheduler tick) for
 * 1.5 s.  When exactly the scan passes over the page is up to the kernel.
 */
HELPER void numa_scan(void)
{
	struct timespec t0, t;
	int i;

	if (!knob_path[0][0] || write_text(knob_path[0], "1"))
		skip_rest("cannot enable NUMA balancing: %s", strerror(errno));
	for (i = 1; i < 5; i++)
		if (knob_path[i][0] && write_text(knob_path[i], numa_fast[i - 1]))
			out("# cannot set %s\n", knob_path[i]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 1500);
	vmstat_note(op_label[sh->current_op]);
}

/* ---- files: a memfd (tmpfs), an unlinked file in the working directory (a
 * filesystem with writeback) or a memfd of huge pages (hugetlbfs) per scenario
 * file, its pages filled with known tokens ---- */
HELPER size_t file_unit[NFILES + 1];

HELPER void make_file(int f, const char *name, int pages, const int *tokens, int disk, int huge)
{
	char path[64], *p;
	uint64_t v;
	int i;

	file_unit[f] = huge ? HPAGE_SIZE : page_size;
	if (disk) {
		snprintf(path, sizeof(path), "./cowlab-file-XXXXXX");
		file_rw[f] = mkstemp(path);
		if (file_rw[f] >= 0)
			unlink(path);
	} else {
		file_rw[f] = memfd_create(name, huge ? MFD_HUGETLB : 0);
	}
	if (file_rw[f] < 0 || ftruncate(file_rw[f], (off_t)pages * (off_t)file_unit[f]))
		run_abort("memfd for file %s: %s", name, strerror(errno));
	if (huge) {	/* hugetlbfs has no write(): fill it through a shared mapping */
		p = mmap(NULL, (size_t)pages * HPAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, file_rw[f], 0);
		if (p == MAP_FAILED)
			run_abort("filling file %s: mmap: %s", name, strerror(errno));
		for (i = 0; i < pages; i++)
			store64(p + (size_t)i * HPAGE_SIZE, tokval(tokens[i]));
		munmap(p, (size_t)pages * HPAGE_SIZE);
	} else {
		for (i = 0; i < pages; i++) {
			v = tokval(tokens[i]);
			if (pwrite(file_rw[f], &v, sizeof(v), (off_t)i * page_size) != sizeof(v))
				run_abort("filling file %s: %s", name, strerror(errno));
		}
	}
	/* its private mappings only read the file (its MAP_SHARED ones use file_rw) */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", file_rw[f]);
	file_ro[f] = open(path, O_RDONLY);
	if (file_ro[f] < 0)
		run_abort("reopening file %s read-only: %s", name, strerror(errno));
}

/* ---- checks ---- */
HELPER void check_value(int test, uint64_t seen, int expect, const int *known, int nknown)
{
	char got[200], want[200];
	int n = tokidx(seen), ok = n == 0, i;

	for (i = 0; i < nknown; i++)
		ok |= known[i] == n;
	tokdesc(got, sizeof(got), seen);
	if (n > 0 && !ok) {
		out("# %s: saw %s, written by another process after they forked apart\n",
			test_what[test], got);
		report(test, RES_FAIL, "fork_isolation", NULL);
	} else if (n < 0 || (expect >= 0 && n != expect)) {
		tokdesc(want, sizeof(want), tokval(expect > 0 ? expect : 0));
		out("# %s: saw %s, but the last write there was %s\n", test_what[test], got, want);
		report(test, RES_FAIL, test_promise[test], NULL);
	} else {
		report(test, RES_PASS, test_promise[test], NULL);
	}
}

HELPER void check_dma(int test, struct pin *p, int expect, const int *known, int nknown)
{
	uint64_t v;

	if (!dma_read(p, &v))
		report(test, RES_SKIP, test_promise[test], p->why);
	else
		check_value(test, v, expect, known, nknown);
}

/* The page the pin holds (PFN right after pinning) is the page mapped now. */
HELPER void check_pfn(int test, struct pin *p, void *addr, int readable)
{
	uint64_t e;

	if (p->kind != PIN_URING && p->kind != PIN_DEV) {
		report(test, RES_SKIP, test_promise[test], p->why);
		return;
	}
	if (!p->pagemap_pfns) {
		report(test, RES_SKIP, test_promise[test], "/proc/self/pagemap shows no PFNs (needs CAP_SYS_ADMIN)");
		return;
	}
	e = pagemap_entry(addr);
	if (!(e & PM_PRESENT) && readable) {
		(void)load64(addr);
		e = pagemap_entry(addr);
	}
	if (!(e & PM_PRESENT)) {
		out("# %s: no page is mapped at the pinned address%s\n", test_what[test],
			e & PM_SWAPPED ? " (swapped out)" : "");
		report(test, RES_FAIL, test_promise[test], NULL);
	} else if ((e & PM_PFN_MASK) != p->pfn) {
		out("# %s: the pin holds pfn 0x%" PRIx64 ", the process maps pfn 0x%" PRIx64 "\n",
			test_what[test], p->pfn, e & PM_PFN_MASK);
		report(test, RES_FAIL, test_promise[test], NULL);
	} else {
		report(test, RES_PASS, test_promise[test], NULL);
	}
}

HELPER void check_file(int test, int f, int pages, const int *tokens)
{
	char got[200], want[200];
	uint64_t v;
	int i;

	for (i = 0; i < pages; i++) {
		if (pread(file_rw[f], &v, sizeof(v), (off_t)i * (off_t)file_unit[f]) != sizeof(v))
			v = ~0ULL;
		if (tokidx(v) == tokens[i])
			continue;
		tokdesc(got, sizeof(got), v);
		tokdesc(want, sizeof(want), tokval(tokens[i]));
		out("# %s: page %d holds %s instead of %s\n", test_what[test], i, got, want);
		report(test, RES_FAIL, test_promise[test], NULL);
		return;
	}
	report(test, RES_PASS, test_promise[test], NULL);
}
"""
