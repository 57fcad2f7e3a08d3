"""IAM documents as plain functions: no Pulumi engine needed."""

from __future__ import annotations

import pytest

from components.iam_roles import irsa_trust_document

ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
PROVIDER_ARN = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"


def test_irsa_trust_names_one_service_account_and_the_sts_audience():
    document = irsa_trust_document(PROVIDER_ARN, ISSUER, namespace="kube-system", service_account="cluster-autoscaler")
    (statement,) = document["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER_ARN}
    assert statement["Condition"] == {
        "StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:kube-system:cluster-autoscaler",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    }


def test_an_issuer_with_a_scheme_is_rejected():
    # The condition keys would start "https://..." and match no token: the role could never be assumed.
    with pytest.raises(ValueError, match="oidc_issuer must not carry a scheme"):
        irsa_trust_document(PROVIDER_ARN, f"https://{ISSUER}", namespace="kube-system", service_account="cluster-autoscaler")
