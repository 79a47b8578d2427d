"""``<run-dir>/report.html``: one self-contained page per run for marketers and auditors.

Ranking quality against the baselines, privacy spend per partner and per release kind, the run's plots
(embedded as base64 PNG, so the file can be mailed or opened offline) and a short glossary. Every number
is read from ``summary.json`` and ``privacy/report.json``; nothing is computed here. A small script marks
each figure ``data-rendered="yes"`` once the browser has decoded it (the headless-browser test reads that).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from recmodel.atomic_write import write_atomically
from server.privacy_report import RELEASE_KINDS, value_range

REPORT_FILE = "report.html"
GLOSSARY = [
    ("NDCG@10", "Normalised discounted cumulative gain of the top 10: 1 when each user's held-out item is ranked "
                "first, 1/log2(rank+1) when it is ranked within the top 10, 0 otherwise; averaged over users. "
                "Random ranking over thousands of items scores near 0; compare against the popularity baseline."),
    ("HR@10", "Hit rate: share of users whose held-out item is in their top 10."),
    ("popularity", "Recommends the most interacted-with items to everyone (exact counts: needs the raw data)."),
    ("DP popularity", "The same from the partners' Gaussian-noised item counts: what the federation gets "
                      "privately with no model at all."),
    ("epsilon, delta", "The differential-privacy guarantee per partner: for any one user (the unit), every output "
                       "of the partner is at most e^epsilon times more likely with that user than without, except "
                       "with probability delta. Smaller is more private; 1 to 8 is common in practice."),
]
STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}figure img{max-width:100%}
.note{color:#555;font-size:90%}"""
MARK_RENDERED = """<script>
for (const img of document.querySelectorAll('figure img')) {
  const mark = () => img.setAttribute('data-rendered', img.naturalWidth > 0 ? 'yes' : 'no');
  img.complete ? mark() : img.addEventListener('load', mark);
}
</script>"""


def write_html_report(run_path: Path, summary: dict, privacy: dict | None) -> Path:
    """Write ``report.html`` into the run directory from its summary and privacy report (None without DP)."""
    target = run_path / REPORT_FILE
    page = render(summary, privacy, figures={
        "NDCG@10 and epsilon over rounds": run_path / "ndcg_epsilon.png",
        "epsilon spent per partner over rounds": run_path / "privacy" / "epsilon.png"})
    write_atomically(target, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return target


def render(summary: dict, privacy: dict | None, figures: dict[str, Path]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>fedrec run {e(summary['run_name'])}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>fedrec run <code>{e(summary['run_name'])}</code></h1>",
             f"<p>Status: <b>{e(summary['status'])}</b> ({e(summary.get('end_reason', ''))}).</p>",
             "<h2>Recommendation quality against baselines</h2>", _quality_table(summary),
             *_missed_rounds(summary),
             "<h2>Privacy spent per partner</h2>", _privacy_tables(summary, privacy)]
    for caption, path in figures.items():
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{e(caption)}</figcaption></figure>")
    parts.append("<h2>Glossary</h2><dl>" + "".join(f"<dt><b>{e(t)}</b></dt><dd>{e(d)}</dd>" for t, d in GLOSSARY)
                 + "</dl>")
    parts += [MARK_RENDERED, "</body></html>"]
    return "\n".join(parts)


def _missed_rounds(summary: dict) -> list[str]:
    """A table of the rounds partners missed (crashed, timed out, update rejected), if any."""
    missed = [(int(r), partner, why) for r, failures in (summary.get("partner_failures") or {}).items()
              for partner, why in failures.items()]
    if not missed:
        return []
    rows = "".join(f"<tr><td>{html.escape(p)}</td><td>{r}</td><td style='text-align:left'>{html.escape(why)}</td></tr>"
                   for r, p, why in sorted(missed))
    return ["<h2>Rounds partners missed</h2>",
            f"<table><tr><th>partner</th><th>round</th><th>why</th></tr>{rows}</table>"]


def _quality_table(summary: dict) -> str:
    rows = [("federated model (this run)", summary.get("metrics") or {})]
    rows += [(name.replace("_", " "), values) for name, values in (summary.get("baselines") or {}).items()]
    body = "".join(f"<tr><td>{html.escape(name)}</td><td>{_number(m.get('ndcg@10'))}</td>"
                   f"<td>{_number(m.get('hr@10'))}</td><td>{m.get('users', '-')}</td></tr>" for name, m in rows)
    return ("<table id='quality'><tr><th>model</th><th>NDCG@10</th><th>HR@10</th><th>users evaluated</th></tr>"
            f"{body}</table><p class='note'>Higher is better; the model is worth deploying when it beats "
            "popularity clearly.</p>")


def _privacy_tables(summary: dict, privacy: dict | None) -> str:
    spent = summary.get("privacy") or {}
    if not spent.get("dp"):
        return "<p><b>DP was switched off for this run: no privacy guarantee.</b></p>"
    caps, status = spent.get("max_epsilon", {}), spent.get("status", {})
    rows = "".join(f"<tr><td>{html.escape(p)}</td><td>{_number(eps)}</td><td>{_number(caps.get(p))}</td>"
                   f"<td>{html.escape(str(status.get(p, '-')))}</td></tr>" for p, eps in spent.get("epsilon", {}).items())
    text = (f"<p>Unit: one {html.escape(str(spent.get('unit')))}; delta = {spent.get('delta')}; "
            f"accountant {html.escape(str(spent.get('accountant')))}; target epsilon {spent.get('target_epsilon')}."
            "</p><table id='epsilon'><tr><th>partner</th><th>epsilon spent</th><th>cap</th><th>status</th></tr>"
            f"{rows}</table>")
    kinds = [(p, k, r) for p, facts in ((privacy or {}).get("partners") or {}).items()
             for k, r in (facts.get("releases") or {}).items()]
    if kinds:
        text += ("<table id='releases'><tr><th>partner</th><th>release kind</th><th>releases</th><th>steps</th>"
                 "<th>noise multiplier</th><th>sample rate</th></tr>" + "".join(
                     f"<tr><td>{html.escape(p)}</td><td>{html.escape(RELEASE_KINDS.get(k, k))}</td>"
                     f"<td>{r['releases']}</td><td>{r['steps']}</td><td>{value_range(r['noise_multiplier'])}</td>"
                     f"<td>{value_range(r['sample_rate'])}</td></tr>" for p, k, r in kinds) + "</table>"
                 "<p class='note'>One cumulative epsilon per partner covers all its release kinds; verify it with "
                 "<code>fedrec audit &lt;run-dir&gt;</code>.</p>")
    return text


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"

