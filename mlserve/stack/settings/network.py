"""The VPC section of the settings (`mlserve:network`)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import field_validator

from mlserve.stack.settings.base import RetentionDays, _Model


class NetworkSettings(_Model):
    """The VPC. `natGateways`: "single" (one NAT, cheap, dev) or "one-per-az" (HA, prod)."""

    vpc_cidr: str = "10.20.0.0/16"
    availability_zones: list[str]
    nat_gateways: Literal["single", "one-per-az"] = "single"
    flow_logs_retention_days: RetentionDays = 30

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            raise ValueError(f"not an IPv4 CIDR block such as 10.20.0.0/16 ({error})") from None
        if not 16 <= network.prefixlen <= 20:
            raise ValueError("the VPC needs a /16 to /20 block (pods take VPC addresses with the VPC CNI)")
        if not network.is_private:
            raise ValueError("use a private range (RFC 1918): 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        return value

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, zones: list[str]) -> list[str]:
        if not 2 <= len(zones) <= 3:
            raise ValueError(f"2 or 3 availability zones allowed (EKS needs 2; a third adds HA), got {len(zones)}")
        if len(set(zones)) != len(zones):
            raise ValueError("availability zones must be distinct")
        return zones
