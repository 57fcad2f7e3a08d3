"""Customer managed KMS keys: the settings every key of this project shares."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def encryption_key(name: str, *, description: str, alias: str, name_tag: str, parent: pulumi.Resource) -> aws.kms.Key:
    """A symmetric KMS key with yearly automatic rotation and the longest deletion window, plus
    an alias.

    `name` names the key resource and the alias resource "<name>-alias"; `alias` is the alias
    itself ("alias/..."); `name_tag` is the key's "Name" tag. Callers say why they need a key of
    their own rather than the AWS managed one.
    """
    child = pulumi.ResourceOptions(parent=parent)
    key = aws.kms.Key(
        name,
        description=description,
        # https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys.html
        enable_key_rotation=True,
        # The longest window: a key scheduled for deletion by mistake can be recovered for 30
        # days, and once gone everything it encrypted is unreadable.
        # https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html#deleting-keys-scheduling-key-deletion
        deletion_window_in_days=30,
        tags={"Name": name_tag},
        opts=child,
    )
    aws.kms.Alias(f"{name}-alias", name=alias, target_key_id=key.key_id, opts=child)
    return key
