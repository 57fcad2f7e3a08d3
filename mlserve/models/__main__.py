"""The model store tool.

    python -m mlserve.models package MODEL --name NAME --version V --sample rows.csv --out DIR
    python -m mlserve.models publish DIR --bucket BUCKET
    python -m mlserve.models list --bucket BUCKET [--name NAME] [--verify]
    python -m mlserve.models show NAME/VERSION --bucket BUCKET [--verify]

BUCKET is the stack's store: `pulumi stack output model_bucket_name -s <stack>` (or
MLSERVE_MODEL_BUCKET). Errors print one line and exit non-zero, with one code per kind
(mlserve/models/errors.py): 2 bad input, 3 cannot package, 4 no credentials, 5 no such bucket,
6 version exists, 7 checksum mismatch, 8 not found, 9 other AWS error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mlserve.models.errors import BadInput, ChecksumMismatch, CliError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlserve.models", description="Package, publish and list model versions.")
    commands = parser.add_subparsers(dest="command", required=True)

    package = commands.add_parser("package", help="a model file -> an artifact directory the server loads")
    package.add_argument("model", type=Path, help=".joblib/.pkl/.pickle/.sav (scikit-learn; also .gz and other "
                         "joblib compressions), .onnx, or an MLflow model directory")
    package.add_argument("--name", required=True, help="model name, e.g. fraud-model")
    package.add_argument("--version", required=True, help="version, e.g. 3")
    package.add_argument("--out", required=True, type=Path, help="artifact directory to write (must not exist or be empty)")
    package.add_argument("--sample", type=Path, help="sample rows: a .csv (with a header) or .parquet file")
    package.add_argument("--drop-column", action="append", default=[], help="a sample column that is no feature (repeatable)")
    package.add_argument("--synthesize-sample", type=int, default=0, metavar="N", help="draw N random rows instead of --sample")
    package.add_argument("--dtype", choices=("float32", "float64"), default=None,
                         help="input dtype the server feeds a scikit-learn model; default float64, what JSON numbers "
                              "are and what reproduces the model; float32 narrows, and package reports and records "
                              "what that changes on the sample (ONNX: the graph's input type, always)")

    bucket = argparse.ArgumentParser(add_help=False)
    bucket.add_argument("--bucket", default=os.environ.get("MLSERVE_MODEL_BUCKET"),
                        help="the store bucket (default $MLSERVE_MODEL_BUCKET)")
    bucket.add_argument("--region", default=None, help="AWS region; default from the AWS configuration")

    publish = commands.add_parser("publish", parents=[bucket], help="upload an artifact directory as its name/version")
    publish.add_argument("directory", type=Path)
    publish.add_argument("--kms-key-id", help="the store's KMS key ARN; default: the bucket's default key")

    listing = commands.add_parser("list", parents=[bucket], help="the versions in the store")
    listing.add_argument("--name", help="only this model")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.add_argument("--verify", action="store_true",
                         help="read back every stored file and check it against its checksum (exit 7 on a mismatch)")

    show = commands.add_parser("show", parents=[bucket], help="one version in detail")
    show.add_argument("ref", help="NAME/VERSION, e.g. fraud-model/3")
    show.add_argument("--verify", action="store_true",
                      help="read back every stored file and check it against its checksum (exit 7 on a mismatch)")
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.command == "package":
        from mlserve.models.package import package

        result = package(args.model, args.out, name=args.name, version=args.version, sample_path=args.sample,
                         drop_columns=tuple(args.drop_column), synthesize_rows=args.synthesize_sample, dtype=args.dtype)
        outputs = ", ".join(f"{o.name} {o.datatype}{list(o.shape)}" for o in result.outputs)
        check = result.check
        agrees = "answers like the model" if not any(c.rows_differing for c in check.outputs.values()) else \
            "answers as noted below"
        print(f"wrote {result.directory}: {result.framework}, {result.n_features} features ({result.input_dtype}), "
              f"outputs {outputs}; the server loads it ({result.runtime}) and {agrees} on the {check.rows} sample "
              f"rows as given (labels equal, numbers within {check.atol:g} + {check.rtol:g} x |model's|)")
        for note in result.notes:
            print(f"note: {note}")
        return
    if not args.bucket:
        raise BadInput("--bucket is required (or MLSERVE_MODEL_BUCKET): `pulumi stack output model_bucket_name`")
    from mlserve.models import store

    if args.command == "publish":
        published = store.publish(args.directory, bucket=args.bucket, kms_key_id=args.kms_key_id, region=args.region)
        print(f"published {published.name}/{published.version}: {published.model_uri} (SageMaker: {published.archive_uri})")
        print(f"serve it: set mlserve:models.stable (or .canary) to {published.name}/{published.version} in Pulumi.<stack>.yaml")
    elif args.command == "list":
        _list(args, store)
    else:
        name, _, version = args.ref.partition("/")
        if not name or not version:
            raise BadInput(f"{args.ref!r}: expected NAME/VERSION, e.g. fraud-model/3")
        v = store.show(name, version, bucket=args.bucket, region=args.region)
        shown = {"name": v.name, "version": v.version, "framework": v.framework, "sha256": v.sha256,
                 "created": v.created.isoformat(), "published_by": v.published_by,
                 "uri": f"s3://{args.bucket}/models/{name}/{version}/", "files": v.files,
                 "input": v.metadata.get("input"), "outputs": v.metadata.get("outputs"),
                 "check": v.metadata.get("check"), "conversion": v.metadata.get("conversion")}
        verified = store.verify(name, version, bucket=args.bucket, region=args.region) if args.verify else None
        if verified is not None:
            shown["verified"] = {"matched": list(verified.matched), "problems": dict(verified.problems)}
        print(json.dumps(shown, indent=2))
        if verified is not None and not verified.ok:
            raise ChecksumMismatch(verified.summary())


def _list(args: argparse.Namespace, store) -> None:
    versions = store.list_versions(bucket=args.bucket, name=args.name, region=args.region)
    failed = []
    for v in versions:
        verified = store.verify(v.name, v.version, bucket=args.bucket, region=args.region) if args.verify else None
        if verified is not None and not verified.ok:
            failed.append(verified)
        if args.json:
            line = {"name": v.name, "version": v.version, "framework": v.framework, "sha256": v.sha256,
                    "created": v.created.isoformat(), "published_by": v.published_by}
            if verified is not None:
                line["verified"] = verified.ok
                line["problems"] = dict(verified.problems)
            print(json.dumps(line))
        else:
            state = "" if verified is None else ("\tverified" if verified.ok else f"\tMISMATCH {verified.problems[0][0]}")
            print(f"{v.name}/{v.version}\t{v.framework}\tsha256:{v.sha256[:12]}\t{v.created:%Y-%m-%d %H:%M:%S %Z}"
                  f"\t{v.published_by}{state}")
    if not versions and not args.json:
        print(f"no versions in s3://{args.bucket}" + (f" for {args.name}" if args.name else ""))
    if failed:
        raise ChecksumMismatch(f"{len(failed)} of {len(versions)} versions fail verification: "
                               + "; ".join(v.summary() for v in failed))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _run(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
