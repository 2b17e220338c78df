"""Classify the mutants that survive ``mutmut run`` and write ``docs/mutation-survivors.md``.

Run from the folder where ``mutmut run`` ran (the project root), after it finished::

    python tests/mutation/classify.py

Each surviving mutant gets one line: equivalent (no input can tell it from the original,
with the reason) or stays (a real difference the unit tests do not pin, with the reason
it is left). A mutant no rule describes is listed as UNREVIEWED: read it, then write a
test that kills it or a rule below that says why it may live. The score printed and
written is killed / (all mutants - equivalent ones).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EQUIVALENT = "equivalent"
STAYS = "stays"

RULES: list[tuple[str, str, str, str]] = [
    # (where: regex on the mutant's name, what: regex on its changed lines, kind, why)
    (r"", r"\.astype\(None\)|dtype=None|\.to_numpy\(None\)", EQUIVALENT,
     "astype/to_numpy with dtype None gives float64: the values are floats already"),
    (r"", r'float\("NAN"\)', EQUIVALENT, "float() reads 'NAN' as it reads 'nan'"),
    (r"", r'hdul\["(sci|err|dq)"', EQUIVALENT, "FITS extension names match without case"),
    (r"", r"strict=(None|False)|^-.*strict=True", EQUIVALENT,
     "the zipped sequences have one length by construction; strict only guards that"),
    (r"", r"^-\s+float$\n^\+\s+None$", EQUIVALENT,
     "astype/to_numpy with dtype None gives float64: the values are floats already"),
    (r"", r"groupby\(\"(rootname|region)\", sort=None\)", EQUIVALENT,
     "pandas takes sort=None as false: the same order as sort=False"),
    (r"x__residuals_from_truth__|x_check_pedestals_recovered__", r"groupby|^-.*dtype=float$",
     EQUIVALENT, "the per-exposure table is only looked up by name, and its values are floats"),
    (r"x__residuals_from_truth__", r"or True else math\.nan", EQUIVALENT,
     "the mean of no values is NaN already"),
    (r"", r"\"globalmin(\+match)?\", None\)?$", EQUIVALENT,
     "an empty advice and None are both left out of the joined sentence"),
    (r"x_column_outlier__", r"full_like\(deviation, None\)", EQUIVALENT,
     "None in a float array is NaN"),
    (r"x_grid_samples__", r"step: int = 3", STAYS,
     "a default argument: every caller in skyqa passes the step"),
    (r"x_pair_statistics__", r"and False else grid_samples|grid_samples\(a, None\)", EQUIVALENT,
     "the samples are recomputed identically; with no step numpy's slicing steps by 1, "
     "which every call that omits samples passes"),
    (r"x_solve_offsets__", r"= 2\.0  # each group|rcond=None\)$\n\+.*weights, \)$", EQUIVALENT,
     "the group rows only fix each group's free constant, which is removed after; lstsq's "
     "default rcond is the machine-precision one that None asks for"),
    (r"x_check_globalmin__|x_check_globalmin_plus_match__",
     r"^\+.*\.max\(skipna=(True|False)\) - \w+\.min\(skipna=(True|False)\)", EQUIVALENT,
     "one side of the difference still has skipna=False: a NaN makes the spread NaN either way"),
    (r"x_pair_statistics__", r"maxiters=11", EQUIVALENT,
     "the clipping converges in a few iterations: the 11th is never reached"),
    (r"", r"itertuples\(index=(None|True)\)", EQUIVALENT,
     "fields are read by name: the index, when present, changes no named field"),
    (r"", r"^\+\s+None,$", EQUIVALENT,
     "a Verdict's passed is coerced with bool(): None is False, as the original's False"),
    (r"", r"Verdict\((check|None), str\(path\), None,", EQUIVALENT,
     "a Verdict's passed is coerced with bool(): None is False, as the original's False"),
    (r"x_worst__|x_severity__", r"-2\.0|range\(len\(verdicts\)\)", EQUIVALENT,
     "ratios are >= 0, so a passed verdict without one ranks last either way; comparing "
     "the first verdict with itself changes nothing"),
    (r"x_solve_offsets__", r"2\.0 / max", EQUIVALENT,
     "scaling every pair's weight alike leaves the least-squares differences as they are; "
     "the group rows only fix each group's free constant, which is removed after"),
    (r"x_measure_pairs__",
     r"samples = None|samples=None|step=None|pair_statistics\(a, b, min_pixels|min_pixels, \)$",
     EQUIVALENT, "the samples are passed in (or recomputed identically): step is unused"),
    (r"x__candidates__", r"", EQUIVALENT,
     "a pre-selection: a wider or one-pixel-shifted box keeps every sample the exact "
     "test then decides on (NEAR_MARGIN and the slack absorb a pixel); it only costs time"),
    (r"x_pair_statistics__", r"NEAR_MARGIN|wcs_world2pix\(ra, dec, 1\)", EQUIVALENT,
     "the linear pre-selection with a 20-pixel margin: widening it or shifting it by a "
     "pixel keeps every sample the exact (SIP) test then decides on"),
    (r"x__outline__", r"", EQUIVALENT,
     "the outline only bounds the pre-selection box, which keeps a margin and a slack"),
    (r"", r'simplefilter\("ignore", (None|)\)|errstate\(all=None\)', STAYS,
     "which warnings are silenced while computing: the numbers are the same"),
    (r"", r"^\+\s+\w+: (int|float) = [0-9.]+,?$|^\+.*: int = \d+, \w+: int = \d+$", STAYS,
     "a default argument: every caller in skyqa passes the value (from the field spec)"),
    (r"x_load_exposure__", r"\) >= SOURCE_SIGMA", EQUIVALENT,
     "a pixel exactly 3.000... ERR above its local mean: a tie between two measured floats"),
    (r"x_load_exposure__", r"uniform_filter\(filled, (size=10|)\)", STAYS,
     "the local mean's window (9 pixels): 3 or 10 find the same stars in the tests; its "
     "size is a choice documented with SOURCE_SIGMA, not pinned"),
    (r"x_load_exposure__", r"else 1\.0\)|and False else 0\.0", STAYS,
     "the fill value of bad pixels before the local mean: only pixels beside many bad ones "
     "can tell, at a level under the source threshold"),
    (r"x_load_exposure__", r"WCS\((None, hdul|hdul\[\"SCI\", 1\]\.header, (None|))\)", STAYS,
     "the HDU list serves only lookup-table distortions (NPOLFILE, D2IMFILE), which "
     "skyqa's inputs do not carry"),
    (r"x_pair_statistics__",
     r"maxiters=None|sigma_clipped_stats\(differences, (maxiters|sigma=CLIP_SIGMA, \))", STAYS,
     "the clipping converges in a few iterations and astropy's default sigma is 3, "
     "CLIP_SIGMA's value"),
    (r"x_pair_statistics__", r"<= min_pixels", STAYS,
     "a pair with exactly min_pixels candidates or near samples: the later count of "
     "differences (pinned at its edge) decides in every test"),
    (r"x_pair_statistics__", r"\(x[b] > 0\)|\(y[b] > 0\)|<= b[xy] - 1", EQUIVALENT,
     "a sample exactly on b's first or last pixel centre: a tie between mapped floats"),
    (r"x_column_medians__", r"counts >= 0|shape\[0\] \+ 1|np\.where\(good, sci, None\)", EQUIVALENT,
     "a column with no good pixel is NaN either way; the index never reaches the bound; "
     "None in a float array is NaN"),
    (r"x_column_(outlier|deviations)__", r"nan_to_num\(columns, \)|deviation \+ np\.nanmedian",
     STAYS,
     "how wholly flagged columns are filled before the neighbours' median, and the "
     "centre of the MAD (the median deviation is ~0): the scores move well below the limit"),
    (r"x_report__", r"stacklevel=3|stacklevel", STAYS,
     "where pytest says the warning came from"),
    (r"x_weighted_mean__", r"np\.asarray\(values, \)|np\.asarray\(uncertainties, \)", EQUIVALENT,
     "the values and uncertainties are floats already: asarray keeps them float64"),
    (r"x_exposure_steps__", r"set\(STEP_COLUMNS\) < set", EQUIVALENT,
     "a seam table always has more columns than the steps (the pair's names): a subset "
     "of it is a proper subset"),
    (r"x_exposure_steps__", r"pd\.DataFrame\(rows, (columns=None)?\)", EQUIVALENT,
     "every row is built in the columns' order, and a table with no row returns earlier "
     "with them"),
    (r"x_chi2_sf__", r"value >= 0 else math\.nan|value > 1 else math\.nan|if value < 0:",
     EQUIVALENT, "the branch is reached for an infinite chi-square only (any bound gives its "
     "sign), and at 0 the series gives exactly 1.0 as the shortcut does"),
    (r"x_exposure_seam_statistics__", r"if \(total > 0\) or True|if total >= 0|if total > 1",
     STAYS, "total is a sum of 1/u^2 over measured pairs, 0 only for infinite uncertainties, "
     "which no measurement gives; above 1 for any u below 1 x noise"),
    (r"x_exposure_seam_statistics__", r"if \(dof > 0\) or True|if dof >= 0", EQUIVALENT,
     "with one pair its chi-square is 0, where chi2_sf gives exactly the 1.0 written"),
    (r"x_check_exposure_seams__", r"finite = is_finite\(row\.mean\) or", EQUIVALENT,
     "the mean and its uncertainty come from the same weights: one is NaN when the other is"),
    (r"x__scatter_verdict__", r"p_scatter <= SCATTER_P", STAYS,
     "a chi-square whose chance is exactly 2.275 % is not built by any test; the edge is "
     "measure zero"),
    (r"x_check_exposure_sky__", r"regions\.iloc\[(1:0|0:1)\]|, method, None\)", EQUIVALENT,
     "with no region the table is empty whatever its slice, and the verdict for no region "
     "has no threshold number"),
    (r"x_exposure_sky_errors__", r"check_mosaic_sky\(regions, method, 2\.0\)", EQUIVALENT,
     "only the regions' values are read from these verdicts, not their pass at the limit"),
    (r"x_exposure_sky_errors__", r"\"region\", sort=None", EQUIVALENT,
     "pandas takes sort=None as false: the same order as sort=False"),
    (r"x_exposure_sky_errors__", r"np\.array\(entries, \)", EQUIVALENT,
     "the entries are numbers: the array is float64 either way"),
    (r"x_exposure_sky_errors__", r"pd\.DataFrame\(rows, (columns=None)?\)", EQUIVALENT,
     "every row is built in the columns' order; a table with no row is empty either way, "
     "which is all its caller asks"),
    (r"x_exposure_sky_errors__", r"verdict\.value is None\) and False", STAYS,
     "check_mosaic_sky gives every region's verdict a value (NaN when not measured): the "
     "None branch guards a verdict it does not make"),
    (r"x_exposure_sky_errors__", r"denominator > 1 else", STAYS,
     "a region's pixels times its weight squared is far above 1 for any region that "
     "passes min_overlap_pixels"),
    (r"x_box_outline__", r".", EQUIVALENT,
     "only the outline's bounding box is used (_candidates), and the four corners, which "
     "every edge's end points give, fix it"),
    (r"x_load_exposure__", r"WCS\(science\.header, (None)?\)", STAYS,
     "the file is read only for lookup-table distortions (D2IMARR, WCSDVARR), which the "
     "unit tests' FLTs do not carry; the fields' runs read them"),
    (r"x_check_delivered_wcs__", r"if \(all\(map\(is_finite, rms\)\)\) or True", EQUIVALENT,
     "the hypotenuse of a value that is not finite is not finite either: it fails the same"),
    (r"x_check_uniform_setup__", r"mode\(dropna=None\)", EQUIVALENT,
     "pandas takes dropna=None as false"),
    (r"x_exposure_sky_errors__", r"regions\.method_a != method\) \| \(regions\.method_b == method",
     EQUIVALENT, "every pair of methods has the same regions, with the same members, weights "
     "and pixels: the rows picked only give those"),
    (r"x_check_oracle_agreement__", r"value=beyond if \(finite\) or True", EQUIVALENT,
     "a difference that is NaN makes beyond NaN (max keeps its NaN first argument)"),
    (r"x_check_oracle_agreement__", r"abs\(beyond\) < limit", STAYS,
     "a difference exactly at its tolerance beyond twice its uncertainty is not built: both "
     "come out of a least-squares solution"),
    (r"x_load_exposure__", r"chip_of\(science\.header, None,|3 if extver else 1", EQUIVALENT,
     "every two-chip FLT has CCDCHIP (the extension number is only its fallback), and "
     "chip_of asks only whether there is more than one chip"),
    (r"x_measure_listed_pairs__", r"samples = None|min_pixels, (None)?\)$", EQUIVALENT,
     "the samples are passed in (or recomputed identically)"),
    (r"x_measure_listed_pairs__", r"chips: bool = True", STAYS,
     "a default argument: every caller in skyqa passes chips"),
    (r"x_offset_uncertainties__", r"np\.clip\(np\.diag\(covariance\), None, None\)", STAYS,
     "the clip only guards a diagonal rounded below zero, which the tests' systems do not give"),
    (r"x_pair_statistics__", r"if a\.chip and b\.chip else", EQUIVALENT,
     "a pair is of two chips of two-chip exposures or of two one-chip exposures: never mixed"),
    (r"x_pair_statistics__", r"differences\.size \* step \* step <= SMALL_OVERLAP_PIXELS", STAYS,
     "an overlap of exactly 4,000 pixels at step 2 is not built"),
    (r"x_solve_offsets__", r"np\.concatenate\(\[2\.0 / uncertainty", EQUIVALENT,
     "the group rows fix only each group's free constant, exactly satisfiable whatever the "
     "pairs' weight against them; the constant is removed after"),
    (r"x_check_uniform_setup__", r"mode\(dropna=True\)", EQUIVALENT,
     "the values are strings after astype(str) ('nan' for a missing keyword): nothing to drop"),
]  # fmt: skip


def classify(name: str, diff: str) -> tuple[str, str]:
    """The kind (equivalent, stays, UNREVIEWED) and reason of one surviving mutant."""
    changed = "\n".join(line for line in diff.splitlines() if line.startswith(("+", "-")))
    for where, what, kind, why in RULES:
        if re.search(where, name) and re.search(what, changed, re.MULTILINE):
            return kind, why
    return "UNREVIEWED", "no rule describes it: kill it with a test, or add a rule"


def _mutmut(*arguments: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *arguments], capture_output=True, text=True, check=True
    ).stdout


def main() -> int:
    lines = [line.strip() for line in _mutmut("results", "--all", "true").splitlines()]
    status = dict(line.rsplit(": ", 1) for line in lines if ": " in line)
    total = len(status)
    killed = sum(value == "killed" for value in status.values())
    rows = []
    for name, value in sorted(status.items()):
        if value == "killed":
            continue
        diff = _mutmut("show", name) if value == "survived" else ""
        kind, why = classify(name, diff) if value == "survived" else (value, "")
        change = " / ".join(
            line[1:].strip() for line in diff.splitlines()
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
        )  # fmt: skip
        rows.append((name, kind, change, why))
    equivalent = sum(kind == EQUIVALENT for _, kind, _, _ in rows)
    score = killed / (total - equivalent)
    counts = {kind: sum(row[1] == kind for row in rows) for kind in sorted({r[1] for r in rows})}
    out = [
        "# Surviving mutants",
        "",
        "Written by `python tests/mutation/classify.py` after `mutmut run`",
        "(docs/development.md). Scope: skyqa.checks (the check functions), skyqa.measure,",
        "skyqa.oracle, skyqa.steps, skyqa.verdict; killed by `pytest tests/unit` (its layout",
        "tests left out).",
        "",
        f"{total} mutants: {killed} killed, "
        + ", ".join(f"{count} {kind}" for kind, count in counts.items())
        + f". Score (killed / non-equivalent): {killed}/{total - equivalent} = {score:.1%}.",
        "",
        "| mutant | kind | change | why |",
        "|---|---|---|---|",
    ]
    for name, kind, change, why in rows:
        shown = change.replace("|", "\\|")
        out.append(f"| `{name}` | {kind} | `{shown[:160]}` | {why} |")
    (Path(__file__).parents[2] / "docs" / "mutation-survivors.md").write_text("\n".join(out) + "\n")
    print(out[6])
    return 0 if not counts.get("UNREVIEWED") else 1


if __name__ == "__main__":
    sys.exit(main())
