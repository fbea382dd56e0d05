"""The C runtime shared by every exported program: TAP output, the baton that
enforces the global step order, processes and threads.

Our own C, kselftest style; ``HEAD`` goes before the generated constants, ``BASE``
after them, ``MAIN`` after the generated thread functions.
"""

HEAD = r"""#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * io_uring fixed buffers (the R/W long-term pins) need liburing.  Without its
 * header, or with -DCOWLAB_NO_LIBURING, they are compiled out and the run SKIPs.
 */
#if !defined(COWLAB_NO_LIBURING) && defined(__has_include)
#if __has_include(<liburing.h>)
#include <liburing.h>
#define COWLAB_HAVE_LIBURING 1
#endif
#endif

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef MADV_KEEPONFORK
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
/* how long one step may take before the run is declared stuck */
#ifndef COWLAB_TIMEOUT_S
#define COWLAB_TIMEOUT_S 60
#endif

#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_SKIP 4
/* a runtime helper a given scenario may not need */
#define HELPER static __attribute__((unused))
"""

BASE = r"""
enum { RES_NONE, RES_PASS, RES_FAIL, RES_SKIP, RES_ERROR };
enum { MSG_STEP = 1, MSG_DONE, MSG_SKIP, MSG_ABORT };
#define COORDINATOR NTHREADS

/* Handed from thread to thread (one pipe each) so steps run in scenario order. */
struct baton {
	int32_t kind;
	int32_t op;
	int32_t wait_pid;	/* the sender exits: wait until it is gone */
};

/* Shared by every process of the run: results, pids, why the run stopped. */
struct shared {
	int32_t result[NTESTS + 1];
	int32_t current_op;
	pid_t pid[NPROCS];
	char reason[256];
	/* instrumented kernels: each thread's tid, and whether a held op has returned */
	pid_t tid[NTHREADS + 1];
	int32_t stop_done[NTHREADS + 1];
};

static struct shared *sh;
static long page_size;
static uint64_t run_magic;
static pid_t main_pid;
static int baton_fd[NTHREADS + 1][2];

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Unbuffered: lines from several processes interleave only in step order. */
static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(buf)) {
		len = sizeof(buf) - 1;
		buf[len - 1] = '\n';
	}
	write_all(STDOUT_FILENO, buf, (size_t)len);
}

/* One TAP line per promise checked. */
static void report(int test, int res, const char *promise, const char *why)
{
	sh->result[test] = res;
	if (res == RES_PASS)
		out("ok %d - %s: %s\n", test, promise, test_desc[test]);
	else if (res == RES_FAIL)
		out("not ok %d - %s: %s\n", test, promise, test_desc[test]);
	else if (res == RES_SKIP)
		out("ok %d - %s: %s # SKIP %s\n", test, promise, test_desc[test], why);
	else
		out("not ok %d - %s: %s # ERROR %s\n", test, promise, test_desc[test], why);
}

/* Token n of this run: the run's magic in the high half, so stale data never matches. */
static uint64_t tokval(int n)
{
	return n ? run_magic << 32 | (uint32_t)n : 0;
}

static int tokidx(uint64_t v)
{
	if (!v)
		return 0;
	if (v >> 32 != run_magic || (v & 0xffffffffu) > NTOKENS)
		return -1;
	return (int)(v & 0xffffffffu);
}

static void tokdesc(char *buf, size_t len, uint64_t v)
{
	int n = tokidx(v);

	if (n < 0)
		snprintf(buf, len, "unknown data 0x%016" PRIx64, v);
	else if (n == 0)
		snprintf(buf, len, "zero");
	else
		snprintf(buf, len, "token %d (%s)", n, token_desc[n]);
}

static void send_baton(int thread, int kind, int op, pid_t wait_pid)
{
	struct baton b = { kind, op, (int32_t)wait_pid };

	write_all(baton_fd[thread][1], (const char *)&b, sizeof(b));
}

static void linger(void) __attribute__((noreturn));
static void linger(void)
{
	/* the coordinator ends the run; a process it lost goes after the timeout */
	if (getpid() == main_pid)
		for (;;)
			pause();
	sleep(COWLAB_TIMEOUT_S + 60);
	_exit(3);
}

static void stop_run(int kind, const char *fmt, va_list ap) __attribute__((noreturn));
static void stop_run(int kind, const char *fmt, va_list ap)
{
	vsnprintf(sh->reason, sizeof(sh->reason), fmt, ap);
	send_baton(COORDINATOR, kind, sh->current_op, 0);
	linger();
}

/* The environment cannot give this step what it needs: the checks left SKIP. */
static void skip_rest(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void skip_rest(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	stop_run(MSG_SKIP, fmt, ap);
}

/* A system call failed that should not: the checks left are errors. */
static void run_abort(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void run_abort(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	stop_run(MSG_ABORT, fmt, ap);
}

/* A task's state letter from /proc/PID/stat (R, S, D, Z...); 0 when it is gone. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] ? p[2] : 0;
}

/* Until a process that called _exit() is a zombie or gone (its mm torn down). */
static void wait_gone(pid_t pid)
{
	char state;
	int i;

	for (i = 0; i < COWLAB_TIMEOUT_S * 1000; i++) {
		state = proc_state(pid);
		if (!state || state == 'Z' || state == 'X')
			return;
		usleep(1000);
	}
}

static void step_begin(int thread, int op)
{
	struct pollfd p = { .fd = baton_fd[thread][0], .events = POLLIN };
	struct baton b;
	int r;

	do
		r = poll(&p, 1, (COWLAB_TIMEOUT_S + 30) * 1000);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		if (getpid() == main_pid)
			for (;;)
				pause();
		_exit(3);
	}
	if (read(p.fd, &b, sizeof(b)) != sizeof(b) || b.kind != MSG_STEP || b.op != op)
		run_abort("%s: baton out of order", op_label[op]);
	if (b.wait_pid)
		wait_gone(b.wait_pid);
	sh->current_op = op;
}

static void step_end(int op, int next)
{
	send_baton(next, next == COORDINATOR ? MSG_DONE : MSG_STEP, op + 1, 0);
}

/* exit of a forked process: hand the baton on, then go */
HELPER void step_end_exit(int op, int next) __attribute__((noreturn));
HELPER void step_end_exit(int op, int next)
{
	send_baton(next, next == COORDINATOR ? MSG_DONE : MSG_STEP, op + 1, getpid());
	_exit(0);
}

HELPER pid_t do_fork(int proc)
{
	pid_t pid = fork();

	if (pid < 0)
		run_abort("%s: fork: %s", op_label[sh->current_op], strerror(errno));
	sh->pid[proc] = pid ? pid : getpid();
	return pid;
}

HELPER void start_thread(int thread);

/* A process with no steps left stays alive (it still maps its pages) until the end. */
HELPER void child_idle(void) __attribute__((noreturn));
HELPER void child_idle(void)
{
	sleep(COWLAB_TIMEOUT_S + 120);
	_exit(0);
}
"""

MAIN = r"""
static void *thread_entry(void *arg)
{
	thread_fn[(intptr_t)arg]();
	return NULL;
}

HELPER void start_thread(int thread)
{
	pthread_t tid;
	int err = pthread_create(&tid, NULL, thread_entry, (void *)(intptr_t)thread);

	if (err)
		run_abort("pthread_create for %s: %s", thread_name[thread], strerror(err));
	pthread_detach(tid);
}

static int swap_on(void)
{
	char buf[4096];
	int fd = open("/proc/swaps", O_RDONLY), lines = 0;
	ssize_t n, i;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	for (i = 0; i < n; i++)
		lines += buf[i] == '\n';
	return lines > 1;
}

/* What the whole scenario needs from this machine; NULL when it has it. */
static const char *precondition(void)
{
	static char why[256];
	const char *huge;
	cpu_set_t set;
	int i;

	for (i = 0; needed_nodes[i] >= 0; i++) {
		if (node_cpus(needed_nodes[i], &set) <= 0) {
			snprintf(why, sizeof(why), "needs NUMA node %d with CPUs", needed_nodes[i]);
			return why;
		}
	}
	if (NEED_NUMA_SCAN && access(NUMA_ENABLE_PATH, W_OK))
		return "needs root and CONFIG_NUMA_BALANCING to drive NUMA balancing";
	if (NEED_SWAP && !swap_on())
		return "needs active swap for MADV_PAGEOUT";
	if (NEED_HUGE_PAGES && (huge = reserve_huge_pages(NEED_HUGE_PAGES)))
		return huge;
	if ((NEED_THP || NEED_MTHP) && (huge = thp_setup(NEED_THP, NEED_MTHP)))
		return huge;
	if (NEED_DISK_FILE && (huge = disk_file_dir()))
		return huge;
	if (NEED_STOPS && (huge = stops_missing()))
		return huge;
	if (NEED_URING_CALLS || (NEED_URING && (!pin_module || pins_by_uring))) {
#ifdef COWLAB_HAVE_LIBURING
		struct io_uring ring;
		int ret = io_uring_queue_init(2, &ring, 0);

		if (ret < 0) {
			snprintf(why, sizeof(why), "io_uring unavailable: %s", strerror(-ret));
			return why;
		}
		io_uring_queue_exit(&ring);
#else
		return "built without liburing (liburing-dev): no io_uring fixed buffers";
#endif
	}
	return NULL;
}

static void wait_for_end(void)
{
	struct pollfd p = { .fd = baton_fd[COORDINATOR][0], .events = POLLIN };
	struct baton b;
	int r, res = RES_ERROR, i;

	do
		r = poll(&p, 1, (COWLAB_TIMEOUT_S + 2 * NUMA_SCANS) * 1000);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		snprintf(sh->reason, sizeof(sh->reason), "%s did not complete within %d s",
				op_label[sh->current_op], COWLAB_TIMEOUT_S + 2 * NUMA_SCANS);
	else if (read(p.fd, &b, sizeof(b)) != sizeof(b))
		snprintf(sh->reason, sizeof(sh->reason), "the baton was lost");
	else if (b.kind == MSG_DONE) {
		if (b.wait_pid)
			wait_gone(b.wait_pid);
		final_checks();
		return;
	} else if (b.kind == MSG_SKIP)
		res = RES_SKIP;
	out("# stopped at %s: %s\n", op_label[sh->current_op], sh->reason);
	for (i = 1; i <= NTESTS; i++)
		if (!sh->result[i])
			report(i, res, test_promise[i], sh->reason);
}

static int finish(void)
{
	int i, count[RES_ERROR + 1] = { 0 };
	struct timespec nap = { 0, 10000000 };

	for (i = 1; i < NPROCS; i++)
		if (sh->pid[i] > 0 && sh->pid[i] != main_pid)
			kill(sh->pid[i], SIGKILL);
	for (i = 0; i < 500; i++) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		if (pid < 0 && errno == ECHILD)
			break;
		if (pid <= 0)
			nanosleep(&nap, NULL);
	}
	if (NEED_NUMA_SCAN)
		vmstat_note("at the end");
	restore_knobs();
	for (i = 1; i <= NTESTS; i++)
		count[sh->result[i]]++;
	out("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:%d\n",
		count[RES_PASS], count[RES_FAIL], count[RES_SKIP], count[RES_ERROR]);
	if (count[RES_FAIL] || count[RES_ERROR])
		return KSFT_FAIL;
	return count[RES_SKIP] == NTESTS ? KSFT_SKIP : KSFT_PASS;
}

int main(void)
{
	const char *skip;
	struct timespec ts;
	int i;

	page_size = sysconf(_SC_PAGESIZE);
	main_pid = getpid();
	clock_gettime(CLOCK_REALTIME, &ts);
	run_magic = ((uint64_t)(ts.tv_nsec ^ ts.tv_sec ^ ((long)main_pid << 12)) & 0x3fffffff) | 0x40000000;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		out("Bail out! mmap of the shared results: %s\n", strerror(errno));
		return KSFT_FAIL;
	}
	sh->pid[0] = main_pid;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (i = 0; i <= NTHREADS; i++) {
		if (pipe(baton_fd[i])) {
			out("Bail out! pipe: %s\n", strerror(errno));
			return KSFT_FAIL;
		}
	}
	for (i = 0; i <= NPIPES; i++)
		pipe_fd[i][0] = pipe_fd[i][1] = -1;

	out("TAP version 13\n");
	out("1..%d\n", NTESTS);
	out("# cowlab oracle: scenario %s\n", SCENARIO_NAME);
	for (i = 0; approximation[i]; i++)
		out("# approx: %s\n", approximation[i]);
	numa_save();
	if (NEED_NUMA_SCAN)
		vmstat_start();
	if (NPINS)
		pin_module_probe();
	skip = precondition();
	if (skip) {
		out("# the whole scenario is skipped: %s\n", skip);
		for (i = 1; i <= NTESTS; i++)
			report(i, RES_SKIP, test_promise[i], skip);
		return finish();
	}
	numa_setup(MACHINE_NUMA_BALANCING);
	if (NEED_STOPS)
		stops_numa_setup(MACHINE_NUMA_BALANCING);
	setup_files();
	start_scenario();
	if (NEED_STOPS)
		stops_prefault();
	send_baton(NOPS ? op_thread[0] : COORDINATOR, NOPS ? MSG_STEP : MSG_DONE, 0, 0);
	wait_for_end();
	return finish();
}
"""
