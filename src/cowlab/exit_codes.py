"""What the ``cowlab`` command's exit status means: one meaning per code, so that a
script, a CI job or ``bisect`` can tell a finding from a crash.

A crash is never a finding: an exception nobody expected exits with ``INTERNAL``, not
with ``BROKEN``; a ``ModelBugError`` (the model reached a state the kernel never could)
exits with ``MODEL_BUG``, like a failed sanity check.
"""

from __future__ import annotations

#: every promise held (check: no promise broke within the bounds)
HELD = 0
#: a promise broke (oracle: the model and a real kernel disagree)
BROKEN = 1
#: bad input: a scenario, configuration, argument or checkpoint that cannot be used
BAD_INPUT = 2
#: stopped by a limit before an answer (oracle: no kernel gave a verdict)
LIMIT = 3
#: a bug in cowlab's model: a sanity check failed or a kernel path raised ModelBugError
MODEL_BUG = 4
#: any other internal error (a bug in cowlab outside the model)
INTERNAL = 5
#: stopped by SIGINT
INTERRUPTED = 130

#: the text each command's help ends with
EXIT_HELP = (
    f"Exit status: {HELD} every promise held (check: within the bounds), {BROKEN} a promise "
    f"broke, {BAD_INPUT} bad input, {LIMIT} stopped by a limit before an answer, "
    f"{MODEL_BUG} a bug in cowlab's model, {INTERNAL} any other internal error, "
    f"{INTERRUPTED} interrupted."
)
