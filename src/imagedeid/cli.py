"""The ``imagedeid`` command line. It parses arguments, calls :mod:`imagedeid.api`,
and formats the result; subcommands import their dependencies only when run.

Exit codes: 0 every input succeeded; 1 some inputs failed, were not DICOM or were
quarantined (see the report); 2 usage, profile or key error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

_EPILOG = """\
examples:
  imagedeid keys new project.key
  imagedeid run dicom_in/ released/ --key-file project.key
  imagedeid run a/ b/ released/ --profile safe-harbor --workers 4
  imagedeid run us_exams/ released/ --profile basic   # headers only, no pixel cleaning
  imagedeid plan one_file.dcm --profile my-site.yaml
  imagedeid reidentify PSEUDONYM --crosswalk xwalk.sqlite --key-file project.key

exit codes: 0 all inputs succeeded; 1 some failed or were quarantined; 2 usage,
profile or key error. Reports and logs name files, tags and rules -- never values.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="imagedeid",
        description="De-identify DICOM to the PS3.15 confidentiality profile with keyed, "
        "consistent pseudonyms.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="de-identify files and folders into OUTPUT",
        description="De-identify every DICOM file under INPUT... into OUTPUT as "
        "<patient>/<study>/<series>/<instance>.dcm. Rerunning the "
        "same command after a crash finishes the job.",
    )
    r.add_argument(
        "paths",
        nargs="+",
        metavar="INPUT... OUTPUT",
        help="input files or folders (walked recursively), then the output folder",
    )
    r.add_argument(
        "--profile",
        default="research",
        help="built-in profile (basic, research, safe-harbor) or a YAML file (default: research)",
    )
    r.add_argument(
        "--key-file",
        help="project key file (else $IMAGEDEID_KEY_FILE, "
        "$IMAGEDEID_KEY, or a new key beside OUTPUT)",
    )
    r.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: all cores; 1 runs in-process)",
    )
    r.add_argument("--report", help="JSON report path (default: OUTPUT.imagedeid/report.json)")
    r.add_argument(
        "--crosswalk",
        help="write an encrypted re-identification crosswalk (SQLite) here, outside OUTPUT",
    )
    r.add_argument(
        "--fsync",
        action="store_true",
        help="flush every output to disk before recording it as done",
    )
    r.add_argument(
        "--no-review",
        action="store_true",
        help="Clean Pixel Data: write no before/after thumbnails and no review page",
    )
    r.add_argument(
        "--format", choices=["text", "json"], default="text", help="summary format on stdout"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    pl = sub.add_parser("plan", help="print what would be done to each attribute of a file")
    pl.add_argument("file")
    pl.add_argument("--profile", default="research")
    pl.add_argument("--format", choices=["text", "json"], default="text")

    k = sub.add_parser("keys", help="manage project keys")
    ksub = k.add_subparsers(dest="keys_command", metavar="ACTION")
    kn = ksub.add_parser("new", help="create a new key file (mode 0600)")
    kn.add_argument("path")

    pr = sub.add_parser("profiles", help="list built-in profiles, or show one in full")
    pr.add_argument("name", nargs="?", help="a built-in name or a YAML file to show")
    pr.add_argument("--rules", action="store_true", help="also list every table rule")

    ri = sub.add_parser("reidentify", help="look a pseudonym up in the encrypted crosswalk")
    ri.add_argument("pseudonym")
    ri.add_argument("--crosswalk", required=True)
    ri.add_argument("--key-file", required=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        from imagedeid.version import __version__, engine_build

        print(f"imagedeid {__version__} ({engine_build()} header engine)")
        return EXIT_OK
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from imagedeid.errors import ImageDeidError

    try:
        handler = {
            "run": _cmd_run,
            "plan": _cmd_plan,
            "keys": _cmd_keys,
            "profiles": _cmd_profiles,
            "reidentify": _cmd_reidentify,
        }[args.command]
        return handler(args, parser)
    except ImageDeidError as exc:
        print(f"imagedeid: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into head, less...: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print(
            "imagedeid: interrupted; run the same command again to finish the job", file=sys.stderr
        )
        return 130


def _cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if len(args.paths) < 2:
        parser.error("run needs at least one INPUT and an OUTPUT")
    from imagedeid import api

    inputs, output = args.paths[:-1], args.paths[-1]
    bar: Any = None
    show = not args.quiet and sys.stderr.isatty()

    def on_total(n: int) -> None:
        nonlocal bar
        if show:
            from tqdm import tqdm

            bar = tqdm(total=n, unit="file", dynamic_ncols=True, file=sys.stderr)

    def progress(res: Any) -> None:
        if bar is not None and not res.renamed:  # a renamed output was counted already
            bar.update(1)

    try:
        summary = api.deidentify(
            inputs,
            output,
            profile=args.profile,
            key_file=args.key_file,
            workers=args.workers,
            report=args.report,
            crosswalk=args.crosswalk,
            progress=progress,
            on_total=on_total,
            environ=dict(os.environ),
            fsync=args.fsync,
            review=not args.no_review,
        )
    finally:
        if bar is not None:
            bar.close()
    rep = summary.report
    if args.format == "json":
        print(json.dumps(rep, indent=2, sort_keys=True))
        return summary.exit_code
    key = rep["key"]
    if key["created"]:
        print(
            f"created a new project key at {key['source']} (fingerprint "
            f"{key['fingerprint']}); keep it safe and reuse it for consistent pseudonyms"
        )
    counts = ", ".join(f"{n} {s}" for s, n in rep["counts"].items()) or "no inputs"
    print(
        f"imagedeid {rep['version']}: profile {rep['profile']['id']}@"
        f"{rep['profile']['version']}, key {key['fingerprint']}"
    )
    print(f"{rep['inputs']} inputs: {counts} in {rep['seconds']:.1f}s")
    print(f"output: {rep['output']}")
    print(f"report: {summary.report_path}")
    pixels = rep.get("pixels")
    if pixels:
        done = ", ".join(f"{n} {s}" for s, n in pixels["files"].items()) or "no images"
        print(f"clean pixel data ({pixels['clean_pixel_data']}, {pixels['engine']}): {done}")
        if pixels["review_page"]:
            print(f"review page (shows original pixels; keep it private): {pixels['review_page']}")
    if rep["failures"]:
        for reason, n in rep["failures_by_reason"].items():
            print(f"  {n} x {reason}")
        print(f"paths of the inputs that were not released: {summary.failures_path}")
    return summary.exit_code


def _cmd_plan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from imagedeid import api

    records = api.plan_file(args.file, profile=args.profile)
    if args.format == "json":
        print(json.dumps([dataclasses.asdict(r) for r in records], indent=2))
        return EXIT_OK
    width = max((len(r.path) for r in records), default=10)
    for r in records:
        print(f"{r.path:<{width}}  {r.keyword or '(private)':<36} {r.action:<16} {r.rule}")
    tally = Counter(r.action for r in records)
    print(f"{len(records)} attributes: " + ", ".join(f"{n} {a}" for a, n in tally.most_common()))
    print(api.pixel_plan(args.file, profile=args.profile))
    return EXIT_OK


def _cmd_keys(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.keys_command != "new":
        parser.error("keys needs an action: new")
    from imagedeid import api

    fingerprint = api.new_key(args.path)
    print(f"created {args.path} (mode 0600), fingerprint {fingerprint}")
    return EXIT_OK


def _cmd_profiles(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from imagedeid import api

    if not args.name:
        for name, description in api.list_profiles().items():
            print(f"{name:<12} {description}")
        return EXIT_OK
    print(json.dumps(api.describe_profile(args.name, rules=args.rules), indent=2))
    return EXIT_OK


def _cmd_reidentify(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from imagedeid import api

    rows = api.reidentify(args.pseudonym, args.crosswalk, args.key_file)
    if not rows:
        print("no entry for that pseudonym", file=sys.stderr)
        return EXIT_SOME_FAILED
    for kind, original in rows:
        print(f"{kind}\t{original}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
