# SPDX-License-Identifier: GPL-2.0
def preamble(branch, debian, points):
    return f"""SPDX-License-Identifier: GPL-2.0
From: cowlab
Subject: [PATCH] mm: cowlab stops, test-only holds at the model's stages

Test-only instrumentation for cowlab's oracle (issue 15), applied to Debian's
linux-source-{branch} {debian} at build time by `cowlab oracle build-kernel
--variant {branch}-stops` (never to Debian's own kernels).  It adds
/sys/kernel/debug/cowlab/ (stages, hold, parked, trigger; mm/cowlab_stops.c)
and one injection point per stage of cowlab's model, each a static branch
that is off unless a hold is armed:

{points}
A task parks at its armed arrival until `release TID`; sleepable points wait
on a waitqueue, the fork point (under the page table locks) busy-waits; every
park gives up after 30 s with a warning.  The stage table is
src/cowlab/oracle/stops.py.
"""
