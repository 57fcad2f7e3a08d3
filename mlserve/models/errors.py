"""The tool's errors: one line naming the problem and what to do, and an exit code per kind
(scripts can tell "version exists" from "no credentials" without parsing text)."""

from __future__ import annotations


class CliError(Exception):
    """Base: a problem the user can fix. `exit_code` is the process's exit status."""

    exit_code = 1


class BadInput(CliError):
    """A file or argument the tool cannot use (missing sample file, wrong columns, ...)."""

    exit_code = 2


class CannotPackage(CliError):
    """The model cannot be served: unsupported estimator, an output it cannot type, prediction failing."""

    exit_code = 3


class NoCredentials(CliError):
    """No AWS credentials were found."""

    exit_code = 4


class NoSuchBucket(CliError):
    """The model store bucket does not exist (or is in another account)."""

    exit_code = 5


class VersionExists(CliError):
    """The version is already in the store: versions are immutable."""

    exit_code = 6


class ChecksumMismatch(CliError):
    """What the store holds differs from what was uploaded."""

    exit_code = 7


class NotFound(CliError):
    """No such model or version in the store."""

    exit_code = 8


class AwsError(CliError):
    """Any other AWS failure (access denied, throttled after every retry, ...)."""

    exit_code = 9
