"""The ``skyqa`` command: ``fields``, ``fetch FIELD``, ``run FIELD``, ``compare SUMMARY...``,
``faults``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from skyqa.cache import package_versions
from skyqa.errors import FieldSpecError


def _fields(_: argparse.Namespace) -> int:
    from skyqa.field import load_field_spec, registered_fields

    for name, path in registered_fields().items():
        spec = load_field_spec(path)
        print(f"{name:16} {spec.kind:10} {spec.detector:10} {spec.description}")
    return 0


def _faults(arguments: argparse.Namespace) -> int:
    from skyqa.faults import FAULTS, expected_checks
    from skyqa.field import resolve_field

    field = None
    if arguments.field:
        try:
            field = resolve_field(arguments.field)
        except FieldSpecError as error:
            print(f"skyqa: {error}", file=sys.stderr)
            return USAGE_ERROR
    for fault in FAULTS.values():
        size = f"{fault.default_size:g} {fault.unit}" if fault.unit else "-"
        print(f"{fault.name:26} {fault.stage:17} {fault.via:9} {size:13} {fault.description}")
        where = f" ({', '.join(fault.detectors)} fields only)" if fault.detectors else ""
        if field is None:
            print(f"{'':26} must fail: {', '.join(fault.caught_by)}{where}")
        elif fault.applies_to(field):
            print(f"{'':26} must fail: {', '.join(expected_checks(fault, field))}")
        else:
            print(f"{'':26} does not apply to {field.name} ({field.detector}){where}")
    if field is None:
        print(
            "{first_visit}, {last_visit}: the field's first and last visit (sorted); "
            "skyqa faults --field NAME names them."
        )
    return 0


def _fetch(arguments: argparse.Namespace) -> int:
    from skyqa.errors import NetworkUnavailableError, SkyQAError
    from skyqa.field import resolve_field
    from skyqa.pipeline import Pipeline
    from skyqa.settings import resolve_cache_dir

    try:
        field = resolve_field(arguments.field)
    except FieldSpecError as error:
        print(f"skyqa: {error}", file=sys.stderr)
        return USAGE_ERROR
    try:
        pipeline = Pipeline(field, resolve_cache_dir(arguments.cache_dir, None))
        exposures = pipeline.exposures()
        pipeline.reference_catalog()
    except NetworkUnavailableError as error:
        # The pipeline's message tells a pytest user to run `skyqa fetch`: this is it.
        cause = error.__cause__ if isinstance(error.__cause__, SkyQAError) else error
        print(
            f"skyqa: {arguments.field}: {cause} Nothing was downloaded. Run `skyqa fetch` "
            f"on a machine with network and copy its {pipeline.download_dir} folder to the "
            "same place here (docs/real-data.md).",
            file=sys.stderr,
        )
        return 1
    except SkyQAError as error:
        print(f"skyqa: {error}", file=sys.stderr)
        return 1
    print(
        f"skyqa: {field.name}: {len(exposures.flt_paths)} FLTs and "
        f"{len(exposures.visit_drz_paths)} visit DRZs ready in {exposures.directory}"
    )
    return 0


def _versions(arguments: argparse.Namespace) -> int:
    from skyqa.summary import environment_info

    info = environment_info("")
    for name, version in info["versions"].items():
        print(f"{name:20} {version}")
    if arguments.freeze:
        Path(arguments.freeze).parent.mkdir(parents=True, exist_ok=True)
        Path(arguments.freeze).write_text("\n".join(info["pip_freeze"]) + "\n")
    wrong = []
    for expectation in arguments.expect:
        name, _, wanted = expectation.partition("=")
        found = info["versions"].get(name) or package_versions((name,))[name]
        if found != wanted:
            wrong.append(f"{name} is {found}, but this environment asks for {wanted}")
    for line in wrong:
        print(
            f"skyqa: {line}: the resolver chose another version; fix the environment's pins.",
            file=sys.stderr,
        )
    return 1 if wrong else 0


def _compare(arguments: argparse.Namespace) -> int:
    from skyqa.compare import compare

    markdown, page = compare(
        [Path(path) for path in arguments.summaries],
        Path(arguments.out),
        reference=arguments.reference,
        baseline_dir=Path(arguments.baseline_dir) if arguments.baseline_dir else None,
    )
    print(f"skyqa: comparison written to {markdown} and {page}")
    return 0


USAGE_ERROR = 4
"""The exit code of an unknown field or a malformed spec, through every door: pytest's own
code for a usage error (``pytest.ExitCode.USAGE_ERROR``), which ``pytest --field`` gives."""


def _run(arguments: argparse.Namespace) -> int:
    from skyqa.field import resolve_field
    from skyqa.plugin import run_pytest

    try:
        resolve_field(arguments.field)
    except FieldSpecError as error:
        print(f"skyqa: {error}", file=sys.stderr)
        return USAGE_ERROR
    pytest_arguments = ["--field", arguments.field, *arguments.pytest_args]
    if arguments.cache_dir:
        pytest_arguments += ["--skyqa-cache-dir", arguments.cache_dir]
    return run_pytest(pytest_arguments)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skyqa", description="QA of HST mosaics built with drizzlepac."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fields = commands.add_parser("fields", help="list the registered fields")
    fields.set_defaults(handler=_fields)
    faults = commands.add_parser(
        "faults",
        help="list the faults pytest --skyqa-inject-fault can inject, and their checks",
    )
    faults.add_argument(
        "--field", help="a field (name or spec path): its checks' ids, its visits resolved"
    )
    faults.set_defaults(handler=_faults)
    fetch = commands.add_parser(
        "fetch",
        help="download a field's data and reference catalog into the cache, ahead of time",
        description="Get FIELD's exposures and reference catalog into the skyqa cache "
        "(download from MAST and Gaia for real fields, generate synthetic ones), so that "
        "later runs need no network.",
    )
    fetch.add_argument("field", help="a registered field name or the path of a spec file")
    fetch.add_argument("--cache-dir", help="the skyqa cache (default: as for pytest)")
    fetch.set_defaults(handler=_fetch)
    versions = commands.add_parser(
        "versions",
        help="print the key package versions; check them against expectations",
    )
    versions.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="NAME=VERSION",
        help="fail unless NAME is installed at VERSION (repeatable)",
    )
    versions.add_argument("--freeze", help="write the installed packages (pip freeze) here")
    versions.set_defaults(handler=_versions)
    comparison = commands.add_parser(
        "compare",
        help="compare the summaries of runs in several environments, as Markdown and HTML",
    )
    comparison.add_argument("summaries", nargs="+", help="summary.json files, one per run")
    comparison.add_argument("--out", default="skyqa-report/compare", help="output folder")
    comparison.add_argument("--reference", help="label of the reference environment")
    comparison.add_argument("--baseline-dir", help="stored baselines (folder of fields)")
    comparison.set_defaults(handler=_compare)
    run = commands.add_parser(
        "run",
        help="run every check on a field (same as: pytest --field FIELD)",
        description="Run skyqa's checks on FIELD; extra arguments go to pytest.",
    )
    run.add_argument("field", help="a registered field name or the path of a spec file")
    run.add_argument("--cache-dir", help="where pipeline results are cached")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest")
    run.set_defaults(handler=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skyqa`` console script."""
    arguments = build_parser().parse_args(argv)
    return arguments.handler(arguments)


if __name__ == "__main__":
    sys.exit(main())
