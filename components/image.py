"""The serving image: `serving_app/Dockerfile` built with pulumi-docker and pushed to the stack's
ECR repository, one image per variant ("cpu" always; "gpu" only when a track runs on a GPU pool).

Pods and SageMaker refer to an image by digest (`repoDigest`, "<repository>@sha256:<hex>"),
never by tag: a digest names exactly the bytes that were scanned and tested.
The repository's tags are IMMUTABLE (components/registry.py), so a tag is pushed once: the tag
derives from the git commit of serving_app/, and a working tree with uncommitted changes there
is refused unless the stack allows it (dev), in which case the tag carries a hash of the diff.

The base image is pinned by digest in the Dockerfile. SBOM and provenance are recorded beside the
image, not attached by the build: the deploy workflow signs them for the digests this component
outputs (.github/actions/record-image). BuildKit attestations would turn the image into an OCI
index, and SageMaker's CreateModel refuses OCI media types (docs/ci.md).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

VARIANTS = ("cpu", "gpu")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class GitState:
    """The commit of a working tree and whether the image context has uncommitted changes."""

    commit: str
    """Full 40-hex commit id of HEAD."""
    diff_hash: str | None = None
    """None for a clean context; otherwise a short hash of `git status` + `git diff` of the context."""


def read_git_state(context: Path) -> GitState | None:
    """The git state of `context` (a directory in a git work tree); None outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(context), *args], check=True, capture_output=True, text=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain", "--untracked-files=all", "--", ".")
        diff = git("diff", "HEAD", "--", ".") if status else ""
    except (OSError, subprocess.CalledProcessError):
        return None
    return GitState(commit=commit, diff_hash=hashlib.sha256((status + diff).encode()).hexdigest()[:12] if status else None)


def release_tag(configured: str | None, git: GitState | None, *, allow_dirty: bool) -> str:
    """The image tag: the configured one, else "git-<12 hex of the commit>" (plus "-dirty-<hash>"
    for uncommitted changes, only where `allow_dirty`). Raises ValueError naming the fix."""
    if configured is not None:
        if not _TAG.fullmatch(configured):
            raise ValueError(f"image tag {configured!r} is not a Docker tag ([A-Za-z0-9_.-], at most 128)")
        return configured
    if git is None:
        raise ValueError("serving_app/ is not in a git work tree: set serving.image.tag (the image needs a tag)")
    tag = f"git-{git.commit[:12]}"
    if git.diff_hash is None:
        return tag
    if not allow_dirty:
        raise ValueError(
            f"serving_app/ has uncommitted changes: commit them (the image is tagged from the commit, {tag}) "
            "or set serving.image.tag; this stack refuses images no commit can rebuild (serving.image.allowDirtyTree)"
        )
    return f"{tag}-dirty-{git.diff_hash}"


def variant_tag(tag: str, variant: str) -> str:
    """"git-0123abcd-cpu": one tag per variant, so both live in one repository."""
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: one of {VARIANTS}")
    return f"{tag}-{variant}"


@dataclass(frozen=True, kw_only=True)
class ServingImageArgs:
    """What to build and where to push it."""

    repository_url: pulumi.Input[str]
    """The ECR repository, "<account>.dkr.ecr.<region>.amazonaws.com/<name>"."""
    registry_id: pulumi.Input[str]
    """The registry (account id) whose authorization token pushes there."""
    tag: str
    """The resolved release tag (`release_tag`); each variant appends "-<variant>"."""
    variants: tuple[str, ...] = ("cpu",)
    """Default ("cpu",). Which variants to build; "cpu" always (SageMaker's CPU target uses it)."""
    context: str = "serving_app"
    """Default "serving_app". The build context; its Dockerfile is used."""
    platform: str = "linux/amd64"
    """Default "linux/amd64": the node pools' architecture (x86_64 AMIs in components/amis.py)."""

    def __post_init__(self) -> None:
        if "cpu" not in self.variants or len(set(self.variants)) != len(self.variants) or not set(self.variants) <= set(VARIANTS):
            raise ValueError(f"variants {self.variants!r}: 'cpu' plus optionally 'gpu', each once")
        variant_tag(self.tag, "cpu")
        if not _TAG.fullmatch(variant_tag(self.tag, "gpu")):
            raise ValueError(f"tag {self.tag!r} is not a Docker tag (with '-gpu' appended it must be at most 128 characters)")
        if self.platform not in ("linux/amd64", "linux/arm64"):
            raise ValueError(f"platform {self.platform!r}: linux/amd64 or linux/arm64")


class ServingImage(pulumi.ComponentResource):
    """The serving image per variant, built and pushed to ECR; outputs its digest references."""

    image_refs: dict[str, pulumi.Output[str]]
    """Per variant, "<repository>@sha256:<digest>": what pods and SageMaker models run."""

    def __init__(self, name: str, args: ServingImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:image:ServingImage", name, None, opts)
        # A 12-hour token for this registry, read at every `up` (never stored in config).
        # https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html
        token = aws.ecr.get_authorization_token_output(registry_id=args.registry_id, opts=pulumi.InvokeOptions(parent=self))
        registry = docker.RegistryArgs(
            server=token.proxy_endpoint, username=token.user_name, password=pulumi.Output.secret(token.password)
        )
        self.image_refs = {}
        for variant in args.variants:
            image = docker.Image(
                f"{name}-{variant}",
                image_name=pulumi.Output.concat(args.repository_url, ":", variant_tag(args.tag, variant)),
                build=docker.DockerBuildArgs(
                    context=args.context,
                    dockerfile=f"{args.context}/Dockerfile",
                    platform=args.platform,
                    args={"VARIANT": variant},
                ),
                registry=registry,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.image_refs[variant] = image.repo_digest
        self.register_outputs({"image_refs": self.image_refs})
