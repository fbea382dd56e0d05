// SPDX-License-Identifier: GPL-2.0
/* Proof of the cowlab stops in the VM: migrate.unmapped holds a NUMA hinting fault's
 * migration, gup.follow_page holds a /proc/self/mem write (nth 1 and the retry, nth 2),
 * and every other stage of the table holds a task (fork busy-waits: another process
 * releases it); the hold file's errors.  Prints "STOPS ..." lines; exit 0 when every
 * check held. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define D "/sys/kernel/debug/cowlab/"
static int failures;
#define CHECK(c, ...) do { if (!(c)) { failures++; printf("STOPS FAIL "); } else printf("STOPS ok "); \
	printf(__VA_ARGS__); printf("\n"); fflush(stdout); } while (0)

static int cmd(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = n < 0 ? -errno : 0;
	close(fd);
	return e;
}

static void slurp(const char *file, char *buf, size_t size)
{
	int fd = open(file, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void on_cpu(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static int node_of(void *p)
{
	int status = -99;
	void *pages[1] = { p };
	long r = syscall(SYS_move_pages, 0, 1, pages, NULL, &status, 0);
	return r < 0 ? -1000 - errno : status;
}

static uint64_t pagemap(void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	pread(fd, &e, 8, (uintptr_t)p / 4096 * 8);
	close(fd);
	return e;
}

/* wait until `parked` lists "TID STAGE"; 1 if it did within `secs` */
static int wait_parked(pid_t tid, const char *stage, double secs, char *seen, size_t size)
{
	char want[96];
	snprintf(want, sizeof(want), "%d %s\n", tid, stage);
	for (double end = now() + secs; now() < end; usleep(2000)) {
		slurp(D "parked", seen, size);
		if (strstr(seen, want))
			return 1;
	}
	return 0;
}

static atomic_int step;
static atomic_int wtid;
static volatile char *page;
static volatile char got;
static double parked_for;

static void *migrate_worker(void *arg)
{
	(void)arg;
	wtid = syscall(SYS_gettid);
	on_cpu(0);
	while (step < 1) ;
	double t = now();
	got = page[0];          /* the NUMA hinting fault, held at migrate.unmapped */
	parked_for = now() - t;
	step = 3;
	return NULL;
}

static void test_migrate(void)
{
	pthread_t th;
	char buf[512], seen[512];
	on_cpu(0);
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise((void *)page, 4096, MADV_NOHUGEPAGE);
	page[0] = 'M';
	pthread_create(&th, NULL, migrate_worker, NULL);
	while (!wtid) ;
	int before = node_of((void *)page);
	CHECK(cmd(D "trigger", "lru_drain\n") == 0, "trigger lru_drain");
	snprintf(buf, sizeof(buf), "numa_scan %p %p\n", (void *)page, (void *)(page + 4096));
	int r = cmd(D "trigger", buf);
	CHECK(r == 0, "trigger %.*s -> %d", (int)strlen(buf) - 1, buf, r);
	uint64_t pm_scanned = pagemap((void *)page);
	snprintf(buf, sizeof(buf), "arm migrate.unmapped %d 1", (int)wtid);
	CHECK(cmd(D "hold", buf) == 0, "%s", buf);
	/* the worker goes to node 1's CPU and reads */
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(1, &s);
	sched_setaffinity(wtid, sizeof(s), &s);
	step = 1;
	int parked = wait_parked(wtid, "migrate.unmapped", 10, seen, sizeof(seen));
	CHECK(parked, "parked lists \"%d migrate.unmapped\" (parked: %s)", (int)wtid, strtok(seen, "\n") ?: "");
	uint64_t pm = pagemap((void *)page);
	int during = node_of((void *)page);
	usleep(200000);
	CHECK(step == 1, "the read has not completed while parked (200 ms)");
	printf("STOPS info page node before=%d pagemap after scan=%#llx while parked=%#llx "
	       "(present=%d swap/migration entry=%d) move_pages while parked=%d\n",
	       before, (unsigned long long)pm_scanned, (unsigned long long)pm,
	       (int)(pm >> 63 & 1), (int)(pm >> 62 & 1), during);
	snprintf(buf, sizeof(buf), "release %d\n", (int)wtid);
	CHECK(cmd(D "hold", buf) == 0, "release %d", (int)wtid);
	pthread_join(th, NULL);
	int after = node_of((void *)page);
	CHECK(got == 'M', "the read completed with the page's contents ('%c') after %.3f s", got, parked_for);
	CHECK(before == 0 && after == 1, "page moved node %d -> %d", before, after);
	slurp(D "parked", seen, sizeof(seen));
	CHECK(seen[0] == 0, "parked is empty after release");
}

static atomic_int gstep;
static volatile char *gpage;
static ssize_t gret;

static void *gup_worker(void *arg)
{
	(void)arg;
	wtid = syscall(SYS_gettid);
	int fd = open("/proc/self/mem", O_RDWR);
	while (gstep < 1) ;
	gret = pwrite(fd, "GUP!", 4, (off_t)(uintptr_t)gpage);
	close(fd);
	gstep = 2;
	return NULL;
}

static void test_gup(int nth, int prot)
{
	pthread_t th;
	char buf[128], seen[512];
	wtid = 0;
	gstep = 0;
	gpage = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (prot & PROT_WRITE)
		gpage[0] = 'x';
	pthread_create(&th, NULL, gup_worker, NULL);
	while (!wtid) ;
	snprintf(buf, sizeof(buf), "arm gup.follow_page %d %d\n", (int)wtid, nth);
	CHECK(cmd(D "hold", buf) == 0, "arm gup.follow_page %d %d (%s page)", (int)wtid, nth,
	      prot & PROT_WRITE ? "a present writable" : "an untouched read-only");
	gstep = 1;
	int parked = wait_parked(wtid, "gup.follow_page", 10, seen, sizeof(seen));
	CHECK(parked, "parked lists \"%d gup.follow_page\"", (int)wtid);
	usleep(200000);
	CHECK(gstep == 1, "the /proc/self/mem pwrite has not returned while parked");
	snprintf(buf, sizeof(buf), "release %d", (int)wtid);
	CHECK(cmd(D "hold", buf) == 0, "release");
	pthread_join(th, NULL);
	CHECK(gret == 4 && !memcmp((char *)gpage, "GUP!", 4), "pwrite returned %zd, page reads %.4s",
	      gret, (char *)gpage);
}

static void test_hold_file(void)
{
	char buf[64], stages[1024];
	slurp(D "stages", stages, sizeof(stages));
	printf("STOPS stages:");
	for (char *s = strtok(stages, "\n"); s; s = strtok(NULL, "\n"))
		printf(" %s", s);
	printf("\n");
	CHECK(cmd(D "hold", "arm no.such.stage 1 1") == -EINVAL, "unknown stage -> EINVAL");
	CHECK(cmd(D "hold", "arm gup.faultin 1 0") == -EINVAL, "nth 0 -> EINVAL");
	CHECK(cmd(D "hold", "arm gup.faultin 1 -1") == -EINVAL, "nth -1 -> EINVAL");
	CHECK(cmd(D "hold", "arm gup.faultin 1 1 x") == -EINVAL, "trailing words -> EINVAL");
	CHECK(cmd(D "hold", "frobnicate") == -EINVAL, "bad command -> EINVAL");
	CHECK(cmd(D "hold", "release 99999") == -ESRCH, "release of no hold -> ESRCH");
	CHECK(cmd(D "trigger", "numa_scan 0x2000 0x1000") == -EINVAL, "numa_scan START >= END -> EINVAL");
	CHECK(cmd(D "trigger", "nothing") == -EINVAL, "bad trigger -> EINVAL");
	int ok = 1;
	for (int i = 0; i < 16; i++) {
		snprintf(buf, sizeof(buf), "arm gup.faultin %d 1", 400000 + i);
		ok &= cmd(D "hold", buf) == 0;
	}
	CHECK(ok && cmd(D "hold", "arm gup.faultin 400100 1") == -EBUSY, "16 holds armed, the 17th -> EBUSY");
	CHECK(cmd(D "hold", "arm gup.faultin 400000 3") == 0, "re-arming an armed TID replaces its hold");
	for (int i = 0; i < 16; i++) {
		snprintf(buf, sizeof(buf), "release %d", 400000 + i);
		ok &= cmd(D "hold", buf) == 0;
	}
	CHECK(ok, "16 holds released (disarmed)");
}


#include <sys/wait.h>

/* a worker thread arms itself through the controller (this thread) at STAGE and runs fn */
static void (*action)(void);
static atomic_int astep;
static double acted_for;

static void *action_worker(void *arg)
{
	(void)arg;
	wtid = syscall(SYS_gettid);
	while (astep < 1) ;
	double t = now();
	action();
	acted_for = now() - t;
	astep = 2;
	return NULL;
}

static int held(const char *stage, int nth, void (*fn)(void), int worker_cpu)
{
	pthread_t th;
	char buf[128], seen[512];
	int ok;
	wtid = 0;
	astep = 0;
	action = fn;
	pthread_create(&th, NULL, action_worker, NULL);
	while (!wtid) ;
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(worker_cpu, &s);
	sched_setaffinity(wtid, sizeof(s), &s);
	snprintf(buf, sizeof(buf), "arm %s %d %d", stage, (int)wtid, nth);
	CHECK(cmd(D "hold", buf) == 0, "%s", buf);
	astep = 1;
	ok = wait_parked(wtid, stage, 10, seen, sizeof(seen));
	CHECK(ok, "parked lists \"%d %s\"", (int)wtid, stage);
	usleep(200000);
	CHECK(astep == 1, "%s: the action has not returned while parked", stage);
	snprintf(buf, sizeof(buf), "release %d", (int)wtid);
	CHECK(cmd(D "hold", buf) == 0, "release");
	pthread_join(th, NULL);
	return ok;
}

static volatile char *rpage;
static int madv_ret;

static void pageout(void)
{
	madv_ret = madvise((void *)rpage, 4096, MADV_PAGEOUT);
}

static void test_reclaim(void)
{
	rpage = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise((void *)rpage, 4096, MADV_NOHUGEPAGE);
	rpage[0] = 'R';
	cmd(D "trigger", "lru_drain");
	held("reclaim.swapcache", 1, pageout, 1);
	uint64_t pm = pagemap((void *)rpage);
	CHECK(madv_ret == 0 && (pm >> 62 & 1) && !(pm >> 63 & 1),
	      "MADV_PAGEOUT returned %d after %.3f s; the page is swapped out (pagemap %#llx)",
	      madv_ret, acted_for, (unsigned long long)pm);
	CHECK(rpage[0] == 'R', "it reads back 'R' from swap");
}

static volatile char *npage;
static volatile char nread;

static void numa_touch(void)
{
	nread = npage[0];
}

static void *sleeper(void *arg)
{
	(void)arg;
	sleep(3600);
	return NULL;
}

static void test_numa_target(void)
{
	char buf[96];
	pthread_t th;
	/* a second thread before the scan: change_prot_numa() skips the pages of a
	 * single-threaded process that are on the caller's node */
	pthread_create(&th, NULL, sleeper, NULL);
	on_cpu(0);
	npage = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise((void *)npage, 4096, MADV_NOHUGEPAGE);
	npage[0] = 'N';
	int before = node_of((void *)npage);
	cmd(D "trigger", "lru_drain");
	snprintf(buf, sizeof(buf), "numa_scan %lu %lu", (unsigned long)npage, (unsigned long)npage + 4096);
	CHECK(cmd(D "trigger", buf) == 0, "trigger numa_scan (decimal)");
	held("do_numa_page.target_chosen", 1, numa_touch, 1);
	int after = node_of((void *)npage);
	CHECK(nread == 'N' && before == 0 && after == 1, "read '%c'; page node %d -> %d", nread, before, after);
}

static volatile char *fpage;
static ssize_t fret;

static void proc_mem_write(void)
{
	int fd = open("/proc/self/mem", O_RDWR);
	fret = pwrite(fd, "FLT!", 4, (off_t)(uintptr_t)fpage);
	close(fd);
}

static void test_faultin(void)
{
	fpage = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	held("gup.faultin", 1, proc_mem_write, 1);
	CHECK(fret == 4 && !memcmp((char *)fpage, "FLT!", 4), "pwrite %zd, page reads %.4s", fret, (char *)fpage);
}

/* fork parks busy-waiting with mmap_lock held for writing and the PTLs: the controller
 * must be another process (any fault of this one would wait for fork's mmap_lock) */
static void test_fork(void)
{
	int to_ctl[2], from_ctl[2];
	char buf[128], seen[512];
	pipe(to_ctl);
	pipe(from_ctl);
	on_cpu(1);
	pid_t ctl = fork();
	if (ctl == 0) {
		int tid, ok;
		on_cpu(0);
		read(to_ctl[0], &tid, sizeof(tid));
		snprintf(buf, sizeof(buf), "arm fork.copy_page_range %d 1", tid);
		ok = cmd(D "hold", buf) == 0;
		write(from_ctl[1], &ok, sizeof(ok));
		ok = wait_parked(tid, "fork.copy_page_range", 10, seen, sizeof(seen));
		printf("STOPS info controller: parked %s\n", ok ? strtok(seen, "\n") : "(nothing)");
		fflush(stdout);
		usleep(200000);
		snprintf(buf, sizeof(buf), "release %d", tid);
		ok = ok && cmd(D "hold", buf) == 0;
		_exit(ok ? 0 : 1);
	}
	int tid = syscall(SYS_gettid), armed = 0;
	write(to_ctl[1], &tid, sizeof(tid));
	read(from_ctl[0], &armed, sizeof(armed));
	CHECK(armed, "arm fork.copy_page_range %d 1 (from another process)", tid);
	double t = now();
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	double forked = now() - t;
	int st = -1, cst = -1;
	waitpid(child, &cst, 0);
	waitpid(ctl, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && forked > 0.2,
	      "fork parked (controller saw it, released it) and returned after %.3f s; child status %d",
	      forked, cst);
}


/* STOPS_TIMEOUT=1: a hold nobody releases ends by itself after 30 s (sleeping, and
 * busy-waiting in fork), and its TID has no hold any more */
static void test_timeout(void)
{
	pthread_t th;
	char buf[96], seen[256];
	wtid = 0;
	gstep = 0;
	gpage = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gpage[0] = 'x';
	pthread_create(&th, NULL, gup_worker, NULL);
	while (!wtid) ;
	snprintf(buf, sizeof(buf), "arm gup.follow_page %d 1", (int)wtid);
	cmd(D "hold", buf);
	double t = now();
	gstep = 1;
	int parked = wait_parked(wtid, "gup.follow_page", 10, seen, sizeof(seen));
	pthread_join(th, NULL);
	double held_for = now() - t;
	slurp(D "parked", seen, sizeof(seen));
	snprintf(buf, sizeof(buf), "release %d", (int)wtid);
	CHECK(parked && gret == 4 && held_for > 29 && held_for < 40 && !seen[0] &&
	      cmd(D "hold", buf) == -ESRCH,
	      "an unreleased sleeping park ended by itself after %.1f s (pwrite %zd), no hold left", held_for, gret);
}

static void test_timeout_fork(void)
{
	char buf[96];
	int tid = syscall(SYS_gettid);
	on_cpu(1);
	snprintf(buf, sizeof(buf), "arm fork.copy_page_range %d 1", tid);
	cmd(D "hold", buf);
	double t = now();
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	double held_for = now() - t;
	waitpid(child, NULL, 0);
	snprintf(buf, sizeof(buf), "release %d", tid);
	CHECK(held_for > 29 && held_for < 40 && cmd(D "hold", buf) == -ESRCH,
	      "an unreleased busy-waiting park in fork ended by itself after %.1f s", held_for);
}

/* each test in a new process: its NUMA state fresh (no preferred node, no group) */
static void in_child(void (*test)(void))
{
	int st;
	pid_t pid = fork();
	if (pid == 0) {
		failures = 0;
		test();
		exit(failures);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		failures += WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	if (!WIFEXITED(st))
		printf("STOPS FAIL a test process died (status %#x)\n", st);
}

static void test_gup_present(void) { test_gup(1, PROT_READ | PROT_WRITE); }
static void test_gup_retry(void) { test_gup(2, PROT_READ); }

#define SCAN_DELAY_NEW "/sys/kernel/debug/sched/numa_balancing/scan_delay_ms"
#define SCAN_DELAY_OLD "/proc/sys/kernel/numa_balancing_scan_delay_ms"

int main(void)
{
	char delay[32];
	const char *knob = access(SCAN_DELAY_NEW, F_OK) == 0 ? SCAN_DELAY_NEW : SCAN_DELAY_OLD;
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* the numa_scan trigger scans; the kernel's own scanner must not start in the test
	 * processes (it would make the pages PROT_NONE again: 6.1+ move_pages reports
	 * -ENOENT for those): a new process's first scan waits scan_delay_ms.  Balancing
	 * stays on: from 5.18 change_prot_numa() skips every page while it is off. */
	slurp(knob, delay, sizeof(delay));
	delay[strcspn(delay, "\n")] = 0;
	cmd(knob, "3600000");
	printf("STOPS start (%s was %s, 3600000 while the tests run)\n", knob, delay);
	test_hold_file();
	in_child(test_migrate);
	in_child(test_gup_present);
	in_child(test_gup_retry);
	in_child(test_faultin);
	in_child(test_numa_target);
	in_child(test_reclaim);
	in_child(test_fork);
	if (getenv("STOPS_TIMEOUT")) {
		in_child(test_timeout);
		in_child(test_timeout_fork);
	}
	cmd(knob, delay);
	printf("STOPS done failures=%d\n", failures);
	return failures != 0;
}
