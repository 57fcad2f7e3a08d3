"""cluster-autoscaler decisions as plain functions: no Pulumi engine needed.

What the installed release and its IAM role look like is tested through ClusterAddons in
test_cluster_addons.py.
"""

from __future__ import annotations

import re

import pytest

from components.autoscaler import AUTOSCALER_IMAGE_TAGS, autoscaler_image_tag


def test_every_pinned_autoscaler_image_matches_its_minor():
    for minor, tag in AUTOSCALER_IMAGE_TAGS.items():
        assert re.fullmatch(rf"v{re.escape(minor)}\.\d+", tag), f"{minor} -> {tag}"


@pytest.mark.parametrize("unknown", ["1.29", "1.99", "1.34.2", "latest"])
def test_an_unknown_kubernetes_minor_is_named_in_the_error(unknown):
    with pytest.raises(ValueError, match=re.escape(repr(unknown))):
        autoscaler_image_tag(unknown)
