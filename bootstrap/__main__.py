"""mlserve-bootstrap: the trust between this repository's GitHub workflows and one AWS account.

Run once per account with administrator credentials (docs/deploying.md, "Once per account"):

    cd bootstrap && pulumi stack init shared && pulumi config set mlserve-bootstrap:repository <owner>/<repo>
    pulumi up

It declares the GitHub OIDC provider (unless the account has one) and, per environment, the
read-only preview role pull requests assume and the deploy role the environment's deploy job
assumes (components/ci_trust.py). The outputs are the values the repository settings need
(docs/ci.md). Settings are validated before anything is declared, so a bad stack file creates nothing.
"""

import sys
from pathlib import Path

# The CLI runs this file with bootstrap/ as the working directory; components/ and mlserve/ sit at
# the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402
import pulumi_aws as aws  # noqa: E402

from bootstrap.settings import ci_trust_args, load  # noqa: E402
from components.ci_trust import CiTrust  # noqa: E402

settings = load()
args = ci_trust_args(settings)

aws_provider = aws.Provider("aws", region=settings.region)
trust = CiTrust("github", args, opts=pulumi.ResourceOptions(providers=[aws_provider]))

pulumi.export("github_oidc_provider_arn", trust.provider_arn)
pulumi.export("preview_role_arns", trust.preview_role_arns)  # repository variables AWS_PREVIEW_ROLE_ARN_<ENV>
pulumi.export("deploy_role_arns", trust.deploy_role_arns)  # each environment's variable AWS_DEPLOY_ROLE_ARN
