"""The report page a person reads (``index.html``): the header block, the verdict, failures
first, every check with its worst verdict, versions, figures and the field spec; and the
console's one line per check."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path


def _embed(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'


def shown_verdict(check: dict) -> dict | None:
    """The verdict a check's row shows: its worst (`skyqa.verdict.worst`), if any."""
    verdicts = check.get("verdicts", [])
    index = check.get("worst")
    if index is None or not 0 <= index < len(verdicts):
        return None
    return verdicts[index]


def _nearness(verdict: dict) -> str:
    ratio = verdict.get("ratio")
    if ratio is None:
        return ""
    if ratio > 1:
        return f"{ratio:.2f} x the threshold: past it"
    return f"{ratio:.2f} of the way to the threshold"


def _within(check: dict) -> str:
    count = len(check.get("verdicts", []))
    return f"{check.get('within', 0)} of {count} within threshold" if count else ""


def check_line(check: dict) -> str:
    """One line of the console list: status, id, the worst verdict, n of m within."""
    head = f"{check['status'].upper():10} {check['id']}"
    shown = shown_verdict(check)
    if shown is None:
        message = check.get("message", "").strip().splitlines()
        return f"{head}: {message[-1][:200]}" if message else head
    nearness = _nearness(shown)
    return (
        f"{head}: worst {shown['subject']}: {shown['measured']} (required "
        f"{shown['threshold']}{'; ' + nearness if nearness else ''}); {_within(check)}"
    )


HEADER_VERSIONS = ("drizzlepac", "stwcs", "stsci.skypac", "spherical_geometry", "astropy", "skyqa")
"""The package versions the report's header block names (all are in its Versions table)."""


def field_facts(field, exposures, versions: dict) -> list[tuple[str, str]]:
    """What a person needs to know first about the data checked: the report's header block.

    Parameters
    ----------
    field : skyqa.field.FieldSpec
        The field's spec (name, kind, target).
    exposures : skyqa.acquire.ExposureSet or None
        The acquired exposures, where the run got that far (their primary headers are read
        for instrument, detector, filter and exposure time).
    versions : dict
        Package versions, as in the summary's environment.
    """
    from astropy.io import fits

    facts = [
        ("field", f"{field.name} ({field.kind})"),
        ("target", f"{field.target.name}, RA {field.target.ra_deg:.5f}, Dec "
                   f"{field.target.dec_deg:+.5f} (deg, ICRS)"),
    ]  # fmt: skip
    if exposures is not None and exposures.flt_paths:
        headers = [fits.getheader(path, 0) for path in exposures.flt_paths]

        def values(key: str) -> str:
            found = sorted({str(header.get(key, "?")).strip() for header in headers})
            return ", ".join(found)

        exptime = sum(float(header.get("EXPTIME", 0.0)) for header in headers)
        facts += [
            ("instrument", f"{values('TELESCOP')} {values('INSTRUME')}/{values('DETECTOR')}"),
            ("filter", values("FILTER")),
            ("exposures", f"{len(headers)} FLTs in {len(exposures.visit_drz_paths)} visits, "
                          f"{exptime:.0f} s in all"),
        ]  # fmt: skip
    else:
        facts.append(("exposures", "not acquired in this run"))
    facts.append(
        ("versions", ", ".join(f"{name} {versions.get(name, '?')}" for name in HEADER_VERSIONS))
    )
    return facts


STATUS_ORDER = {
    "failed": 0, "error": 0, "not run": 1, "warned": 2, "passed": 3, "skipped": 4,
    "deselected": 5,
}  # fmt: skip
"""Order of the checks on the page: what needs a look first."""


def _verdicts_table(check: dict) -> str:
    """Every verdict of a check, worst first (`skyqa.verdict.severity`), folded away."""
    from skyqa.verdict import severity

    escape = html.escape
    verdicts = check.get("verdicts", [])
    if len(verdicts) < 2:
        return ""

    def rank(verdict: dict) -> tuple[bool, float]:
        return severity(verdict["passed"], verdict.get("ratio"))

    rows = [
        f"<tr class='{'passed' if v['passed'] else 'failed'}'><td>{escape(v['subject'])}</td>"
        f"<td>{escape(v['measured'])}</td><td>{escape(v['threshold'])}</td>"
        f"<td>{escape(_nearness(v))}</td></tr>"
        for v in sorted(verdicts, key=rank, reverse=True)
    ]
    return (
        f"<details><summary>all {len(verdicts)} verdicts, worst first</summary><table>"
        "<tr><th>subject</th><th>measured</th><th>threshold</th><th>nearness</th></tr>"
        + "".join(rows)
        + "</table></details>"
    )


def _check_row(check: dict) -> str:
    escape = html.escape
    shown = shown_verdict(check)
    if shown is None:
        message = check.get("message", "").strip().splitlines()
        subject, measured, threshold = "", (message[-1][:300] if message else ""), ""
        nearness = ""
    else:
        subject, measured, threshold = shown["subject"], shown["measured"], shown["threshold"]
        nearness = _nearness(shown)
    return (
        f"<tr class='{escape(check['status'])}'><td>{escape(check['id'])}</td>"
        f"<td>{escape(check['status'])}</td><td>{escape(subject)}</td>"
        f"<td>{escape(measured)}</td><td>{escape(threshold)}</td>"
        f"<td>{escape(nearness)}</td><td>{escape(_within(check))}"
        f"{_verdicts_table(check)}</td></tr>"
    )


def write_index(
    path: Path,
    summary: dict,
    spec_text: str,
    figures: list[Path],
    problems: list[str],
    facts: Sequence[tuple[str, str]] = (),
) -> Path:
    """The report page: a header block (``facts``, `field_facts`), verdict, failures
    first, every check (its worst verdict first), versions, figures and the field spec."""
    escape = html.escape
    checks = summary["checks"]
    ranked = sorted(checks, key=lambda check: STATUS_ORDER.get(check["status"], 1))
    failed = [check for check in checks if check["status"] in ("failed", "error")]
    verdict = summary["verdict"]
    counts = summary["counts"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>skyqa report: {escape(summary['field'])}</title><style>",
        "body{font-family:sans-serif;margin:1.5em;max-width:1400px}",
        "table{border-collapse:collapse;margin:0.5em 0 1.5em} td,th{border:1px solid #ccc;",
        "padding:3px 6px;font-size:90%;vertical-align:top;text-align:left;",
        "overflow-wrap:anywhere}",
        ".failed,.error,.interrupted,.incomplete{background:#f4c7c3}",
        ".passed{background:#d9ead3}.skipped,.deselected,.partial{background:#eee}",
        ".warned{background:#fce8b2}",
        "#verdict{font-size:140%;padding:0.5em;border-radius:4px}",
        "img{max-width:100%;margin:0.5em 0;border:1px solid #ddd} pre{background:#f6f6f6;",
        "padding:0.5em;font-size:85%;white-space:pre-wrap;overflow-wrap:anywhere}",
        "details table{margin:0.3em 0} #checks td:nth-child(2){white-space:nowrap}",
        "#checks td:first-child{min-width:16em} #checks td:last-child{min-width:10em}",
        "</style></head><body>",
        f"<h1>skyqa report: {escape(summary['field'])}</h1>",
        "<table id='facts'>",
        *[f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in facts],
        "</table>",
        f"<p id='verdict' class='{escape(verdict)}'>Verdict: <b>{escape(verdict.upper())}</b>"
        f" &mdash; {escape(summary['headline'])}</p>",
        f"<p id='counts'>{counts['selected']} of {counts['total']} checks selected: "
        f"{counts['passed'] + counts['warned']} passed ({counts['warned']} with warnings), "
        f"{counts['failed']} failed, {counts['error']} could not be evaluated, "
        f"{counts['skipped']} not applicable, {counts['not run']} did not run. "
        f"{escape(summary['created_utc'])}, environment "
        f"{escape(summary['environment']['label'])}.</p>",
    ]
    if verdict not in ("passed", "failed"):
        parts.append(
            "<p id='not-complete' class='failed'>Not every check for this field ran: this "
            "page is no verdict on the field. The last complete report, if there was one, "
            "is kept in <code>last-complete/</code> beside this page.</p>"
        )
    fault = summary["environment"].get("injected_fault")
    if fault:
        parts.append(
            f"<p id='injected-fault' class='failed'>Injected fault <b>{escape(fault)}</b>: "
            "this run is a self-test of the harness, not QA of the field.</p>"
        )
    if failed:
        parts.append("<h2 id='failures'>Failures</h2><ul>")
        for check in failed:
            parts.append(
                f"<li class='failed'><b>{escape(check['id'])}</b><pre>"
                f"{escape(check['message'][-3000:])}</pre></li>"
            )
        parts.append("</ul>")
    parts += [
        "<h2>Checks</h2><table id='checks'><tr><th>check</th><th>status</th>",
        "<th>worst subject</th><th>measured</th><th>threshold</th><th>nearness</th>",
        "<th>verdicts</th></tr>",
        *[_check_row(check) for check in ranked],
        "</table><h2>Versions</h2><table>",
    ]
    for name, version in summary["environment"]["versions"].items():
        parts.append(f"<tr><th>{escape(name)}</th><td>{escape(str(version))}</td></tr>")
    parts.append("</table>")
    if problems:
        parts.append("<h2>Report problems</h2><ul>")
        parts += [f"<li>{escape(problem)}</li>" for problem in problems]
        parts.append("</ul>")
    parts.append("<h2>Figures</h2>")
    for figure in figures:
        parts.append(f"<h3>{escape(figure.stem)}</h3>{_embed(figure)}")
    parts.append(
        "<details><summary><h2 style='display:inline'>Field spec</h2></summary>"
        f"<pre>{escape(spec_text)}</pre></details></body></html>"
    )
    path.write_text("".join(parts), encoding="utf-8")
    return path
