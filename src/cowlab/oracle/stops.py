"""Placeholder until the stops table lands (issue 15)."""

HOLDABLE = frozenset(
    {
        "migrate.unmapped",
        "do_numa_page.target_chosen",
        "gup.follow_page",
        "gup.faultin",
        "reclaim.swapcache",
        "fork.copy_page_range",
    }
)
