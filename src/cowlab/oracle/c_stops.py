"""The C runtime of programs exported for an instrumented kernel (issue 15): holding a
thread at one of the kernel's stops, waiting until it is held, releasing it, and the
triggers that make the model's ``numa_scan`` and ``lru_drain`` happen now.

The kernel side is the stops patch (``kpatch/stops-*.patch``, docs/oracle.md): a
debugfs directory where ``hold`` arms (``arm STAGE TID NTH``) and releases
(``release TID``) a one-shot hold, ``parked`` lists the held threads and ``trigger``
runs ``numa_scan START END`` or ``lru_drain`` for the calling process.  A stopping op
arms its own hold, hands the baton on and makes its call; the controller thread
(translate.CONTROLLER) runs the ops that wait for the hold and release it.
"""

STOPS = r"""
/* ---- stops: threads held inside an instrumented kernel ---- */
#define STOPS_DIR "/sys/kernel/debug/cowlab"
/* how long the controller waits for a thread to reach its stop: well inside the
 * kernel's 30 s patience with a hold nobody releases */
#ifndef COWLAB_STOP_WAIT_MS
#define COWLAB_STOP_WAIT_MS 3000
#endif
/* NUMA balancing's own scans, slowed so that only the triggers scan */
static const char *const numa_still[] = { "3600000", "3600000", "3600000", "256" };

/* One command to a stops file; 0 or the errno the kernel answered. */
static int stops_command(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int stops_command(const char *file, const char *fmt, ...)
{
	char path[128], buf[256];
	va_list ap;
	ssize_t n;
	int fd, len, err;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), STOPS_DIR "/%s", file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	n = write(fd, buf, (size_t)len);
	err = n < 0 ? errno : 0;
	close(fd);
	return err;
}

/* A whole stops file (several lines) into buf; -1 when it cannot be read. */
static int stops_read(const char *file, char *buf, size_t len)
{
	char path[128];
	ssize_t n, got = 0;
	int fd;

	snprintf(path, sizeof(path), STOPS_DIR "/%s", file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	while ((size_t)got < len - 1 && (n = read(fd, buf + got, len - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	return 0;
}

/* Whether text has a line that is exactly line. */
static int has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && (p[len] == '\n' || !p[len]))
			return 1;
		p += len;
	}
	return 0;
}

/* The stage the booted kernel cannot hold a thread at; NULL when it has them all. */
static const char *stops_missing(void)
{
	static char why[256];
	char have[4096];
	int i;

	if (stops_read("stages", have, sizeof(have)))
		return "needs a kernel built with cowlab's stops (cowlab oracle build-kernel, a stops variant)";
	for (i = 0; stop_stage[i]; i++) {
		if (!has_line(have, stop_stage[i])) {
			snprintf(why, sizeof(why), "this kernel's stops patch has no %s", stop_stage[i]);
			return why;
		}
	}
	return NULL;
}

/* Balancing as the scenario's machine has it, with its own scans held off. */
static void stops_numa_setup(int balancing)
{
	int i;

	if (knob_path[0][0] && write_text(knob_path[0], balancing ? "1" : "0"))
		out("# cannot set %s\n", knob_path[0]);
	for (i = 1; i < 5; i++)
		if (knob_path[i][0] && write_text(knob_path[i], numa_still[i - 1]))
			out("# cannot set %s\n", knob_path[i]);
}

/*
 * Every page the program maps now (code, data, the threads' stacks), made present:
 * while a held fork has the process's mmap_lock for writing, a page fault of any of
 * its threads waits for the fork, so the steps in the fork's window must not fault.
 * The scenario's regions are mapped later, by its steps.
 */
static void stops_prefault(void)
{
	if (mlockall(MCL_CURRENT) == 0)
		munlockall();
	else
		out("# mlockall to make the program's pages present: %s\n", strerror(errno));
}

/* Each scenario thread says who it is, so that its holds name it. */
HELPER void stop_self(int thread)
{
	sh->tid[thread] = (pid_t)syscall(SYS_gettid);
}

/* The op of a stopping step: hold this thread at its nth arrival at stage. */
HELPER void stop_arm(int thread, const char *stage, int nth)
{
	int err;

	__atomic_store_n(&sh->stop_done[thread], 0, __ATOMIC_SEQ_CST);
	err = stops_command("hold", "arm %s %d %d\n", stage, (int)sh->tid[thread], nth);
	if (err)
		run_abort("%s: arm %s: %s", op_label[sh->current_op], stage, strerror(err));
}

/* The stopping op's call returned and its checks are made. */
HELPER void stop_done(int thread)
{
	__atomic_store_n(&sh->stop_done[thread], 1, __ATOMIC_SEQ_CST);
}

static int stop_returned(int thread)
{
	return __atomic_load_n(&sh->stop_done[thread], __ATOMIC_SEQ_CST);
}

static int stop_parked(int thread, const char *stage)
{
	char buf[4096], want[96];

	if (stops_read("parked", buf, sizeof(buf)))
		return 0;
	snprintf(want, sizeof(want), "%d %s", (int)sh->tid[thread], stage);
	return has_line(buf, want);
}

/* Where a thread is when it is neither held nor back: its state and wait channel. */
static void task_where(int thread, char *buf, size_t len)
{
	char path[64], wchan[64] = "?", state = proc_state(sh->tid[thread]);

	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)sh->tid[thread]);
	read_text(path, wchan, sizeof(wchan));
	snprintf(buf, len, "state %c, wchan %s", state ? state : '?', wchan);
}

/* Milliseconds since t0 (CLOCK_MONOTONIC): TCG makes usleep() far longer than asked. */
static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The controller: until the thread is held at stage, or its call returned without
 * getting there (the model says so too when the kernel takes another path).  A thread
 * that waits elsewhere (on a lock a held thread holds) is said, and the run goes on:
 * a busy-waiting hold must not outlast its patience. */
HELPER void stop_await(int thread, const char *stage)
{
	struct timespec t0;
	char where[128];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < COWLAB_STOP_WAIT_MS) {
		if (stop_parked(thread, stage)) {
			out("# %s is held at %s\n", thread_name[thread], stage);
			return;
		}
		if (stop_returned(thread)) {
			stops_command("hold", "release %d\n", (int)sh->tid[thread]);
			out("# %s finished without reaching %s on this kernel\n", thread_name[thread], stage);
			return;
		}
		usleep(1000);
	}
	task_where(thread, where, sizeof(where));
	out("# %s neither reached %s nor returned within %d ms (%s): it waits elsewhere in the kernel\n",
		thread_name[thread], stage, COWLAB_STOP_WAIT_MS, where);
}

/* The controller: release the thread and wait until its call has returned. */
HELPER void stop_resume(int thread)
{
	int err = stops_command("hold", "release %d\n", (int)sh->tid[thread]);
	struct timespec t0;

	if (err && err != ESRCH)
		run_abort("release of %s: %s", thread_name[thread], strerror(err));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < (COWLAB_TIMEOUT_S - 5) * 1000L) {
		if (stop_returned(thread))
			return;
		usleep(1000);
	}
	run_abort("%s did not return within %d s of its release", thread_name[thread], COWLAB_TIMEOUT_S - 5);
}

/* What the model's kernel step does, now: lru_drain. */
HELPER void stops_trigger(const char *what)
{
	int err = stops_command("trigger", "%s\n", what);

	if (err)
		run_abort("%s: trigger %s: %s", op_label[sh->current_op], what, strerror(err));
}

/* task_numa_work() over one region of the calling process, now. */
HELPER void numa_scan_now(void *addr, size_t len)
{
	int err = stops_command("trigger", "numa_scan %#lx %#lx\n", (unsigned long)addr,
				(unsigned long)addr + (unsigned long)len);

	if (err)
		run_abort("%s: trigger numa_scan: %s", op_label[sh->current_op], strerror(err));
	vmstat_note(op_label[sh->current_op]);
}
"""
