/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowlab stops: test-only injection points named after cowlab's model stages,
 * where a test holds one task until it releases it (mm/cowlab_stops.c).
 * Off by default: each point is one static branch, enabled only while a hold
 * is armed.
 */
#ifndef _LINUX_COWLAB_STOPS_H
#define _LINUX_COWLAB_STOPS_H

#include <linux/jump_label.h>
#include <linux/types.h>

enum cowlab_stop {
@ENUM@
	COWLAB_NR_STOPS,
};

DECLARE_STATIC_KEY_FALSE(cowlab_stops_key);

void __cowlab_stop(enum cowlab_stop stop, bool atomic);

/* A point where the task may sleep: it parks on a waitqueue. */
static __always_inline void cowlab_stop(enum cowlab_stop stop)
{
	if (static_branch_unlikely(&cowlab_stops_key))
		__cowlab_stop(stop, false);
}

/* A point under a spinlock (preemption off): it parks busy-waiting. */
static __always_inline void cowlab_stop_atomic(enum cowlab_stop stop)
{
	if (static_branch_unlikely(&cowlab_stops_key))
		__cowlab_stop(stop, true);
}

#endif /* _LINUX_COWLAB_STOPS_H */
