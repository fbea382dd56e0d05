// SPDX-License-Identifier: GPL-2.0
/*
 * cowlab stops (test-only; cowlab's oracle applies this at build time, never
 * to a kernel it does not build): hold one task at a named point of mm code,
 * named after the stages of cowlab's model, until a test releases it; and
 * run the NUMA scanner or an LRU drain on demand.
 *
 * /sys/kernel/debug/cowlab/
 *   stages   (r) one supported stage name per line
 *   hold     (w) "arm STAGE TID NTH": hold thread TID at its NTH arrival at
 *                STAGE (one-shot; re-arming a TID replaces its hold);
 *                "release TID": let it go, or disarm it if not yet arrived
 *   parked   (r) "TID STAGE" per task parked now
 *   trigger  (w) "numa_scan START END": change_prot_numa() over the caller's
 *                VMAs in [START, END) that task_numa_work() would scan;
 *                "lru_drain": lru_add_drain_all()
 *
 * Every park ends after COWLAB_PARK_TIMEOUT_S seconds even if nobody releases
 * it (with a warning), so a test that dies never wedges the machine.
 */
#include <linux/cowlab_stops.h>
#include <linux/debugfs.h>
#include <linux/hugetlb.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/mempolicy.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/nmi.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/swap.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#define COWLAB_MAX_HOLDS	16
#define COWLAB_PARK_TIMEOUT_S	30

static const char *const cowlab_stage_names[COWLAB_NR_STOPS] = {
@NAMES@
};

struct cowlab_hold {
	pid_t tid;		/* 0: a free slot */
	enum cowlab_stop stage;
	unsigned int nth;	/* arrivals still to come, this one included */
	bool parked;
	unsigned long gen;	/* bumped when the slot is freed: wakes its task */
};

DEFINE_STATIC_KEY_FALSE(cowlab_stops_key);
EXPORT_SYMBOL_GPL(cowlab_stops_key);

/* arm/release: under the mutex, which also flips the static key */
static DEFINE_MUTEX(cowlab_mutex);
/* the table: under the spinlock (arrivals come from atomic context too) */
static DEFINE_SPINLOCK(cowlab_lock);
static DECLARE_WAIT_QUEUE_HEAD(cowlab_wq);
static struct cowlab_hold cowlab_holds[COWLAB_MAX_HOLDS];
static unsigned int cowlab_in_use;

/* Under cowlab_lock: free slot h and wake its task if parked. */
static void cowlab_free(struct cowlab_hold *h)
{
	h->tid = 0;
	h->parked = false;
	WRITE_ONCE(h->gen, h->gen + 1);
	cowlab_in_use--;
}

/* Under cowlab_mutex: the key is on exactly while a slot is in use. */
static void cowlab_sync_key(void)
{
	bool on;

	spin_lock_irq(&cowlab_lock);
	on = cowlab_in_use > 0;
	spin_unlock_irq(&cowlab_lock);
	if (on && !static_key_enabled(&cowlab_stops_key))
		static_branch_enable(&cowlab_stops_key);
	else if (!on && static_key_enabled(&cowlab_stops_key))
		static_branch_disable(&cowlab_stops_key);
}

static void cowlab_key_workfn(struct work_struct *work)
{
	mutex_lock(&cowlab_mutex);
	cowlab_sync_key();
	mutex_unlock(&cowlab_mutex);
}
static DECLARE_WORK(cowlab_key_work, cowlab_key_workfn);

void __cowlab_stop(enum cowlab_stop stop, bool atomic)
{
	struct cowlab_hold *h = NULL;
	unsigned long flags, gen;
	pid_t tid = current->pid;
	bool released;
	int i;

	spin_lock_irqsave(&cowlab_lock, flags);
	for (i = 0; i < COWLAB_MAX_HOLDS; i++) {
		if (cowlab_holds[i].tid == tid && cowlab_holds[i].stage == stop &&
		    !cowlab_holds[i].parked) {
			h = &cowlab_holds[i];
			break;
		}
	}
	if (!h || --h->nth > 0) {
		spin_unlock_irqrestore(&cowlab_lock, flags);
		return;
	}
	h->parked = true;
	gen = h->gen;
	spin_unlock_irqrestore(&cowlab_lock, flags);

	if (atomic) {
		u64 end = ktime_get_ns() + (u64)COWLAB_PARK_TIMEOUT_S * NSEC_PER_SEC;

		while (READ_ONCE(h->gen) == gen && ktime_get_ns() < end) {
			touch_nmi_watchdog();
			cpu_relax();
		}
	} else {
		wait_event_killable_timeout(cowlab_wq, READ_ONCE(h->gen) != gen,
					    COWLAB_PARK_TIMEOUT_S * HZ);
	}

	spin_lock_irqsave(&cowlab_lock, flags);
	released = h->gen != gen;
	if (!released)
		cowlab_free(h);
	spin_unlock_irqrestore(&cowlab_lock, flags);
	if (!released) {
		pr_warn("cowlab: task %d parked at %s not released: going on after %d s or a fatal signal\n",
			tid, cowlab_stage_names[stop], COWLAB_PARK_TIMEOUT_S);
		schedule_work(&cowlab_key_work);
	}
}
EXPORT_SYMBOL_GPL(__cowlab_stop);

static int cowlab_stage(const char *name)
{
	int i;

	for (i = 0; i < COWLAB_NR_STOPS; i++)
		if (cowlab_stage_names[i] && !strcmp(cowlab_stage_names[i], name))
			return i;
	return -1;
}

static struct cowlab_hold *cowlab_find(pid_t tid)
{
	int i;

	for (i = 0; i < COWLAB_MAX_HOLDS; i++)
		if (cowlab_holds[i].tid == tid)
			return &cowlab_holds[i];
	return NULL;
}

static int cowlab_arm(const char *stage_name, pid_t tid, int nth)
{
	struct cowlab_hold *h;
	int stage = cowlab_stage(stage_name);
	int i;

	if (stage < 0 || tid <= 0 || nth < 1)
		return -EINVAL;
	spin_lock_irq(&cowlab_lock);
	h = cowlab_find(tid);
	if (h && h->parked) {
		/* re-arming a parked task releases it first */
		cowlab_free(h);
		h = NULL;
	}
	if (!h) {
		for (i = 0; i < COWLAB_MAX_HOLDS && !h; i++)
			if (!cowlab_holds[i].tid)
				h = &cowlab_holds[i];
		if (!h) {
			spin_unlock_irq(&cowlab_lock);
			wake_up_all(&cowlab_wq);
			return -EBUSY;
		}
		h->tid = tid;
		cowlab_in_use++;
	}
	h->stage = stage;
	h->nth = nth;
	h->parked = false;
	spin_unlock_irq(&cowlab_lock);
	wake_up_all(&cowlab_wq);
	return 0;
}

static int cowlab_release(pid_t tid)
{
	struct cowlab_hold *h;

	spin_lock_irq(&cowlab_lock);
	h = cowlab_find(tid);
	if (h)
		cowlab_free(h);
	spin_unlock_irq(&cowlab_lock);
	if (!h)
		return -ESRCH;
	wake_up_all(&cowlab_wq);
	return 0;
}

/* One command per write(2); a trailing newline is optional. */
static int cowlab_read_cmd(const char __user *ubuf, size_t count, char *buf, size_t size)
{
	if (count == 0 || count >= size)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	strim(buf);
	return 0;
}

static ssize_t cowlab_hold_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	char buf[96], stage[48], extra;
	int tid, nth, ret;

	ret = cowlab_read_cmd(ubuf, count, buf, sizeof(buf));
	if (ret)
		return ret;
	mutex_lock(&cowlab_mutex);
	if (sscanf(buf, "arm %47s %d %d %c", stage, &tid, &nth, &extra) == 3)
		ret = cowlab_arm(stage, tid, nth);
	else if (sscanf(buf, "release %d %c", &tid, &extra) == 1)
		ret = tid > 0 ? cowlab_release(tid) : -EINVAL;
	else
		ret = -EINVAL;
	cowlab_sync_key();
	mutex_unlock(&cowlab_mutex);
	return ret ? ret : count;
}

static int cowlab_parked_show(struct seq_file *m, void *v)
{
	struct { pid_t tid; enum cowlab_stop stage; } now[COWLAB_MAX_HOLDS];
	int i, n = 0;

	spin_lock_irq(&cowlab_lock);
	for (i = 0; i < COWLAB_MAX_HOLDS; i++) {
		if (cowlab_holds[i].tid && cowlab_holds[i].parked) {
			now[n].tid = cowlab_holds[i].tid;
			now[n].stage = cowlab_holds[i].stage;
			n++;
		}
	}
	spin_unlock_irq(&cowlab_lock);
	for (i = 0; i < n; i++)
		seq_printf(m, "%d %s\n", now[i].tid, cowlab_stage_names[now[i].stage]);
	return 0;
}

static int cowlab_stages_show(struct seq_file *m, void *v)
{
	int i;

	for (i = 0; i < COWLAB_NR_STOPS; i++)
		if (cowlab_stage_names[i])
			seq_printf(m, "%s\n", cowlab_stage_names[i]);
	return 0;
}

/* The VMAs task_numa_work() skips in this kernel (not its per-VMA access filter). */
#ifdef CONFIG_NUMA_BALANCING
static bool cowlab_numa_skip(struct vm_area_struct *vma)
{
	if (!vma_migratable(vma) || !vma_policy_mof(vma) ||
	    is_vm_hugetlb_page(vma) || (vma->vm_flags & VM_MIXEDMAP))
		return true;
	/* shared library pages: read-only file-backed mappings, the vdso */
	if (!vma->vm_mm ||
	    (vma->vm_file && (vma->vm_flags & (VM_READ|VM_WRITE)) == (VM_READ)))
		return true;
	return !vma_is_accessible(vma);
}

static int cowlab_numa_scan(unsigned long start, unsigned long end)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	@VMA_ITER_DECL@

	start &= PAGE_MASK;
	end = PAGE_ALIGN(end);
	if (!mm || start >= end)
		return -EINVAL;
	if (mmap_read_lock_killable(mm))
		return -EINTR;
	@VMA_LOOP@ {
		if (cowlab_numa_skip(vma))
			continue;
		change_prot_numa(vma, max(start, vma->vm_start), min(end, vma->vm_end));
	}
	mmap_read_unlock(mm);
	return 0;
}
#else
static int cowlab_numa_scan(unsigned long start, unsigned long end)
{
	return -EOPNOTSUPP;
}
#endif

static ssize_t cowlab_trigger_write(struct file *file, const char __user *ubuf,
				    size_t count, loff_t *ppos)
{
	char buf[96], *p, *word, *a, *b;
	unsigned long start, end;
	int ret;

	ret = cowlab_read_cmd(ubuf, count, buf, sizeof(buf));
	if (ret)
		return ret;
	p = buf;
	word = strsep(&p, " \t");
	if (!strcmp(word, "lru_drain") && !p) {
		lru_add_drain_all();
		return count;
	}
	if (strcmp(word, "numa_scan") || !p)
		return -EINVAL;
	a = strsep(&p, " \t");
	b = strsep(&p, " \t");
	if (!a || !b || p || kstrtoul(a, 0, &start) || kstrtoul(b, 0, &end) ||
	    end > TASK_SIZE)
		return -EINVAL;
	ret = cowlab_numa_scan(start, end);
	return ret ? ret : count;
}

static int cowlab_parked_open(struct inode *inode, struct file *file)
{
	return single_open(file, cowlab_parked_show, NULL);
}

static int cowlab_stages_open(struct inode *inode, struct file *file)
{
	return single_open(file, cowlab_stages_show, NULL);
}

static const struct file_operations cowlab_stages_fops = {
	.owner = THIS_MODULE,
	.open = cowlab_stages_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

static const struct file_operations cowlab_parked_fops = {
	.owner = THIS_MODULE,
	.open = cowlab_parked_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

static const struct file_operations cowlab_hold_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = cowlab_hold_write,
	.llseek = noop_llseek,
};

static const struct file_operations cowlab_trigger_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = cowlab_trigger_write,
	.llseek = noop_llseek,
};

static int __init cowlab_stops_init(void)
{
	struct dentry *dir = debugfs_create_dir("cowlab", NULL);

	debugfs_create_file("stages", 0444, dir, NULL, &cowlab_stages_fops);
	debugfs_create_file("hold", 0200, dir, NULL, &cowlab_hold_fops);
	debugfs_create_file("parked", 0444, dir, NULL, &cowlab_parked_fops);
	debugfs_create_file("trigger", 0200, dir, NULL, &cowlab_trigger_fops);
	return 0;
}
late_initcall(cowlab_stops_init);
