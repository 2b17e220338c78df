"""The fault-injection suite: a full ``pytest --field`` session per fault, and clean
sessions on several seeds, each read back from its summary.json (`run_fault_suite`),
and the tables docs/faults.md shows (`fault_table`, `evidence_table`).

Testing helpers shipped with skyqa, as pytest-regressions ships its own: used by skyqa's
tests and benchmarks; the pipeline never imports this module.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from skyqa.errors import FieldSpecError
from skyqa.faults import Fault, expected_checks, faults_for, get_fault
from skyqa.field import FieldSpec
from skyqa.review import review_session


@dataclass(frozen=True)
class SessionResult:
    """One ``pytest --field`` session of the suite: its summary and the exit code."""

    label: str
    fault: Fault | None
    expected: tuple[str, ...]
    summary: dict
    exit_code: int
    log_path: Path
    note: str = ""
    reviews: tuple = ()
    """Clean sessions: `skyqa.review.Review` of each failed check (what the truth says)."""

    def statuses(self) -> dict[str, str]:
        return {check["id"]: check["status"] for check in self.summary.get("checks", [])}

    def failed(self) -> list[str]:
        return [name for name, status in self.statuses().items() if status in ("failed", "error")]

    def missed(self) -> list[str]:
        """Expected checks that did not fail (a fault the suite did not catch). A check
        that errored counts as missed: the harness crashed instead of reporting."""
        statuses = self.statuses()
        return [name for name in self.expected if statuses.get(name) != "failed"]

    def unconfirmed(self) -> list[str]:
        """Clean sessions: failed checks the truth does not show (false alarms)."""
        confirmed = {review.check for review in self.reviews if review.confirmed}
        return [name for name in self.failed() if name not in confirmed]

    def caught(self) -> bool:
        """Fault sessions: every named check failed. Clean sessions: no false alarm,
        every check that failed is shown real by the truth (`skyqa.review`)."""
        return not self.missed() if self.fault else not self.unconfirmed()

    def first_failure(self, check_id: str) -> str:
        """The first failed verdict's sentence of a check, '' if none."""
        for check in self.summary.get("checks", []):
            if check["id"] == check_id:
                for verdict in check.get("verdicts", []):
                    if not verdict["passed"]:
                        return f"{verdict['check']} for {verdict['subject']}: {verdict['measured']}"
                return check.get("message", "")[:300]
        return ""


def seed_variant(field: FieldSpec, seed: int, directory: Path) -> Path:
    """Write a copy of a synthetic field's spec with another seed; return its path.

    The copy is named ``<field>-seed<seed>``; its data are a new realisation of the
    same design (other noise, stars, pedestals and pointing errors).
    """
    if field.source_path is None or field.synthetic is None:
        raise FieldSpecError(f"field {field.name!r} is not a synthetic field read from a file")
    text = field.source_path.read_text()
    name = f"{field.name}-seed{seed}"
    text, named = re.subn(r'(?m)^name\s*=\s*".*"$', f'name = "{name}"', text, count=1)
    text, seeded = re.subn(r"(?m)^seed\s*=\s*\d+$", f"seed = {seed}", text, count=1)
    if not (named and seeded):
        raise FieldSpecError(f"{field.source_path} has no top-level name or seed line to vary")
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def run_session(
    field: str,
    cache_dir: Path,
    report_dir: Path,
    fault: str | None = None,
    extra_args: Sequence[str] = (),
    timeout_s: float = 1800,
    env: dict[str, str] | None = None,
) -> tuple[int, dict, Path]:
    """Run ``pytest --field FIELD`` in a subprocess; return (exit code, summary, log).
    ``env``: variables added to this process's environment for the session."""
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--field",
        field,
        "--skyqa-cache-dir",
        str(cache_dir),
        "--skyqa-report-dir",
        str(report_dir),
        "-p",
        "no:cacheprovider",
        "-q",
        # Its own temporary folder: pytest prunes old ones, and they would be ours.
        f"--basetemp={report_dir / 'tmp'}",
        *(["--skyqa-inject-fault", fault] if fault else []),
        *extra_args,
    ]
    log_path = report_dir / "session.log"
    with open(log_path, "w") as log:
        completed = subprocess.run(
            command,
            cwd=report_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
        )
    summaries = list(report_dir.glob("*/summary.json"))
    summary = json.loads(summaries[0].read_text()) if summaries else {}
    return completed.returncode, summary, log_path


def run_fault_suite(
    field: FieldSpec,
    cache_dir: Path,
    work_dir: Path,
    faults: Sequence[str] | None = None,
    seeds: Sequence[int] = (),
    workers: int = 2,
    extra_args: Sequence[str] = (),
) -> list[SessionResult]:
    """Run one clean session of ``field``, one per fault, and one clean per extra seed.

    Sessions share ``cache_dir``, so each runs only the stages its fault changes (a
    fault's own cache entries have their own keys). Clean sessions of other seeds run
    every check but the baseline comparison: a new realisation has no baseline.
    ``extra_args`` go to every session's pytest command line.
    """
    names = faults_for(field) if faults is None else list(faults)
    work_dir.mkdir(parents=True, exist_ok=True)
    if field.source_path is None:
        raise FieldSpecError(f"field {field.name!r} was not read from a spec file")
    target = str(field.source_path)

    def clean(label: str, spec: str, args: Sequence[str] = (), note: str = "") -> SessionResult:
        code, summary, log = run_session(
            spec, cache_dir, work_dir / label, extra_args=[*extra_args, *args]
        )
        result = SessionResult(label, None, (), summary, code, log, note)
        failed = result.failed()
        reviews = tuple(review_session(Path(spec), cache_dir, failed)) if failed else ()
        return dataclasses.replace(result, reviews=reviews)

    def faulted(name: str) -> SessionResult:
        fault = get_fault(name)
        code, summary, log = run_session(
            target, cache_dir, work_dir / name, fault=name, extra_args=extra_args
        )
        return SessionResult(name, fault, tuple(expected_checks(fault, field)), summary, code, log)

    # The clean session first: it fills the cache every fault session starts from.
    if field.synthetic is None:
        raise ValueError(f"the fault suite needs a synthetic field, not {field.name}")
    results = [clean(f"clean-seed{field.synthetic.seed}", target)]
    variants = [seed_variant(field, seed, work_dir) for seed in seeds]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = [pool.submit(faulted, name) for name in names]
        jobs += [
            pool.submit(
                clean,
                f"clean-seed{seed}",
                str(path),
                ("-k", "not test_matches_baseline"),
                "baseline comparison left out",
            )
            for seed, path in zip(seeds, variants, strict=True)
        ]
        results += [job.result() for job in jobs]
    return results


def fault_table(results: Sequence[SessionResult]) -> str:
    """The table of docs/faults.md (Markdown): fault, where, which checks must catch it, result."""
    lines = [
        "| fault | via | injected into | must be caught by | result |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        if result.fault is None:
            statuses = list(result.statuses().values())
            run = [status for status in statuses if status not in ("not run", "deselected")]
            failed = result.failed()
            not_run = f" ({len(statuses) - len(run)} not run)" if len(run) < len(statuses) else ""
            shown = ""
            if failed:
                real = [name for name in failed if name not in result.unconfirmed()]
                shown = f"; {len(real)} failed, shown real by the truth" if real else ""
                if result.unconfirmed():
                    shown += f"; NOT shown by the truth: {', '.join(result.unconfirmed())}"
            lines.append(
                f"| none ({result.label}) | - | - | no false alarm (a check that fails must "
                f"be shown real by the truth){', ' + result.note if result.note else ''} "
                f"| {'no false alarm' if result.caught() else 'FALSE ALARM'}: "
                f"{len(run) - len(failed)} of {len(run)} checks passed{not_run}{shown} |"
            )
            continue
        checks = ", ".join(f"`{name}`" for name in result.expected)
        verdict = "caught" if result.caught() else f"MISSED ({', '.join(result.missed())})"
        lines.append(
            f"| `{result.fault.label}`: {result.fault.description} | {result.fault.via} "
            f"| {result.fault.stage} | {checks} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def evidence_table(results: Sequence[SessionResult]) -> str:
    """Per session: what failed and the first failed verdict of each expected check."""
    lines = []
    for result in results:
        lines.append(f"## {result.label} (exit code {result.exit_code}, log {result.log_path})")
        for name in result.expected:
            lines.append(f"- {name}: {result.statuses().get(name, 'not run')}: ")
            lines[-1] += result.first_failure(name) or "(no failed verdict)"
        others = [name for name in result.failed() if name not in result.expected]
        lines.append(f"- also failed: {', '.join(others) or 'nothing'}")
        lines += [f"- {review.line()}" for review in result.reviews]
        lines.append("")
    return "\n".join(lines)
