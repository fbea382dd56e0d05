// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * gaudi_race: hunt the Gaudi race (CVE-2022-48797) on a real kernel, in a loop.
 *
 * cowlab's model replays the race with a stop inside the NUMA migration; user
 * space cannot stop the kernel there, so this program sets up the race again and
 * again and lets the kernel's own timing decide (docs/oracle.md, "Race hunts").
 * Each iteration:
 *
 *   1. the owner thread T1 maps PAGES fresh anonymous pages, writes each (so they
 *      are allocated on T1's node), and drains the per-CPU LRU batches (a page
 *      still in a batch has an extra reference: the scanner and the migration
 *      would both leave it alone);
 *   2. pin-before-scan: T1 pins them right after the write, as the Gaudi driver does
 *      (pin_user_pages_fast(FOLL_FORCE|FOLL_WRITE|FOLL_LONGTERM) through
 *      /dev/cowlab_pin), drains, then waits until NUMA balancing has scanned the
 *      process (numa_pte_updates in /proc/vmstat moves); when the counter moved
 *      between the write and the pin, a scan may have made the PTEs PROT_NONE first:
 *      the iteration is "unordered", its hits are reported apart (RACE UNORDERED-HIT)
 *      and it does not count;
 *      pin-after-scan: T1 waits for the scan first (which may make the PTEs
 *      PROT_NONE: GUP-fast bails on them, the slow path goes through them
 *      because FOLL_FORCE sets no FOLL_NUMA) and pins after it (no scan within
 *      the wait: unordered);
 *   3. the toucher thread R, with no CPU affinity, reads the pages for TOUCH_MS,
 *      spread over time, while both threads keep their CPUs busy so the scanner
 *      keeps running: a read from the other node takes the NUMA hinting fault and
 *      tries to migrate the pinned page, which fails (10 passes); if a scan
 *      passes over the page while its writable migration entry is installed, it
 *      makes the entry read-only and the PTE comes back read-only;
 *   4. T1 writes each page: on a read-only PTE of a pinned page the write fault
 *      copies it, and the CPU and the "device" part;
 *   5. the check: the PFN pagemap shows for each page against the PFN the pin
 *      holds, then the device writes a token through the pin (the module's
 *      kernel-side write, its DMA) and T1 reads the page: a different PFN or a
 *      token T1 does not see is a hit, printed with its evidence;
 *   6. unpin, unmap.
 *
 * Settings come from the environment: COWLAB_RACE_SECONDS (30),
 * COWLAB_RACE_PAGES (32), COWLAB_RACE_TOUCH_MS (150), COWLAB_RACE_SCAN_WAIT_MS
 * (500), COWLAB_RACE_VARIANT (pin-before-scan or pin-after-scan; else the
 * program's name: one containing "after" is pin-after-scan), COWLAB_RACE_FRESH (0;
 * 1: each iteration in a new child process, whose NUMA scan period has not grown with
 * the toucher's shared faults, as it does over a long run of one process).
 *
 * Output (one line each, key=value words; parsed by cowlab.oracle.race):
 *   # cowlab race gaudi: variant=... pages=... ...     the settings
 *   RACE HIT iter=I page=N pin_pfn=0x.. map_pfn=0x.. cpu_read=0x.. dev_wrote=0x.. ...
 *   RACE SUMMARY variant=... iterations=... hits=... ...
 *   RACE SKIP why      (exit 4: the machine lacks something: root, two nodes, the module)
 *   RACE ERROR why     (exit 1: a system call failed)
 * Exit 0 when the loop ran to its end, hits or not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cowlab_pin_abi.h"

#define PAGE 4096UL
#define MAX_PAGES 256
#define MAX_CPUS 64
#define MAX_HITS_SHOWN 5

enum variant { PIN_BEFORE_SCAN, PIN_AFTER_SCAN };

static struct {
	enum variant variant;
	long seconds, pages, touch_ms, scan_wait_ms;
	int fresh;
} cfg = { PIN_AFTER_SCAN, 30, 32, 150, 500, 0 };

/* what the toucher did, and when T1 lets it run */
static volatile int generation, toucher_done, stop_toucher;
static char *volatile region;
static int page_node[MAX_PAGES];
static int cpu_node[MAX_CPUS];

/* what every iteration adds up to: in a MAP_SHARED mapping, so that the iterations of
 * fresh processes (COWLAB_RACE_FRESH=1) count in it too */
struct totals {
	long iterations, hits, hit_pages, pfn_hits, content_hits, scans, no_scan, scan_updates;
	long scan_covered, touches_remote, touches_local, touches_unknown;
	/* iterations whose order of scan and pin was not the variant's, and their hit pages */
	long unordered, unordered_hits;
};
static struct totals *tot;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void spin_us(double us)
{
	double end = now_ms() + us / 1e3;

	while (now_ms() < end)
		;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int debug;
#define TRACE(...) do { if (debug) say("# debug " __VA_ARGS__); } while (0)

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void __attribute__((noreturn)) finish(int status, const char *kind, const char *fmt, ...)
{
	va_list ap;

	printf("RACE %s ", kind);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(status);
}

static long env_long(const char *name, long fallback, long lo, long hi)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return fallback;
	v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi)
		finish(1, "ERROR", "%s=%s: want an integer in %ld..%ld", name, s, lo, hi);
	return v;
}

/* the first CPU of /sys/devices/system/node/nodeN/cpulist for every N */
static int read_nodes(void)
{
	int nodes = 0;

	for (int c = 0; c < MAX_CPUS; c++)
		cpu_node[c] = -1;
	for (int n = 0; n < 8; n++) {
		char path[96], list[256];
		FILE *f;

		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", n);
		f = fopen(path, "r");
		if (!f)
			continue;
		nodes++;
		if (fgets(list, sizeof(list), f)) {
			char *p = list;

			while (*p) {
				char *end;
				long a = strtol(p, &end, 10), b;

				if (end == p)
					break;
				b = a;
				if (*end == '-')
					b = strtol(end + 1, &end, 10);
				for (long c = a; c <= b && c < MAX_CPUS; c++)
					cpu_node[c] = n;
				p = *end == ',' ? end + 1 : end;
				if (*p == '\n')
					break;
			}
		}
		fclose(f);
	}
	return nodes;
}

/* the NUMA counters this program watches, from /proc/vmstat */
struct counters {
	long pte_updates, hint_faults, hint_faults_local, pages_migrated, migrate_fail;
};

static int vmstat_fd = -1;

static void read_counters(struct counters *c)
{
	static char buf[16384];
	ssize_t n = pread(vmstat_fd, buf, sizeof(buf) - 1, 0);
	char *line;

	memset(c, 0, sizeof(*c));
	if (n <= 0)
		return;
	buf[n] = 0;
	for (line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char name[64];
		long value;

		if (sscanf(line, "%63s %ld", name, &value) != 2)
			continue;
		if (!strcmp(name, "numa_pte_updates"))
			c->pte_updates = value;
		else if (!strcmp(name, "numa_hint_faults"))
			c->hint_faults = value;
		else if (!strcmp(name, "numa_hint_faults_local"))
			c->hint_faults_local = value;
		else if (!strcmp(name, "numa_pages_migrated"))
			c->pages_migrated = value;
		else if (!strcmp(name, "pgmigrate_fail"))
			c->migrate_fail = value;
	}
}

/* spin (the scan is queued from the tick of a running task) until numa_pte_updates moves */
static long wait_for_scan(void)
{
	struct counters before, c;
	double end = now_ms() + cfg.scan_wait_ms;

	read_counters(&before);
	do {
		spin_us(300);
		read_counters(&c);
		if (c.pte_updates != before.pte_updates) {
			/* the rest of the pass: it runs in one go, VMA by VMA */
			spin_us(1000);
			read_counters(&c);
			return c.pte_updates - before.pte_updates;
		}
	} while (now_ms() < end);
	return -1;
}

static int pagemap_fd = -1;

static uint64_t mapped_pfn(const void *addr)
{
	uint64_t entry = 0;
	off_t off = (off_t)((uintptr_t)addr / PAGE) * 8;

	if (pread(pagemap_fd, &entry, 8, off) != 8)
		return 0;
	if (!(entry & (1ULL << 63)))
		return 0;
	return entry & ((1ULL << 55) - 1);
}

static void query_nodes(char *base, long n, int *nodes)
{
	void *pages[MAX_PAGES];

	for (long i = 0; i < n; i++)
		pages[i] = base + i * PAGE;
	if (syscall(SYS_move_pages, 0, n, pages, NULL, nodes, 0) != 0)
		for (long i = 0; i < n; i++)
			nodes[i] = -1;
}

/* move_pages() of a page to the node it is on: the kernel drains every CPU's LRU batch */
static void drain_lru(char *dummy)
{
	void *page = dummy;
	int node = -1, status = 0;

	dummy[0]++;
	if (syscall(SYS_move_pages, 0, 1, &page, NULL, &node, 0) == 0 && node >= 0)
		syscall(SYS_move_pages, 0, 1, &page, &node, &status, 0);
	madvise(dummy + PAGE, PAGE, MADV_DONTNEED); /* this CPU's batch, whatever happened */
}

static void *toucher(void *arg)
{
	(void)arg;
	while (!stop_toucher) {
		int want = generation;
		double end;

		/* toucher_done, not a copy taken when the thread starts: T1 may ask first */
		if (want == toucher_done) {
			spin_us(50);
			continue;
		}
		end = now_ms() + cfg.touch_ms;
		while (now_ms() < end) {
			for (long i = 0; i < cfg.pages; i++) {
				volatile char *p = region + i * PAGE + 64;
				int cpu = sched_getcpu();
				int node = cpu >= 0 && cpu < MAX_CPUS ? cpu_node[cpu] : -1;

				(void)*p;
				if (node < 0 || page_node[i] < 0)
					tot->touches_unknown++;
				else if (node == page_node[i])
					tot->touches_local++;
				else
					tot->touches_remote++;
				spin_us((double)(next_random() % 400));
			}
		}
		__sync_synchronize();
		toucher_done = want;
	}
	return NULL;
}

static uint64_t token(uint64_t iter, long page, int kind)
{
	return 0xC0A1ULL << 48 | (iter & 0xffffffULL) << 24 | (uint64_t)page << 4 | (uint64_t)kind;
}

static const unsigned pin_flags = COWLAB_PIN_WRITE | COWLAB_PIN_FORCE | COWLAB_PIN_LONGTERM | COWLAB_PIN_FAST;

static void write_pages(char *buf, long n, uint64_t iter)
{
	for (long i = 0; i < n; i++)
		*(volatile uint64_t *)(buf + i * PAGE) = token(iter, i, 1);
}

static void pin(int fd, struct cowlab_pin_req *req)
{
	if (ioctl(fd, COWLAB_PIN_IOC_PIN, req) != 0)
		finish(1, "ERROR", "COWLAB_PIN_IOC_PIN: %s", strerror(errno));
}

/* one iteration: map, write, drain, pin and scan in the variant's order, touch, write, check */
static void iteration(int fd, char *dummy, long iterations, double start)
{
	uint64_t pfns[MAX_PAGES], iter = (uint64_t)iterations;
	struct cowlab_pin_req req;
	struct counters before, end_c;
	long n = cfg.pages, delta, got = 0;
	int ordered;
	char *buf;

	buf = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		finish(1, "ERROR", "mmap: %s", strerror(errno));
	madvise(buf, n * PAGE, MADV_NOHUGEPAGE); /* base pages: the race is the PTE one */
	memset(&req, 0, sizeof(req));
	req.addr = (uintptr_t)buf;
	req.npages = (uint64_t)n;
	req.pfns = (uintptr_t)pfns;
	req.flags = pin_flags;
	if (cfg.variant == PIN_AFTER_SCAN) {
		write_pages(buf, n, iter);
		drain_lru(dummy);
		query_nodes(buf, n, page_node);
		read_counters(&before);
		delta = wait_for_scan();
		pin(fd, &req);
		/* no scan before the pin: the pages were not PROT_NONE, this was no such race */
		ordered = delta >= 0;
	} else {
		struct counters c0, c1;

		/* pin right after the write, drain after: a scan in between would make this a
		 * pin-after-scan iteration, which the PTE update counter tells */
		read_counters(&c0);
		write_pages(buf, n, iter);
		pin(fd, &req);
		spin_us(200); /* a pass that updated our PTEs has counted them by now */
		read_counters(&c1);
		ordered = c1.pte_updates == c0.pte_updates;
		drain_lru(dummy);
		query_nodes(buf, n, page_node);
		read_counters(&before);
		delta = wait_for_scan();
	}
	TRACE("iter=%ld pinned ordered=%d delta=%ld\n", iterations, ordered, delta);
	if (delta < 0) {
		tot->no_scan++;
	} else {
		tot->scans++;
		tot->scan_updates += delta;
	}
	/* the pass updated at least as many PTEs as we have pages: ours were scanned too */
	if (delta >= n)
		tot->scan_covered++;

	TRACE("iter=%ld pinned delta=%ld\n", iterations, delta);
	region = buf;
	__sync_synchronize();
	generation++;
	while (toucher_done != generation)
		spin_us(100);

	TRACE("iter=%ld touched\n", iterations);
	for (long i = 0; i < n; i++)
		*(volatile uint64_t *)(buf + i * PAGE) = token(iter, i, 2);
	for (long i = 0; i < n; i++) {
		uint64_t map = mapped_pfn(buf + i * PAGE), wrote = token(iter, i, 3), dev = 0, cpu;
		struct cowlab_pin_io io = { (uint64_t)i, 0, 8, (uintptr_t)&wrote };
		int by_pfn, by_contents;

		if (ioctl(fd, COWLAB_PIN_IOC_WRITE, &io) != 0)
			finish(1, "ERROR", "COWLAB_PIN_IOC_WRITE: %s", strerror(errno));
		cpu = *(volatile uint64_t *)(buf + i * PAGE);
		io.buf = (uintptr_t)&dev;
		if (ioctl(fd, COWLAB_PIN_IOC_READ, &io) != 0)
			finish(1, "ERROR", "COWLAB_PIN_IOC_READ: %s", strerror(errno));
		by_pfn = map != pfns[i];
		by_contents = cpu != wrote;
		if (!by_pfn && !by_contents)
			continue;
		got++;
		if (!ordered) {
			if (tot->unordered_hits++ < MAX_HITS_SHOWN)
				say("RACE UNORDERED-HIT iter=%ld page=%ld pin_pfn=0x%llx map_pfn=0x%llx: a scan came "
				    "between the write and the pin\n",
				    iterations, i, (unsigned long long)pfns[i], (unsigned long long)map);
			continue;
		}
		tot->pfn_hits += by_pfn;
		tot->content_hits += by_contents;
		if (tot->hit_pages < MAX_HITS_SHOWN) {
			int now_node[1];

			query_nodes(buf + i * PAGE, 1, now_node);
			read_counters(&end_c);
			say("RACE HIT iter=%ld page=%ld by=%s pin_pfn=0x%llx map_pfn=0x%llx cpu_read=0x%llx "
			    "dev_wrote=0x%llx dev_read=0x%llx page_node=%d map_node=%d scan_updates=%ld "
			    "hint_faults=%ld migrate_fail=%ld t_ms=%.0f\n",
			    iterations, i, by_pfn && by_contents ? "pfn,contents" : by_pfn ? "pfn" : "contents",
			    (unsigned long long)pfns[i], (unsigned long long)map, (unsigned long long)cpu,
			    (unsigned long long)wrote, (unsigned long long)dev, page_node[i], now_node[0], delta,
			    end_c.hint_faults - before.hint_faults, end_c.migrate_fail - before.migrate_fail,
			    now_ms() - start);
		}
		tot->hit_pages++;
	}
	if (!ordered)
		tot->unordered++;
	else if (got)
		tot->hits++;
	if (ioctl(fd, COWLAB_PIN_IOC_UNPIN) != 0)
		finish(1, "ERROR", "COWLAB_PIN_IOC_UNPIN: %s", strerror(errno));
	munmap(buf, n * PAGE);
}

static int open_pin(void)
{
	int fd = open("/dev/" COWLAB_PIN_NAME, O_RDWR);

	if (fd < 0)
		finish(4, "SKIP", "no /dev/%s (%s): the pinning module is not loaded", COWLAB_PIN_NAME,
		       strerror(errno));
	return fd;
}

/* a process of its own for the iteration: a fresh mm, whose NUMA scan period has not
 * grown yet (it grows with the shared faults the toucher causes) */
static void iteration_in_child(char *dummy, long iterations, double start)
{
	pid_t pid = fork();
	int status = 0;

	if (pid < 0)
		finish(1, "ERROR", "fork: %s", strerror(errno));
	TRACE("iter=%ld forked %d\n", iterations, (int)pid);
	if (pid == 0) {
		pthread_t thread;
		int fd = open_pin();

		close(pagemap_fd); /* the parent's: /proc/self/pagemap is the mm of its opener */
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
		if (pagemap_fd < 0)
			finish(1, "ERROR", "open /proc/self/pagemap: %s", strerror(errno));

		if (pthread_create(&thread, NULL, toucher, NULL))
			finish(1, "ERROR", "pthread_create failed");
		iteration(fd, dummy, iterations, start);
		stop_toucher = 1;
		pthread_join(thread, NULL);
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0)
		finish(1, "ERROR", "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1); /* the child said why */
}

int main(int argc, char **argv)
{
	const char *name = argc > 0 ? argv[0] : "gaudi_race";
	const char *v = getenv("COWLAB_RACE_VARIANT");
	struct counters start_c, end_c;
	double start, deadline;
	pthread_t thread;
	char *dummy;
	int fd = -1, nodes;

	if (v && *v)
		cfg.variant = strstr(v, "after") ? PIN_AFTER_SCAN : PIN_BEFORE_SCAN;
	else
		cfg.variant = strstr(name, "after") ? PIN_AFTER_SCAN : PIN_BEFORE_SCAN;
	cfg.seconds = env_long("COWLAB_RACE_SECONDS", cfg.seconds, 1, 86400);
	cfg.pages = env_long("COWLAB_RACE_PAGES", cfg.pages, 1, MAX_PAGES);
	cfg.touch_ms = env_long("COWLAB_RACE_TOUCH_MS", cfg.touch_ms, 1, 60000);
	cfg.scan_wait_ms = env_long("COWLAB_RACE_SCAN_WAIT_MS", cfg.scan_wait_ms, 1, 60000);
	cfg.fresh = (int)env_long("COWLAB_RACE_FRESH", cfg.fresh, 0, 1);
	debug = (int)env_long("COWLAB_RACE_DEBUG", 0, 0, 1);
	rng ^= (uint64_t)getpid() << 17 ^ (uint64_t)time(NULL);

	say("# cowlab race gaudi: variant=%s pages=%ld seconds=%ld touch_ms=%ld scan_wait_ms=%ld fresh=%d "
	    "flags=FOLL_PIN|FOLL_FORCE|FOLL_WRITE|FOLL_LONGTERM fast=1\n",
	    cfg.variant == PIN_AFTER_SCAN ? "pin-after-scan" : "pin-before-scan", cfg.pages, cfg.seconds,
	    cfg.touch_ms, cfg.scan_wait_ms, cfg.fresh);
	if (geteuid() != 0)
		finish(4, "SKIP", "not root: pagemap PFNs and the module need it");
	nodes = read_nodes();
	say("# nodes=%d cpu0=node%d cpu1=node%d\n", nodes, cpu_node[0], cpu_node[1]);
	if (nodes < 2)
		finish(4, "SKIP", "one NUMA node: the race needs a remote touch");
	vmstat_fd = open("/proc/vmstat", O_RDONLY);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (vmstat_fd < 0 || pagemap_fd < 0)
		finish(1, "ERROR", "open /proc/vmstat or /proc/self/pagemap: %s", strerror(errno));
	if (cfg.fresh)
		close(open_pin()); /* say SKIP now, not in every child */
	else
		fd = open_pin();
	tot = mmap(NULL, sizeof(*tot), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	dummy = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tot == MAP_FAILED || dummy == MAP_FAILED)
		finish(1, "ERROR", "mmap: %s", strerror(errno));
	memset(tot, 0, sizeof(*tot));
	if (!cfg.fresh && pthread_create(&thread, NULL, toucher, NULL))
		finish(1, "ERROR", "pthread_create failed");

	read_counters(&start_c);
	start = now_ms();
	deadline = start + cfg.seconds * 1e3;
	while (now_ms() < deadline) {
		if (cfg.fresh)
			iteration_in_child(dummy, tot->iterations, start);
		else
			iteration(fd, dummy, tot->iterations, start);
		tot->iterations++;
		if (tot->iterations % 50 == 0)
			say("# progress iterations=%ld hits=%ld t_ms=%.0f\n", tot->iterations, tot->hits,
			    now_ms() - start);
	}
	if (!cfg.fresh) {
		stop_toucher = 1;
		pthread_join(thread, NULL);
	}
	read_counters(&end_c);
	say("RACE SUMMARY variant=%s iterations=%ld pages_per_iteration=%ld hits=%ld hit_pages=%ld "
	    "pfn_hits=%ld content_hits=%ld scans=%ld no_scan=%ld scan_updates=%ld scan_covered=%ld "
	    "touches_remote=%ld touches_local=%ld touches_unknown=%ld hint_faults=%ld "
	    "hint_faults_local=%ld pages_migrated=%ld migrate_fail=%ld fresh=%d ordered=%ld unordered=%ld "
	    "unordered_hits=%ld seconds=%.1f\n",
	    cfg.variant == PIN_AFTER_SCAN ? "pin-after-scan" : "pin-before-scan", tot->iterations, cfg.pages,
	    tot->hits, tot->hit_pages, tot->pfn_hits, tot->content_hits, tot->scans, tot->no_scan,
	    tot->scan_updates, tot->scan_covered, tot->touches_remote, tot->touches_local,
	    tot->touches_unknown, end_c.hint_faults - start_c.hint_faults,
	    end_c.hint_faults_local - start_c.hint_faults_local,
	    end_c.pages_migrated - start_c.pages_migrated, end_c.migrate_fail - start_c.migrate_fail,
	    cfg.fresh, tot->iterations - tot->unordered, tot->unordered, tot->unordered_hits,
	    (now_ms() - start) / 1e3);
	return 0;
}
