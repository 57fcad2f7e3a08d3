"""Per-stack settings: one loader reads `pulumi.Config("mlserve")` into pydantic models
before any resource is declared.

The stack files (`Pulumi.<stack>.yaml`) hold only what differs from the defaults here.
Keys are camelCase, as Pulumi config keys usually are. A bad value fails `make preview`
and `pulumi up` alike with one `SettingsError` that lists every bad key, its value, what
is allowed, and the stack file it came from.

One module per section (`cluster`, `network`, `registry`, `models`, `model_store`, `serving`,
`sagemaker`, `alarms`, `cost`); `root` holds the whole and the rules that span sections; `loader` reads it.
"""

from mlserve.stack.settings.loader import SettingsError, load, parse
from mlserve.stack.settings.root import Settings

__all__ = ["Settings", "SettingsError", "load", "parse"]
