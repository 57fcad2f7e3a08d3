"""The mlserve CrossGuard policy pack: rules in domain modules, each importable as a plain list.

`policies/__main__.py` assembles them into a PolicyPack (which starts the analyzer's gRPC server and
never returns); `mlserve/offline/pack.py` runs the same list offline against `make preview`'s plan.
"""

from __future__ import annotations


def all_rules() -> list:
    """Every rule of the pack, in domain order."""
    from policies import (cluster, iam, kms, mesh, namespaces, network, nodes, observability, rbac, registry,
                          sagemaker, stack, storage, workloads)

    return [rule for module in (registry, cluster, nodes, network, iam, kms, storage, sagemaker, observability,
                                workloads, rbac, namespaces, mesh, stack)
            for rule in module.RULES]
