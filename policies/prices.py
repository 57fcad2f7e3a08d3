"""The price table behind the cost estimate: on-demand list prices in USD, per region, dated and sourced.

Compiled on PRICES_AS_OF from the public AWS pricing pages in SOURCES (Linux, on-demand, no
Savings Plans or Reserved Instances, no free tier). They were not read live: this project has no
AWS access at plan time. Confirm a figure before trusting a budget to the cent, e.g.

    aws pricing get-products --region us-east-1 --service-code AmazonEC2 --filters \
      Type=TERM_MATCH,Field=instanceType,Value=g6.2xlarge Type=TERM_MATCH,Field=regionCode,Value=us-west-2 \
      Type=TERM_MATCH,Field=operatingSystem,Value=Linux Type=TERM_MATCH,Field=tenancy,Value=Shared \
      Type=TERM_MATCH,Field=preInstalledSw,Value=NA Type=TERM_MATCH,Field=capacitystatus,Value=Used

A region, instance type or service missing here is reported as unpriced (never guessed): add a row.
us-east-1 and us-west-2 list the same prices for every row below.
"""

from __future__ import annotations

PRICES_AS_OF = "2026-12-01"
SOURCES = {
    "ec2": "https://aws.amazon.com/ec2/pricing/on-demand/",
    "eks": "https://aws.amazon.com/eks/pricing/",
    "vpc": "https://aws.amazon.com/vpc/pricing/",
    "elb": "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "sagemaker": "https://aws.amazon.com/sagemaker/ai/pricing/",
    "s3": "https://aws.amazon.com/s3/pricing/",
    "ebs": "https://aws.amazon.com/ebs/pricing/",
    "ecr": "https://aws.amazon.com/ecr/pricing/",
    "kms": "https://aws.amazon.com/kms/pricing/",
}

HOURS_PER_MONTH = 730
"""AWS's own convention for monthly figures (8,760 h / 12)."""

SPOT_DISCOUNT = 0.60
"""Assumed saving of spot over on-demand. Spot prices move hourly per AZ (typically 50-90% off for
these families, https://aws.amazon.com/ec2/spot/instance-advisor/); 60% is a conservative middle."""

# EC2 on-demand, USD per instance-hour: every family the node pools may use (components/amis.py)
# that the shipped and example stacks name, plus neighbours a reviewer is likely to try.
_EC2_HOURLY = {
    "t3.medium": 0.0416, "t3.large": 0.0832,
    "m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384,
    "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384,
    "m6a.large": 0.0864, "m6a.xlarge": 0.1728,
    "m7i.large": 0.1008, "m7i.xlarge": 0.2016, "m7i.2xlarge": 0.4032,
    "m7a.large": 0.11592, "m7a.xlarge": 0.23184,
    "m7g.large": 0.0816, "m7g.xlarge": 0.1632,
    "c6i.large": 0.085, "c6i.xlarge": 0.17, "c7i.large": 0.08925, "c7i.xlarge": 0.1785,
    "r6i.large": 0.126, "r6i.xlarge": 0.252,
    "g4dn.xlarge": 0.526, "g4dn.2xlarge": 0.752,
    "g5.xlarge": 1.006, "g5.2xlarge": 1.212, "g5.4xlarge": 1.624,
    "g6.xlarge": 0.8048, "g6.2xlarge": 0.9776, "g6.4xlarge": 1.3232, "g6.8xlarge": 2.0144,
    "g6e.xlarge": 1.861, "g6e.2xlarge": 2.24208,
}
# SageMaker real-time inference, USD per instance-hour.
_SAGEMAKER_HOURLY = {
    "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.c5.xlarge": 0.204,
    "ml.g4dn.xlarge": 0.7364, "ml.g5.xlarge": 1.408, "ml.g5.2xlarge": 1.515,
}
_SERVICES = {
    "eks_cluster_hour": 0.10,            # standard support
    "eks_cluster_extended_hour": 0.60,   # extended support (the version past its standard support end)
    "nat_gateway_hour": 0.045,
    "nat_gateway_gb": 0.045,             # data processed
    "public_ipv4_hour": 0.005,           # each Elastic IP (the NAT gateways' ones), since Feb 2024
    "interface_endpoint_az_hour": 0.01,  # PrivateLink interface endpoint, per AZ
    "nlb_hour": 0.0225,
    "nlb_lcu_hour": 0.006,
    "ebs_gp3_gb_month": 0.08,
    "s3_standard_gb_month": 0.023,
    "ecr_gb_month": 0.10,
    "kms_key_month": 1.00,
}

REGIONS = {
    region: {"ec2": _EC2_HOURLY, "sagemaker": _SAGEMAKER_HOURLY, "services": _SERVICES}
    for region in ("us-east-1", "us-west-2")
}
"""Region -> {"ec2": type -> $/h, "sagemaker": type -> $/h, "services": item -> $}."""
