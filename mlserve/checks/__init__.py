"""Post-deploy checks: `python -m mlserve.checks smoke|status|gate` (docs/operations.md "Post-deploy checks").

- smoke: sends the model's sample rows to the deployed target (SageMaker runtime or the EKS
  ingress URL) and checks the answer's shape and the model version that answered;
- status: variant weights and instance counts of the endpoint, the EKS Canary's phase and weight
  (`rollout.mode: automatic`), and the stack's alarm states;
- gate: waits for an automatic EKS rollout to be promoted (or fails on its rollback), then exits
  non-zero while any of the stack's alarms is in ALARM, waiting up to a timeout.

Each failure is one line on stderr and a distinct exit code (`ExitCode`), so a pipeline can tell
"no credentials" from "the canary answers wrongly".
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a check's exit status means."""

    OK = 0
    ALARM = 1
    """gate: an alarm was still in ALARM at the timeout."""
    USAGE = 2
    """Bad arguments or an unreadable sample/outputs file (argparse uses 2 too)."""
    NO_CREDENTIALS = 3
    """No AWS credentials, or credentials AWS refuses."""
    NOT_FOUND = 4
    """The endpoint, a variant or the stack's alarms do not exist."""
    THROTTLED = 5
    """AWS kept throttling after the retries."""
    WRONG_ANSWER = 6
    """The target answered, but not with one prediction per row from the expected version."""
    UNREACHABLE = 7
    """The EKS URL did not answer (connection refused, timeout, TLS)."""
    AWS_ERROR = 8
    """Any other AWS error."""
    NOT_READY = 9
    """The endpoint exists but is not InService (creating, updating, failed), or an EKS rollout
    (Flagger's Canary) was still under way at the timeout."""
    ROLLED_BACK = 10
    """gate: the new version was rolled back (Flagger's Canary Failed)."""


class CheckError(Exception):
    """A check failed: `code` is the exit status, the message is the one line printed."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
