"""The `alarms` section: thresholds of the model-health alarms (both targets), who is told,
and whether alarms page (prod) or only record (dev)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mlserve.stack.settings.base import _Model


class Subscription(_Model):
    """One subscriber of the stack's alarm topic."""

    protocol: Literal["email", "https"]
    """How SNS delivers: `email` (the address confirms the subscription) or `https`."""
    endpoint: str = Field(min_length=3)
    """An e-mail address, or an https:// URL (PagerDuty, Opsgenie, a chat webhook)."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        """an e-mail address for `email`, an `https://` URL for `https`"""
        if "@" not in value and not value.startswith("https://"):
            raise ValueError("an e-mail address (protocol email) or an https:// URL (protocol https)")
        return value


class AlarmSettings(_Model):
    """Thresholds with defaults for a CPU model answering in milliseconds."""

    actions_enabled: bool = False
    """True: alarms notify the topic (prod pages). False: alarms only record state (dev)."""
    subscriptions: list[Subscription] = Field(default_factory=list)
    """Who the stack's alarm topic notifies."""
    p99_latency_ms: float = Field(default=250, gt=0, le=60_000)
    """Model latency p99 above this for `evaluationPeriods` minutes alarms (per variant/track)."""
    overhead_latency_ms: float = Field(default=100, gt=0, le=60_000)
    """SageMaker's overhead latency p99 (its routing and payload transfer, not the model) above this
    for `evaluationPeriods` minutes alarms (per variant; pages, does not roll back)."""
    # Aliases spelled as the docs do: to_camel would make these "error5XxPercent".
    error_5xx_percent: float = Field(default=2, gt=0, le=100, alias="error5xxPercent")
    """Share of requests answered 5xx above this alarms, and rolls a new version back: SageMaker's
    guardrails on this alarm, Flagger's analysis below 100 minus this success rate (default 2: the
    field's "error rate above 2%, roll back")."""
    error_4xx_percent: float = Field(default=10, gt=0, le=100, alias="error4xxPercent")
    """Share of requests answered 4xx above this alarms (a client or schema change)."""
    cpu_percent: float = Field(default=85, gt=0, le=100)
    """Average CPU use of the variant's instances (all cores) above this alarms."""
    gpu_percent: float = Field(default=90, gt=0, le=100)
    """Average GPU use (GPU instance variants only) above this alarms."""
    pod_restarts: int = Field(default=3, ge=1, le=1000)
    """Container restarts of the serving pods within 5 minutes above this alarms (EKS)."""
    evaluation_periods: int = Field(default=3, ge=1, le=60)
    """Consecutive 1-minute periods over a threshold before ALARM."""
