"""Fixtures for the ClusterAddons tests (test_cluster_addons*.py)."""

import pytest

from tests.components.addons_support import make_build


@pytest.fixture
def build(run_pulumi):
    """Build ClusterAddons with explicit AWS and Kubernetes providers; return the Plan."""
    return make_build(run_pulumi)


@pytest.fixture
def plan(build):
    return build()
