"""The regions AWS has, from botocore's endpoint data (`botocore/data/endpoints.json`, every
partition: aws, aws-cn, aws-us-gov, ...), so a typo (`us-west-9`) fails before anything is
declared instead of at the first API call. The list moves with the pinned botocore."""

from __future__ import annotations

import difflib
from functools import lru_cache


@lru_cache(maxsize=1)
def aws_regions() -> frozenset[str]:
    """Every region of every partition in botocore's endpoint data."""
    import botocore.loaders

    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    return frozenset(region for partition in endpoints["partitions"] for region in partition["regions"])


def check_region(region: str) -> str:
    """`region` if AWS has it; else ValueError naming the closest regions."""
    regions = aws_regions()
    if region in regions:
        return region
    import botocore

    close = difflib.get_close_matches(region, sorted(regions), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close[:-1]) + ' or ' if len(close) > 1 else ''}{close[-1]}? " if close else ""
    raise ValueError(f"not a region AWS has; {hint}(the {len(regions)} regions of botocore {botocore.__version__}'s "
                     "endpoint data are accepted)")
