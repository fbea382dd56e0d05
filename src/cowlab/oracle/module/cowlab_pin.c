// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * cowlab_pin: a test device for the cowlab oracle.
 *
 * It plays the driver of cowlab's scenarios: it takes GUP references on a
 * range of the calling process's memory with exactly the flags a scenario
 * names (FOLL_WRITE, FOLL_FORCE, FOLL_LONGTERM; GUP-fast or the slow path;
 * FOLL_PIN through pin_user_pages*() or FOLL_GET through get_user_pages*()),
 * reports the PFNs it got, reads and writes those pages through the kernel's
 * mapping of them (the device's DMA) and releases them.  User space has no
 * other way to take, say, a FOLL_FORCE long-term pin or a R/O long-term pin
 * on a Debian kernel (no CONFIG_GUP_TEST there).
 *
 * Interface: cowlab_pin_abi.h.  One open file holds at most one pin.  The pin
 * goes with COWLAB_PIN_IOC_UNPIN, when the process that took it closes the
 * file (its exit included: a child that inherited the descriptor keeps
 * nothing alive), or at the last close.
 *
 * Built against 5.10, 6.1 and 6.12; the GUP calls changed in between:
 *  - pin_user_pages() and get_user_pages() lost their vmas argument in 6.5;
 *  - kmap_local_page() exists from 5.11 (kmap_atomic() before).
 * Both slow-path calls want mmap_lock held for read on all three.
 */
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "cowlab_pin_abi.h"

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 11, 0)
#define cowlab_kmap(page) kmap_local_page(page)
#define cowlab_kunmap(addr) kunmap_local(addr)
#else
#define cowlab_kmap(page) kmap_atomic(page)
#define cowlab_kunmap(addr) kunmap_atomic(addr)
#endif

struct cowlab_pin {
	struct mutex lock;
	struct page **pages;	/* NULL: no pin held */
	unsigned long npages;
	unsigned int flags;	/* COWLAB_PIN_* */
	bool dirty;		/* the device wrote through the pin */
	struct pid *owner;	/* thread group that took the pin */
};

static long slow_gup(unsigned long addr, unsigned long npages, unsigned int gup,
		     bool get, struct page **pages)
{
	long ret;

	mmap_read_lock(current->mm);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	ret = get ? get_user_pages(addr, npages, gup, pages) :
		    pin_user_pages(addr, npages, gup, pages);
#else
	ret = get ? get_user_pages(addr, npages, gup, pages, NULL) :
		    pin_user_pages(addr, npages, gup, pages, NULL);
#endif
	mmap_read_unlock(current->mm);
	return ret;
}

static void put_pages(struct page **pages, unsigned long npages, bool get, bool dirty)
{
	unsigned long i;

	if (!get) {
		unpin_user_pages_dirty_lock(pages, npages, dirty);
		return;
	}
	for (i = 0; i < npages; i++) {
		if (dirty)
			set_page_dirty_lock(pages[i]);
		put_page(pages[i]);
	}
}

/* Under pin->lock. */
static void release_pin(struct cowlab_pin *pin)
{
	if (!pin->pages)
		return;
	put_pages(pin->pages, pin->npages, pin->flags & COWLAB_PIN_GET, pin->dirty);
	kvfree(pin->pages);
	pin->pages = NULL;
	pin->npages = 0;
	pin->dirty = false;
	put_pid(pin->owner);
	pin->owner = NULL;
}

static long do_pin(struct cowlab_pin *pin, void __user *arg)
{
	struct cowlab_pin_req req;
	unsigned int gup = 0;
	struct page **pages;
	bool get;
	unsigned long i;
	long ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags & ~COWLAB_PIN_ALL_FLAGS)
		return -EINVAL;
	if (!req.npages || req.npages > COWLAB_PIN_MAX_PAGES || req.addr & ~PAGE_MASK)
		return -EINVAL;
	get = req.flags & COWLAB_PIN_GET;
	/* FOLL_LONGTERM needs FOLL_PIN: get_user_pages*() refuses it (with a WARN) */
	if (get && req.flags & COWLAB_PIN_LONGTERM)
		return -EINVAL;
	if (pin->pages)
		return -EBUSY;
	if (req.flags & COWLAB_PIN_WRITE)
		gup |= FOLL_WRITE;
	if (req.flags & COWLAB_PIN_FORCE)
		gup |= FOLL_FORCE;
	if (req.flags & COWLAB_PIN_LONGTERM)
		gup |= FOLL_LONGTERM;

	pages = kvcalloc(req.npages, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	if (req.flags & COWLAB_PIN_FAST)
		ret = get ? get_user_pages_fast(req.addr, req.npages, gup, pages) :
			    pin_user_pages_fast(req.addr, req.npages, gup, pages);
	else
		ret = slow_gup(req.addr, req.npages, gup, get, pages);
	if (ret >= 0 && ret < req.npages) {
		put_pages(pages, ret, get, false);
		ret = -EFAULT;
	}
	if (ret < 0) {
		kvfree(pages);
		return ret;
	}
	for (i = 0; req.pfns && i < req.npages; i++) {
		__u64 pfn = page_to_pfn(pages[i]);

		if (copy_to_user((void __user *)(uintptr_t)(req.pfns + i * sizeof(pfn)), &pfn,
				 sizeof(pfn))) {
			put_pages(pages, req.npages, get, false);
			kvfree(pages);
			return -EFAULT;
		}
	}
	req.pinned = req.npages;
	if (copy_to_user(arg, &req, sizeof(req))) {
		put_pages(pages, req.npages, get, false);
		kvfree(pages);
		return -EFAULT;
	}
	pin->pages = pages;
	pin->npages = req.npages;
	pin->flags = req.flags;
	pin->dirty = false;
	pin->owner = get_pid(task_tgid(current));
	return 0;
}

/* The device's DMA: a copy between a pinned page and a user buffer. */
static long do_io(struct cowlab_pin *pin, void __user *arg, bool to_page)
{
	struct cowlab_pin_io io;
	void *buf, *kaddr;
	long ret = 0;

	if (copy_from_user(&io, arg, sizeof(io)))
		return -EFAULT;
	if (!pin->pages)
		return -ENOENT;
	if (io.page >= pin->npages || io.offset >= PAGE_SIZE || io.len > PAGE_SIZE - io.offset)
		return -EINVAL;
	/* a page pinned without FOLL_WRITE may be shared: never write it */
	if (to_page && !(pin->flags & COWLAB_PIN_WRITE))
		return -EPERM;
	buf = kmalloc(io.len ? io.len : 1, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (to_page) {
		if (copy_from_user(buf, (void __user *)(uintptr_t)io.buf, io.len)) {
			ret = -EFAULT;
			goto out;
		}
		kaddr = cowlab_kmap(pin->pages[io.page]);
		memcpy(kaddr + io.offset, buf, io.len);
		cowlab_kunmap(kaddr);
		flush_dcache_page(pin->pages[io.page]);
		pin->dirty = true;
	} else {
		kaddr = cowlab_kmap(pin->pages[io.page]);
		memcpy(buf, kaddr + io.offset, io.len);
		cowlab_kunmap(kaddr);
		if (copy_to_user((void __user *)(uintptr_t)io.buf, buf, io.len))
			ret = -EFAULT;
	}
out:
	kfree(buf);
	return ret;
}

static long cowlab_pin_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct cowlab_pin *pin = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct cowlab_pin_info info = {
		.abi = COWLAB_PIN_ABI,
		.linux_version = LINUX_VERSION_CODE,
		.page_size = PAGE_SIZE,
	};
	long ret;

	if (cmd == COWLAB_PIN_IOC_INFO)
		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	mutex_lock(&pin->lock);
	switch (cmd) {
	case COWLAB_PIN_IOC_PIN:
		ret = do_pin(pin, uarg);
		break;
	case COWLAB_PIN_IOC_READ:
		ret = do_io(pin, uarg, false);
		break;
	case COWLAB_PIN_IOC_WRITE:
		ret = do_io(pin, uarg, true);
		break;
	case COWLAB_PIN_IOC_UNPIN:
		ret = pin->pages ? 0 : -ENOENT;
		release_pin(pin);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&pin->lock);
	return ret;
}

static int cowlab_pin_open(struct inode *inode, struct file *file)
{
	struct cowlab_pin *pin = kzalloc(sizeof(*pin), GFP_KERNEL);

	if (!pin)
		return -ENOMEM;
	mutex_init(&pin->lock);
	file->private_data = pin;
	return 0;
}

/* Every close(), exit included: the pinning process going away releases its pin. */
static int cowlab_pin_flush(struct file *file, fl_owner_t id)
{
	struct cowlab_pin *pin = file->private_data;

	mutex_lock(&pin->lock);
	if (pin->pages && pin->owner == task_tgid(current))
		release_pin(pin);
	mutex_unlock(&pin->lock);
	return 0;
}

static int cowlab_pin_release(struct inode *inode, struct file *file)
{
	struct cowlab_pin *pin = file->private_data;

	mutex_lock(&pin->lock);
	release_pin(pin);
	mutex_unlock(&pin->lock);
	mutex_destroy(&pin->lock);
	kfree(pin);
	return 0;
}

static const struct file_operations cowlab_pin_fops = {
	.owner = THIS_MODULE,
	.open = cowlab_pin_open,
	.flush = cowlab_pin_flush,
	.release = cowlab_pin_release,
	.unlocked_ioctl = cowlab_pin_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice cowlab_pin_device = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = COWLAB_PIN_NAME,
	.fops = &cowlab_pin_fops,
	.mode = 0666,
};

module_misc_device(cowlab_pin_device);

MODULE_DESCRIPTION("cowlab oracle: GUP pins with chosen flags, and a device that reads and writes them");
MODULE_AUTHOR("the cowlab authors");
MODULE_LICENSE("Dual MIT/GPL");
