"""Post-deploy checks: `python -m mlserve.checks smoke|status|gate` (docs/operations.md "Post-deploy checks").

- smoke: sends the model's sample rows to the deployed target (SageMaker runtime or the EKS
  ingress URL) and checks the answer's shape and the model version that answered;
- status: variant weights and instance counts of the endpoint, the EKS Canary's phase and weight
  (`rollout.mode: automatic`), and the stack's alarm states;
- gate: waits for an automatic EKS rollout to be promoted, and for the endpoint to be InService on the
  deployed configuration and version, then for every alarm of the stack to have data and stay OK for a
  window; a rollback (on either target), a timeout, an alarm still firing each have their own exit code.

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
    """The endpoint, a variant or one of the stack's alarms does not exist (the message names it)."""
    THROTTLED = 5
    """AWS kept throttling after the retries."""
    WRONG_ANSWER = 6
    """The target answered, but not with one prediction per row from the expected version, or the
    model answered an error (HTTP 5xx on EKS, ModelError on SageMaker), or the wrong version serves."""
    UNREACHABLE = 7
    """The EKS URL did not answer (connection refused, timeout, TLS)."""
    AWS_ERROR = 8
    """Any other AWS error."""
    NOT_READY = 9
    """The endpoint exists but is not InService (smoke), or is Failed / OutOfService (gate, smoke)."""
    ROLLED_BACK = 10
    """gate: a rollback: the endpoint is RollingBack or InService on another configuration than
    deployed, or Flagger's Canary Failed."""
    TIMEOUT = 11
    """gate: at the timeout, still updating (the endpoint, or Flagger's Canary still progressing), or
    alarms without data or not yet OK for the whole window."""


class CheckError(Exception):
    """A check failed: `code` is the exit status, the message is the one line printed."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
