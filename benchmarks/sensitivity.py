"""Detection power: the smallest fault each check catches, and what clean seeds fail.

    python benchmarks/sensitivity.py                      # 5 seeds per fault, 10 clean
    python benchmarks/sensitivity.py --kinds sky-step --seeds 101 102 --clean-seeds

Not part of the test suite (about half an hour on 2 cores). Two parts, on new
realisations of ``mini-sim`` (`skyqa.testing.seed_variant`: other noise, stars,
pedestals, pointing errors, catalog errors, hits):

1. **Clean seeds** (``--clean-seeds``): a full ``pytest --field`` session per seed. Every
   check that fails is held against the truth of that seed (`skyqa.review`): a seam is
   recomputed from the injected pedestals (is drizzlepac's matched sky really off, or is
   skyqa's measurement?), an alignment failure from the true WCS, and so on. A failure the
   truth does not show is marked so: a fault of skyqa, not of the data.
2. **Smallest caught size** (``--seeds``): for each fault with a size (`skyqa.faults`,
   ``unit``) and each seed, sessions with only the fault's first check selected, at sizes
   from 0.25 to 8 times the threshold the check claims, halving the bracket on a log scale
   (``--steps`` times): the smallest size at which the check failed. A check that fails
   on the clean seed already has no smallest size there.

Sessions run two at a time (``--parallel``), each with one worker, sharing one cache.
The Markdown goes to ``--out`` (``docs/sensitivity.md``) with the machine and
versions; the sessions' folders stay in ``--work``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

from skyqa.faults import FAULTS, expected_checks, get_fault
from skyqa.field import FieldSpec, load_field_spec, resolve_field
from skyqa.review import review_session
from skyqa.testing import run_session, seed_variant

HERE = Path(__file__).resolve().parent
DEFAULT_SEEDS = (101, 102, 103, 104, 105)
DEFAULT_CLEAN_SEEDS = (2024, 7, 11, 31, 123, 201, 202, 203, 204, 205)
NOTES = {
    "noop-tweakback": "the size is the visit's pointing error; what the skipped FLT misses "
    "is TweakReg's whole correction, the fit's own error (5-10 mas over the detector with "
    "8-16 stars) included: caught at every size tried on most seeds, so sharper than the "
    "size suggests, never blunter than the 5 mas the check claims",
    "mismatched-sky": "one exposure's matched sky off by the size; the seam check needs the "
    "seam past 0.1 by twice its uncertainty (0.01-0.03 on mini-sim), and a seed's own "
    "clean seams (up to 0.09) add to or take from it",
    "chip-offset": "one chip of the first exposure brighter by the size; match gives the "
    "exposure one sky, leaving each chip about half the size off, seen by the pairs that "
    "overlap that chip, so the claim is twice the seam threshold (0.2 x noise; this run "
    "searched 0.125-4 x noise, around the claim of 0.5 it started from). Seed 105's "
    "clean failure is a pair whose true seam is at the threshold (0.099) measured 2.4 times "
    "its uncertainty beyond it, a noise excursion: 100 noise realisations of that pair's "
    "noiseless replica give its true difference to 0.0003 e-/s with a scatter equal to the "
    "reported uncertainty",
    "sky-header-mismatch": (
        "the mosaic difference of two methods has no noise of its own, so every seed gives "
        "the same size; since issue 31 each exposure's own error is solved from all the "
        "regions it covers, so its dither partner no longer halves it: caught at 0.102 x "
        "noise, its threshold (0.218 before)."
    ),
    "misaligned-exposure": (
        "one FLT moved north; the mean offset of its stars also holds the catalog's and the "
        "fit's errors (a few mas), which add or take away. Its first check is graded with "
        "HAP's limits since issue 31: a failure beyond the accepted 20 mas (a warning from "
        "10)."
    ),
    "visit-rotated": "TweakReg's verification fit measures the turn to better than the "
    "bracket's resolution",
    "unflagged-hot-column": "the column's own deviation adds to or takes from the injected one",
    "sky-step": (
        "match levels the exposure, leaving each half off by half the step, seen only by the "
        "pairs on that side. Since issue 31 each pair also measures the step across each "
        "exposure's middle row and column, within parts where the other exposure's sky is "
        "one level, and an exposure's pairs are combined: the step is judged as a seam "
        "within the exposure, beyond twice its uncertainty (0.03-0.05 x noise on these "
        "seeds, from the neighbours' overlaps: the dither partner's half-lines coincide with "
        "the exposure's and tell nothing). Claimed 0.2 x noise; issue 31's target, 0.25, is "
        "met (0.394 with a plane through the pairs' seams, 0.44 with their scatter alone, "
        "0.47 with the pair rule alone)."
    ),
    "product-shifted": (
        "the match product's WCS moved east after drizzling; the product's own offset from "
        "the catalog (a few mas on mini-sim with the F160W model: TweakReg's centroids and "
        "photutils' Gaussian fits disagree on its coma) adds to or takes from the shift"
    ),
    "product-rotated": (
        "final_rot turned by the angle that moves the inputs' farthest corner by the size; "
        "the check reads the orientation from the product's CD matrix exactly, so it fires "
        "at the claim"
    ),
    "sky-gradient": (
        "a ramp across the first FLT; the check fails where half of it passes the seam "
        "threshold by twice its uncertainty, 0.05-0.07 x noise on mini-sim's narrow "
        "overlaps: the claim (0.44) holds that uncertainty"
    ),
}
"""What each fault's size means for its check, for the report."""
LOW, HIGH = 0.25, 8.0
"""The bracket searched, in multiples of the check's threshold."""


def _session(spec: Path, cache: Path, work: Path, fault: str | None, select: str) -> dict:
    args = ["--skyqa-workers", "1", "-k", select]
    _, summary, _ = run_session(str(spec), cache, work, fault=fault, extra_args=args)
    return {check["id"]: check for check in summary.get("checks", [])}


def smallest_caught(
    spec: Path, field: FieldSpec, kind: str, cache: Path, work: Path, steps: int
) -> dict:
    """Bisect (log scale) the smallest size of ``kind`` at which its first check fails."""
    fault = get_fault(kind)
    check = expected_checks(fault, field)[0]
    threshold = fault.claimed_threshold(field)
    select = check.split("[")[0]
    tried: dict[float, str] = {}

    def status(multiple: float) -> str:
        size = multiple * threshold
        label = f"{kind}={size:.6g}{fault.unit}"
        folder = work / f"{field.name}-{kind}-{multiple:.4f}"
        checks = _session(spec, cache, folder, label, select)
        tried[size] = checks.get(check, {}).get("status", "not run")
        return tried[size]

    clean = _session(spec, cache, work / f"{field.name}-{kind}-clean", None, select)
    clean_status = clean.get(check, {}).get("status", "not run")
    result = {"kind": kind, "seed": field.synthetic.seed, "check": check, "unit": fault.unit}
    result.update(threshold=threshold, clean=clean_status, tried=tried)
    if clean_status != "passed":
        result["smallest"] = None
        return result
    if status(HIGH) != "failed":
        result["smallest"] = math.inf
        return result
    low, high = LOW, HIGH
    for _ in range(steps):
        middle = math.sqrt(low * high)
        if status(middle) == "failed":
            high = middle
        else:
            low = middle
    result["smallest"] = high * threshold
    return result


# --- clean seeds, held against the truth ------------------------------------------


def clean_seeds(
    base: FieldSpec, seeds: Sequence[int], cache: Path, work: Path, parallel: int
) -> list[dict]:
    def one(seed: int) -> dict:
        spec = seed_variant(base, seed, work) if seed != base.synthetic.seed else base.source_path
        select = "not test_matches_baseline"
        checks = _session(spec, cache, work / f"clean-{seed}", None, select)
        failed = [cid for cid, check in checks.items() if check["status"] in ("failed", "error")]
        return {
            "seed": seed,
            "checks": len(checks),
            "failed": failed,
            "explained": [review.line() for review in review_session(spec, cache, failed)],
        }

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, seeds))


# --- the report -------------------------------------------------------------------------


def _size(value: float | None, unit: str, every_size_caught: bool = False) -> str:
    if value is None:
        return "fails clean"
    if math.isinf(value):
        return f"> {HIGH:g}x"
    # Caught at every size tried: the smallest is at most the smallest tried.
    return f"<= {value:.3g}" if every_size_caught else f"{value:.3g}"


def _every_size_caught(result: dict) -> bool:
    statuses = list(result.get("tried", {}).values())
    return bool(statuses) and all(status == "failed" for status in statuses)


def review_fails_clean(results: list[dict], base: FieldSpec, work: Path) -> list[str]:
    """The truth's review of each check that failed clean on a seed of the size search."""
    lines = []
    for result in results:
        if result["smallest"] is None:
            spec = work / f"{base.name}-seed{result['seed']}.toml"
            for review in review_session(spec, work / "cache", [result["check"]]):
                lines.append(f"- seed {result['seed']}: {review.line()}")
    return sorted(set(lines))


def report(
    results: list[dict],
    clean: list[dict],
    field: FieldSpec,
    seconds: float,
    steps: int,
    fails_clean: Sequence[str] = (),
) -> str:
    lines = [
        "# Detection power: smallest fault caught, and clean seeds",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} with `python benchmarks/sensitivity.py` in "
        f"{seconds / 60:.0f} minutes on {platform.node() or 'this machine'} "
        f"({platform.machine()}, Python {platform.python_version()}; drizzlepac "
        f"{version('drizzlepac')}, photutils {version('photutils')}, skyqa "
        f"{version('skyqa')}). Field: `{field.name}` realisations (the seed varies "
        "everything drawn: noise, stars, pedestals, pointing errors, catalog errors, hits).",
        "",
        "## Smallest caught size",
        "",
        f"Sizes searched from {LOW:g} to {HIGH:g} times the claimed threshold, the bracket "
        f"halved {steps} times on a log scale (resolution a factor "
        f"{(HIGH / LOW) ** (1 / 2**steps):.2f}); the value is the smallest size that failed.",
        "",
        "| fault (unit) | check | claimed threshold | smallest caught, per seed | median "
        "| median / threshold |",
        "|---|---|---|---|---|---|",
    ]
    by_kind: dict[str, list[dict]] = {}
    for result in results:
        by_kind.setdefault(result["kind"], []).append(result)
    for kind, rows in by_kind.items():
        unit = rows[0]["unit"]
        threshold = rows[0]["threshold"]
        found = [row["smallest"] for row in rows if row["smallest"] is not None]
        median = statistics.median(found) if found else math.nan
        per_seed = ", ".join(
            f"{row['seed']}: {_size(row['smallest'], unit, _every_size_caught(row))}"
            for row in rows
        )
        lines.append(
            f"| `{kind}` ({unit}) | `{rows[0]['check'].split('[')[0]}` | {threshold:g} "
            f"| {per_seed} | {_size(median, unit)} | {median / threshold:.2f} |"
        )
    lines += ["", "Notes:"]
    lines += [f"- `{kind}`: {NOTES[kind]}." for kind in by_kind if kind in NOTES]
    lines += [
        "- fails clean: the check already fails on that seed without the fault (a real "
        "failure: see the clean seeds below and their reviews), so it has no smallest size "
        "there.",
    ]
    if fails_clean:
        lines += ["", "The checks that failed clean on seeds of the size search, reviewed:"]
        lines += list(fails_clean)
    lines += [
        "",
        "## Clean seeds: every failure, against the truth",
        "",
        "A session per seed with every check but the baseline comparison (a new realisation "
        "has no baseline). REAL: the truth shows the failure (drizzlepac's result is off by "
        "more than the threshold); NOT SHOWN BY THE TRUTH: skyqa's measurement or threshold "
        "would be wrong.",
        "",
        "| seed | checks run | failed |",
        "|---|---|---|",
    ]
    for entry in clean:
        failed = ", ".join(f"`{name}`" for name in entry["failed"]) or "none"
        lines.append(f"| {entry['seed']} | {entry['checks']} | {failed} |")
    lines.append("")
    for entry in clean:
        if entry["explained"]:
            lines.append(f"Seed {entry['seed']}:")
            lines += [f"- {line}" for line in entry["explained"]]
            lines.append("")
    return "\n".join(lines) + "\n"


def _in_catalog_order(results: list[dict]) -> None:
    """Sort results in place: by fault, in the catalog's order, then by seed."""
    order = [name for name in FAULTS if FAULTS[name].unit]
    results.sort(key=lambda result: (order.index(result["kind"]), result["seed"]))


def rewrite_report(path: Path, base: FieldSpec, args) -> int:
    """The report of an earlier run (its sensitivity.json), with its clean failures
    reviewed again; sessions' caches and spec files are where that run left them."""
    document = json.loads(path.read_text())
    work = path.parent
    for entry in document["clean"]:
        seed = entry["seed"]
        spec = (
            base.source_path
            if seed == base.synthetic.seed
            else work / f"{base.name}-seed{seed}.toml"
        )
        reviews = review_session(spec, work / "cache", entry["failed"]) if entry["failed"] else []
        entry["explained"] = [review.line() for review in reviews]
    for result in document["sizes"]:
        for key in ("threshold", "smallest"):
            result[key] = float(result[key]) if result[key] is not None else None
        # The claim as the fault states it now (the search bracket was the run's own).
        result["threshold"] = FAULTS[result["kind"]].claimed_threshold(base)
    _in_catalog_order(document["sizes"])
    minutes = float(document.get("minutes", 0.0))
    fails_clean = review_fails_clean(document["sizes"], base, work)
    text = report(document["sizes"], document["clean"], base, minutes * 60, args.steps, fails_clean)
    args.out.write_text(text)
    path.write_text(json.dumps(document, indent=1, default=str))
    print(f"written: {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--field", default="mini-sim")
    parser.add_argument("--seeds", type=int, nargs="*", default=list(DEFAULT_SEEDS))
    parser.add_argument("--clean-seeds", type=int, nargs="*", default=list(DEFAULT_CLEAN_SEEDS))
    sized = [name for name, fault in FAULTS.items() if fault.unit]
    parser.add_argument("--kinds", nargs="*", default=sized, choices=sized)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/skyqa-sensitivity"))
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "sensitivity.md")
    parser.add_argument(
        "--merge",
        type=Path,
        help="sensitivity.json of an earlier run: its results are kept, except those this "
        "run measures again (same fault and seed) or replaces (its clean seeds)",
    )
    parser.add_argument(
        "--report-only",
        type=Path,
        help="write --out from this sensitivity.json, holding its clean failures against "
        "the truth again (with the current skyqa.review), without running a session",
    )
    args = parser.parse_args(argv)

    base = resolve_field(args.field)
    if args.report_only:
        return rewrite_report(args.report_only, base, args)
    work = args.work.resolve()
    cache = work / "cache"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    clean = clean_seeds(base, args.clean_seeds, cache, work, args.parallel)
    for entry in clean:
        print(f"clean seed {entry['seed']}: failed {entry['failed'] or 'nothing'}", flush=True)

    tasks = []
    for seed in args.seeds:
        spec = seed_variant(base, seed, work)
        field = load_field_spec(spec)
        tasks += [(spec, field, kind) for kind in args.kinds if FAULTS[kind].applies_to(field)]

    def one(task) -> dict:
        spec, field, kind = task
        result = smallest_caught(spec, field, kind, cache, work / "sizes", args.steps)
        print(
            f"{kind} seed {field.synthetic.seed}: smallest caught "
            f"{_size(result['smallest'], result['unit'])} {result['unit']} "
            f"(threshold {result['threshold']:g})",
            flush=True,
        )
        return result

    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(one, tasks))
    if args.merge:
        earlier = json.loads(args.merge.read_text())
        measured = {(result["kind"], result["seed"]) for result in results}
        for result in earlier["sizes"]:
            if (result["kind"], result["seed"]) not in measured:
                for key in ("threshold", "smallest"):
                    result[key] = float(result[key]) if result[key] is not None else None
                results.append(result)
        seeds = {entry["seed"] for entry in clean}
        clean = sorted(
            clean + [entry for entry in earlier["clean"] if entry["seed"] not in seeds],
            key=lambda entry: entry["seed"],
        )
    _in_catalog_order(results)
    minutes = (time.perf_counter() - started) / 60
    document = {"sizes": results, "clean": clean, "minutes": minutes}
    (work / "sensitivity.json").write_text(json.dumps(document, indent=1, default=str))
    fails_clean = review_fails_clean(results, base, work)
    seconds = time.perf_counter() - started
    args.out.write_text(report(results, clean, base, seconds, args.steps, fails_clean))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
