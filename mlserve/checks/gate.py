"""gate: passes once none of the stack's alarms is in ALARM; waits for them to settle up to a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from mlserve.checks import CheckError, ExitCode
from mlserve.checks.aws import Clients
from mlserve.checks.status import alarm_states


def gate(clients: Clients, *, names: Sequence[str], prefix: str | None, timeout_s: float, poll_s: float,
         sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> str:
    """Poll the alarms every `poll_s` until none is in ALARM (pass) or `timeout_s` passed (ALARM)."""
    deadline = clock() + timeout_s
    while True:
        states = alarm_states(clients, names=names, prefix=prefix)
        firing = sorted(name for name, state in states.items() if state == "ALARM")
        if not firing:
            return f"gate passed: none of {len(states)} alarms in ALARM"
        if clock() >= deadline:
            raise CheckError(ExitCode.ALARM, f"gate failed after {timeout_s:g} s: {len(firing)} alarm(s) in ALARM: "
                                             + ", ".join(firing))
        sleep(min(poll_s, max(0.0, deadline - clock())))
