"""VPC rules: flow logs on every VPC, the default security group closed, no public IPs by default,
security groups described and never open to the whole internet."""

from __future__ import annotations

import ipaddress

from policies.rules import as_list, depends_on, get, resource_rule, stack_rule, truthy

VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
RULE_TYPES = (SECURITY_GROUP_RULE, INGRESS_RULE, EGRESS_RULE)
# What pulumi-aws writes when a security group is given no description.
PULUMI_DEFAULT_DESCRIPTION = "Managed by Pulumi"


def _flow_logs(args):
    """Each VPC has a flow log whose vpcId comes from that VPC and that records ALL traffic (a REJECT-only
    log misses every accepted connection; a log on another VPC or a subnet covers nothing of this one)."""
    logs = [r for r in args.resources if r.resource_type == FLOW_LOG]
    for vpc in (r for r in args.resources if r.resource_type == VPC):
        mine = [log for log in logs if depends_on(log, "vpcId", vpc.urn)]
        if not mine:
            yield f"VPC {vpc.name} has no flow log: declare an aws.ec2.FlowLog with vpcId = this VPC's id and trafficType ALL", vpc.urn
        elif not any(get(log.props, "trafficType") == "ALL" for log in mine):
            kinds = sorted({str(get(log.props, "trafficType")) for log in mine})
            yield f"the flow logs of VPC {vpc.name} record only {kinds} traffic: set trafficType ALL", vpc.urn


def _default_group_closed(args):
    """The default security group of each VPC is managed by the stack and has no rules: AWS gives it
    "all traffic from members, all egress", and anything launched without a group lands in it."""
    defaults = [r for r in args.resources if r.resource_type == DEFAULT_SECURITY_GROUP]
    for vpc in (r for r in args.resources if r.resource_type == VPC):
        mine = [d for d in defaults if depends_on(d, "vpcId", vpc.urn)]
        if not mine:
            yield (f"VPC {vpc.name}'s default security group is not managed: declare an aws.ec2.DefaultSecurityGroup "
                   "for it with ingress = [] and egress = []"), vpc.urn
    for group in defaults:
        open_ = [key for key in ("ingress", "egress") if as_list(group.props.get(key))]
        if open_:
            yield f"default security group {group.name} has {open_} rules: set them to [] (use a group of your own)", group.urn
    for rule in (r for r in args.resources if r.resource_type in RULE_TYPES):
        if any(dep.resource_type == DEFAULT_SECURITY_GROUP for dep in (rule.property_dependencies or {}).get("securityGroupId", [])):
            yield f"{rule.name} adds a rule to a default security group: attach it to a security group of your own", rule.urn


def _no_public_ip(props, _args):
    if truthy(props.get("mapPublicIpOnLaunch")):
        yield ("mapPublicIpOnLaunch is true: every instance launched here gets a public IP; set false (NAT gateways "
               "and load balancers get their addresses explicitly)")


def _is_world(cidr) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def _all_ports(rule) -> bool:
    protocol = str(get(rule, "protocol", get(rule, "ipProtocol", "")))
    ports = (get(rule, "fromPort"), get(rule, "toPort"))
    return protocol in ("-1", "all") or (ports[0] is not None and float(ports[0]) <= 0 and float(ports[1] or 0) >= 65535)


def _world(rule) -> list[str]:
    cidrs = as_list(get(rule, "cidrBlocks")) + as_list(get(rule, "ipv6CidrBlocks")) + \
        [c for c in (get(rule, "cidrIpv4"), get(rule, "cidrIpv6")) if c]
    return [str(c) for c in cidrs if _is_world(c)]


def _rules_of(resource_type, props):
    """(direction, rule) of a group's inline rules or of one rule resource."""
    if resource_type == SECURITY_GROUP:
        return [("ingress", r) for r in as_list(props.get("ingress"))] + [("egress", r) for r in as_list(props.get("egress"))]
    if resource_type == SECURITY_GROUP_RULE:
        return [(str(props.get("type")), props)]
    return [("ingress" if resource_type == INGRESS_RULE else "egress", props)]


def _not_world(props, args):
    for direction, rule in _rules_of(args.resource_type, props):
        world = _world(rule)
        if world and direction == "ingress":
            yield (f"ingress from {world} (ports {get(rule, 'fromPort')}-{get(rule, 'toPort')}): admit only the VPC, "
                   "a peer range or a security group")
        elif world and direction == "egress" and _all_ports(rule):
            yield f"egress to {world} on every port: allow only the ports and ranges the workload calls"


def _described(props, args):
    if args.resource_type == SECURITY_GROUP:
        if props.get("description") in (None, "", PULUMI_DEFAULT_DESCRIPTION):
            yield "set description: say what the security group admits and for whom"
    for direction, rule in _rules_of(args.resource_type, props):
        if not get(rule, "description"):
            yield f"an {direction} rule ({get(rule, 'fromPort')}-{get(rule, 'toPort')}) has no description: say why it is open"


RULES = [
    stack_rule("vpc-flow-logs-enabled",
               "Every VPC has a flow log on that VPC recording ALL traffic (Checkov CKV2_AWS_11, CIS AWS Foundations 3.9).",
               _flow_logs),
    stack_rule("vpc-default-security-group-closed",
               "Every VPC's default security group is managed and has no rules (Checkov CKV2_AWS_12, CIS AWS Foundations 5.4).",
               _default_group_closed),
    resource_rule("subnet-no-public-ip-on-launch",
                  "Subnets do not give instances a public IP by default (Checkov CKV_AWS_130).",
                  [SUBNET], _no_public_ip),
    resource_rule("security-group-not-open-to-world",
                  "Security groups admit nothing from 0.0.0.0/0 or ::/0 and send nothing everywhere on every port "
                  "(Checkov CKV_AWS_24, CKV_AWS_25, CKV_AWS_260, CKV_AWS_277, CKV_AWS_382).",
                  [SECURITY_GROUP, *RULE_TYPES], _not_world),
    resource_rule("security-group-rules-described",
                  "Security groups and each of their rules carry a description (Checkov CKV_AWS_23).",
                  [SECURITY_GROUP, *RULE_TYPES], _described),
]
