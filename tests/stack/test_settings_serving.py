"""The `serving` and `mesh` sections: defaults from the server, pools that exist, GPUs on GPU pools."""

from __future__ import annotations

import pytest

from mlserve.stack.settings import parse
from mlserve.stack.settings.serving import (
    ServerLimits,
    cpu_millicores,
    memory_mebibytes,
)
from serving_app.settings import Settings as ServerSettings
from tests.stack.conftest import MANUAL_PROD
from tests.stack.test_settings import as_config, problems_for, stack_values

CERT = "arn:aws:acm:us-west-2:123456789012:certificate/0f3c5a4e-1111-2222-3333-444455556666"


def test_prod_rolls_out_automatically_on_the_cpu_pool_and_dev_by_hand_its_demo_model():
    prod = parse(as_config(stack_values("prod")), stack_file="Pulumi.prod.yaml")
    assert (prod.models.stable, prod.models.canary) == ("fraud-model/4", None)
    assert prod.rollout.mode == "automatic" and prod.rollout.canary_weight == 0
    # The settings say which track runs where: prod's tree model on the CPU pool.
    assert (prod.serving.stable.node_pool, prod.serving.stable.gpus) == ("cpu", 0)
    dev = parse(as_config(stack_values("dev")), stack_file="Pulumi.dev.yaml")
    assert (dev.models.stable, dev.models.canary) == ("./build/demo-model", None)
    assert dev.rollout.mode == "manual"
    assert dev.serving.stable.node_pool == "cpu" and dev.serving.stable.gpus == 0


def test_server_limits_default_to_the_servers_own_and_become_its_variables():
    env = ServerLimits().env()
    assert env["MLSERVE_SHUTDOWN_GRACE_S"] == str(ServerSettings().shutdown_grace_s)
    # Every variable the pod gets is one the server reads back to the same values.
    assert ServerSettings.from_env(env) == ServerSettings()


def test_a_limit_the_server_refuses_is_refused_naming_the_key():
    problems = problems_for(lambda v: v.update({"mlserve:serving": {"stable": {"server": {
        "maxQueuedRows": 10, "maxRowsPerRequest": 100}}}}))
    assert len(problems) == 1 and problems[0].startswith("mlserve:serving.stable.server")
    assert "max_queued_rows (10) must be >= max_rows_per_request (100)" in problems[0]


@pytest.mark.parametrize("track, message", [
    ({"nodePool": "nope"}, "mlserve:serving.stable.nodePool = 'nope': no such pool; nodePools has ['cpu', 'gpu']"),
    ({"nodePool": "cpu", "gpus": 1}, "mlserve:serving.stable.gpus = 1: pool 'cpu' has no GPUs"),
    ({"nodePool": "gpu"}, "mlserve:serving.stable.nodePool = 'gpu' is a GPU pool: set gpus >= 1"),
])
def test_a_track_names_an_existing_pool_and_asks_for_gpus_exactly_on_gpu_pools(track, message):
    problems = problems_for(lambda v: v.update({"mlserve:serving": {"stable": track}}))
    assert len(problems) == 1 and problems[0].startswith(message)


def test_the_canary_block_is_checked_only_when_there_is_a_canary():
    values = stack_values("dev")
    values["mlserve:serving"] = {"canary": {"nodePool": "nope"}}
    parse(as_config(values), stack_file="Pulumi.dev.yaml")  # no canary: nothing to check
    problems = problems_for(lambda v: v.update({"mlserve:models": {"stable": "m/1", "canary": "m/2"},
                                                "mlserve:serving": {"canary": {"nodePool": "nope"}}}))
    assert [p.split(" = ")[0] for p in problems] == ["mlserve:serving.canary.nodePool"]


@pytest.mark.parametrize("track, fragment", [
    ({"minReplicas": 5, "maxReplicas": 2}, "minReplicas <= maxReplicas"),
    ({"requests": {"cpu": "3", "memory": "1Gi"}}, "requests.cpu 3 is above limits.cpu 2"),
    ({"requests": {"cpu": "1", "memory": "2Gi"}}, "requests.memory 2Gi is above limits.memory 1Gi"),
    ({"limits": {"cpu": "two", "memory": "1Gi"}}, "not a CPU quantity"),
])
def test_replicas_and_resources_are_consistent(track, fragment):
    problems = problems_for(lambda v: v.update({"mlserve:serving": {"stable": track}}))
    assert len(problems) == 1 and fragment in problems[0] and problems[0].startswith("mlserve:serving.stable")


@pytest.mark.parametrize("mesh, fragment", [
    ({"ingressScheme": "internet-facing"}, "needs certificateArn"),
    ({"jwtIssuer": "https://issuer.example.com"}, "set both or neither"),
    ({"certificateArn": "arn:aws:acm:us-west-2:123:cert/x"}, "not an ACM certificate ARN"),
    ({"jwtIssuer": "http://id.example.com", "jwksUri": "https://id.example.com/k"}, "an https:// URL"),
    ({"ingressScheme": "public"}, "'internal' or 'internet-facing'"),
])
def test_mesh_rules(mesh, fragment):
    problems = problems_for(lambda v: v.update({"mlserve:mesh": mesh}))
    assert len(problems) == 1 and fragment in problems[0] and problems[0].startswith("mlserve:mesh")


def test_an_internet_facing_ingress_with_a_certificate_parses():
    values = stack_values("dev")
    values["mlserve:mesh"] = {"ingressScheme": "internet-facing", "certificateArn": CERT}
    assert parse(as_config(values), stack_file="Pulumi.dev.yaml").mesh.certificate_arn == CERT


def test_quantities():
    assert [cpu_millicores(t) for t in ("500m", "2", "1.5")] == [500, 2000, 1500]
    assert [memory_mebibytes(t) for t in ("512Mi", "2Gi")] == [512, 2048]
    with pytest.raises(ValueError, match="memory quantity"):
        memory_mebibytes("1G")


def _gpu_tracks(values, min_size):
    values["mlserve:nodePools"][1].update(minSize=min_size, desiredSize=min_size)
    for track in ("stable", "canary"):
        values["mlserve:serving"][track].update(nodePool="gpu", gpus=1)


def test_a_gpu_pool_starts_enough_nodes_for_the_replicas_it_hosts():
    [problem] = problems_for(lambda v: _gpu_tracks(v, 2), stack=MANUAL_PROD)
    assert problem == ("mlserve:nodePools[1].minSize = 2 (name: gpu): 2 node(s) of 1 GPU(s) cannot start "
                       "mlserve:serving.stable.minReplicas 2 x gpus 1 + mlserve:serving.canary.minReplicas 2 x gpus 1, "
                       "which need 4; raise minSize to 4, lower the replicas, or run the track on a CPU pool "
                       "(serving.<track>.nodePool)")
    values = stack_values(MANUAL_PROD)
    _gpu_tracks(values, 4)
    assert parse(as_config(values), stack_file="Pulumi.prod.yaml").node_pools[1].min_size == 4


def test_an_automatic_rollout_counts_flaggers_canary_beside_the_primary():
    """prod (automatic) serves one track, but each analysis starts Flagger's canary at the same minimum
    beside the primary: the GPU pool must start both, or every rollout waits for new nodes."""
    [problem] = problems_for(lambda v: _gpu_tracks(v, 2), stack="prod")
    assert problem.startswith("mlserve:nodePools[1].minSize = 2 (name: gpu): 2 node(s) of 1 GPU(s) cannot start "
                              "mlserve:serving.stable.minReplicas 2 x gpus 1 (twice: rollout.mode automatic runs "
                              "Flagger's canary beside the primary), which need 4")
    values = stack_values("prod")
    _gpu_tracks(values, 4)
    assert parse(as_config(values), stack_file="Pulumi.prod.yaml").node_pools[1].min_size == 4
