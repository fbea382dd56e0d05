/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The ioctl interface of /dev/cowlab_pin, shared by the module (cowlab_pin.c)
 * and the oracle's C programs, which paste this file verbatim.
 *
 * One open file holds at most one pin: a range of user pages of the process
 * that pinned it, taken with the GUP flags it asked for.  The device then reads
 * and writes the pinned pages through the kernel's own mapping of them (its
 * "DMA"), never through the process's page table.
 */
#ifndef COWLAB_PIN_ABI_H
#define COWLAB_PIN_ABI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define COWLAB_PIN_NAME "cowlab_pin"
#define COWLAB_PIN_ABI 1
#define COWLAB_PIN_MAX_PAGES 512

/* struct cowlab_pin_req.flags */
#define COWLAB_PIN_WRITE (1u << 0)	/* FOLL_WRITE */
#define COWLAB_PIN_FORCE (1u << 1)	/* FOLL_FORCE */
#define COWLAB_PIN_LONGTERM (1u << 2)	/* FOLL_LONGTERM (FOLL_PIN only) */
#define COWLAB_PIN_FAST (1u << 3)	/* GUP-fast: *_user_pages_fast() */
#define COWLAB_PIN_GET (1u << 4)	/* FOLL_GET: get_user_pages*(), else FOLL_PIN: pin_user_pages*() */
#define COWLAB_PIN_ALL_FLAGS 0x1fu

struct cowlab_pin_req {
	__u64 addr;	/* page-aligned start, in the calling process */
	__u64 npages;	/* 1..COWLAB_PIN_MAX_PAGES */
	__u64 pfns;	/* out: user pointer to npages __u64 PFNs, or 0 */
	__u32 flags;	/* COWLAB_PIN_* */
	__u32 pinned;	/* out: pages pinned (all of them, or the ioctl fails) */
};

/* one transfer between a pinned page and a user buffer */
struct cowlab_pin_io {
	__u64 page;	/* index in the pinned range */
	__u64 offset;	/* byte offset in that page */
	__u64 len;	/* offset + len <= the page size */
	__u64 buf;	/* user pointer */
};

struct cowlab_pin_info {
	__u32 abi;		/* COWLAB_PIN_ABI */
	__u32 linux_version;	/* LINUX_VERSION_CODE the module was built for */
	__u64 page_size;
};

#define COWLAB_PIN_IOC_MAGIC 0xC7
#define COWLAB_PIN_IOC_INFO _IOR(COWLAB_PIN_IOC_MAGIC, 0, struct cowlab_pin_info)
/* pin: EBUSY if this file holds a pin; EINVAL for FOLL_GET with FOLL_LONGTERM */
#define COWLAB_PIN_IOC_PIN _IOWR(COWLAB_PIN_IOC_MAGIC, 1, struct cowlab_pin_req)
/* the device reads the pinned page into buf */
#define COWLAB_PIN_IOC_READ _IOW(COWLAB_PIN_IOC_MAGIC, 2, struct cowlab_pin_io)
/* the device writes buf into the pinned page: EPERM without COWLAB_PIN_WRITE */
#define COWLAB_PIN_IOC_WRITE _IOW(COWLAB_PIN_IOC_MAGIC, 3, struct cowlab_pin_io)
/* release the pin (marking the pages dirty if the device wrote them) */
#define COWLAB_PIN_IOC_UNPIN _IO(COWLAB_PIN_IOC_MAGIC, 4)

#endif
