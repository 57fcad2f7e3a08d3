"""The VPC section of the settings (`mlserve:network`)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import field_validator

from mlserve.stack.settings.base import RetentionDays, _Model


class NetworkSettings(_Model):
    """The VPC: public and private subnets in each zone, NAT egress, interface endpoints, flow logs."""

    vpc_cidr: str = "10.20.0.0/16"
    """The VPC's IPv4 block (pods take VPC addresses with the VPC CNI, hence a large one)."""
    availability_zones: list[str]
    """Zones of `region` to spread subnets and nodes over."""
    nat_gateways: Literal["single", "one-per-az"] = "single"
    """`single`: one NAT gateway (cheap, dev); `one-per-az`: each zone keeps egress if another fails (prod)."""
    flow_logs_retention_days: RetentionDays = 30
    """Retention of the VPC flow log group."""

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        """a private (RFC 1918) IPv4 block, /16 to /20"""
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
        """2 or 3 distinct zones (EKS needs 2; a third adds HA)"""
        if not 2 <= len(zones) <= 3:
            raise ValueError(f"2 or 3 availability zones allowed (EKS needs 2; a third adds HA), got {len(zones)}")
        if len(set(zones)) != len(zones):
            raise ValueError("availability zones must be distinct")
        return zones
