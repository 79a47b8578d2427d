"""``<run-dir>/report.html``: one self-contained page per run for marketers and auditors.

The run's settings, ranking quality against the baselines, the selected model and why, the per-round table,
the profile model's figures, privacy spend per partner (with delta) and per release kind, the run's plots
(embedded as base64 PNG, so the file can be mailed or opened offline) and a short glossary. Every number is
read from ``config.json``, ``metrics.jsonl``, ``summary.json`` and ``privacy/report.json``; nothing is
computed here. A small script marks
each figure ``data-rendered="yes"`` once the browser has decoded it (the headless-browser test reads that).
"""

from __future__ import annotations

import base64
import html
import json
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
    """Write ``report.html`` into the run directory from its summary and privacy report (None without DP), its
    ``config.json`` and ``metrics.jsonl`` (either may be absent)."""
    target = run_path / REPORT_FILE
    config = json.loads((run_path / "config.json").read_text()) if (run_path / "config.json").is_file() else {}
    rows = ([json.loads(line) for line in (run_path / "metrics.jsonl").read_text().splitlines() if line.strip()]
            if (run_path / "metrics.jsonl").is_file() else [])
    empirical_file = run_path / "privacy" / "empirical-audit.json"
    empirical = json.loads(empirical_file.read_text()) if empirical_file.is_file() else None
    page = render(summary, privacy, figures={
        "NDCG@10 and epsilon over rounds": run_path / "ndcg_epsilon.png",
        "epsilon spent per partner over rounds": run_path / "privacy" / "epsilon.png"}, config=config, rows=rows,
        empirical=empirical, empirical_figures={
            "canary membership test: ROC curve per view": run_path / "privacy" / "canary-roc.png",
            "canary scores, included against excluded": run_path / "privacy" / "canary-scores.png"})
    write_atomically(target, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return target


def render(summary: dict, privacy: dict | None, figures: dict[str, Path], *, config: dict | None = None,
           rows: list[dict] | None = None, empirical: dict | None = None,
           empirical_figures: dict[str, Path] | None = None) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>fedrec run {e(summary['run_name'])}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>fedrec run <code>{e(summary['run_name'])}</code></h1>",
             f"<p>Status: <b>{e(summary['status'])}</b> ({e(summary.get('end_reason', ''))}).</p>",
             "<h2>Run settings</h2>", _settings_table(config or {}, summary),
             "<h2>Recommendation quality against baselines</h2>", _quality_table(summary), *_marketing_table(summary),
             *_segment_table(summary),
             *_selection(summary),
             "<h2>Rounds</h2>", _round_table(rows or []),
             *_profile_model(summary),
             *_missed_rounds(summary),
             "<h2>Privacy spent per partner</h2>", _privacy_tables(summary, privacy)]
    parts += _figures(figures)
    if empirical is not None:
        parts += ["<h2>Empirical privacy audit (canaries)</h2>", _empirical_table(empirical),
                  *_figures(empirical_figures or {})]
    parts.append("<h2>Glossary</h2><dl>" + "".join(f"<dt><b>{e(t)}</b></dt><dd>{e(d)}</dd>" for t, d in GLOSSARY)
                 + "</dl>")
    parts += [MARK_RENDERED, "</body></html>"]
    return "\n".join(parts)


def _figures(figures: dict[str, Path]) -> list[str]:
    """Each PNG that exists, embedded as base64 with its caption."""
    e, parts = html.escape, []
    for caption, path in figures.items():
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{e(caption)}</figcaption></figure>")
    return parts


def _empirical_table(report: dict) -> str:
    """The canary audit's lower bounds beside the ledgers' epsilon (privacy/empirical-audit.json)."""
    e = html.escape
    body = ""
    for view, rows in report.get("views", {}).items():
        for group, row in rows.items():
            ledger = "none (DP off)" if row.get("ledger_epsilon") is None else _number(row["ledger_epsilon"], 3)
            verdict = "LEAK" if row.get("exceeds_ledger") else ("ok" if row.get("ledger_epsilon") is not None else "-")
            body += (f"<tr><td>{e(view)}</td><td>{e(group)}</td><td>{row.get('canaries')}</td>"
                     f"<td>{_number(row.get('auc'), 3)}</td><td>{_number(row.get('one_run_epsilon'), 3)}</td>"
                     f"<td>{ledger}</td><td>{verdict}</td></tr>")
    return (f"<p>{report.get('canaries')} canary users, {report.get('included')} included by a secret coin; each "
            f"lower bound holds at {report.get('confidence', 0.95):.0%} confidence ({e(str(report.get('method')))}). "
            f"Verdict: <b>{'PASS' if report.get('passed') else 'FAIL'}</b>.</p>"
            "<table id='empirical'><tr><th>view</th><th>canaries of</th><th>canaries</th><th>AUC</th>"
            "<th>epsilon lower bound</th><th>ledger epsilon</th><th>verdict</th></tr>" + body + "</table>"
            "<p class='note'>A lower bound far below the ledger's epsilon is expected: the ledger's figure is a "
            "worst case over all users, the bound what this attack could show. A bound above it means the code "
            "releases more than the ledger records.</p>")


def _settings_table(config: dict, summary: dict) -> str:
    """What was run: data, partners, rounds, strategy, privacy mode (from config.json and summary.json)."""
    run, data, spent = config.get("run_config", {}), config.get("data", {}), summary.get("privacy") or {}
    privacy = (f"DP per {spent.get('unit')}, target epsilon {spent.get('target_epsilon')}, delta {spent.get('delta')}, "
               f"accountant {spent.get('accountant')}" if spent.get("dp") else "off (no privacy guarantee)")
    rows = [("mode", config.get("mode", "-")), ("data", data.get("source", run.get("dataset", "-"))),
            ("partners", config.get("num_partners", "-")),
            ("users per partner", ", ".join(map(str, data.get("users_per_partner", []))) or "-"),
            ("users, items", f"{data.get('users', '-')}, {data.get('items', '-')}"),
            ("rounds", run.get("num-server-rounds", summary.get("rounds", "-"))),
            ("strategy", run.get("strategy", "-")), ("local epochs", run.get("local-epochs", "-")),
            ("privacy", privacy)]
    body = "".join(f"<tr><td>{html.escape(str(k))}</td><td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    return f"<table id='settings'>{body}</table>"


def _selection(summary: dict) -> list[str]:
    """Which model to serve, and why."""
    chosen = summary.get("selected")
    if not chosen:
        return ["<p>Selected model: none (a deployment has no central validation); the last round's model is "
                "<code>model.pt</code>.</p>"]
    e = html.escape
    return [f"<p id='selected'>Selected model: <b>round {chosen['round']}</b>, chosen by {e(str(chosen.get('by')))}: "
            f"validation NDCG@10 {_number(chosen.get('valid-ndcg@10'))}, test NDCG@10 {_number(chosen.get('ndcg@10'))}. "
            f"Serve it: <code>fedrec recommend --run &lt;run-dir&gt;/{e(str(chosen.get('model')))} ...</code></p>"]


def _round_table(rows: list[dict]) -> str:
    """One line per round (metrics.jsonl): central and federated NDCG@10 (with its noise std), epsilon."""
    if not rows:
        return "<p>No round was recorded.</p>"
    body = ""
    for row in rows:
        central, federated = row.get("central") or {}, row.get("federated") or {}
        fed = _number(federated.get("ndcg@10"))
        if federated.get("ndcg@10-std") is not None:
            fed += f" ± {_number(federated['ndcg@10-std'])}"
        body += (f"<tr><td>{row['round']}</td><td>{_number(central.get('ndcg@10'))}</td>"
                 f"<td>{_number(central.get('hr@10'))}</td><td>{fed}</td><td>{_number(row.get('epsilon_max'))}</td>"
                 f"<td>{len(row.get('partners') or {})}</td><td>{_number(row.get('seconds'), 1)}</td></tr>")
    return ("<table id='rounds'><tr><th>round</th><th>NDCG@10</th><th>HR@10</th><th>federated NDCG@10 ± noise std"
            "</th><th>max epsilon</th><th>partners trained</th><th>seconds</th></tr>" + body + "</table>"
            "<p class='note'>Round 0 is the model before training (the DP item prior alone).</p>")


def _profile_model(summary: dict) -> list[str]:
    """The user-profile model's figures, when the run trained one."""
    metrics = summary.get("metrics") or {}
    if "next-category-top5" not in metrics:
        return []
    return ["<h2>User profiles</h2>", "<table id='profiles'><tr><th>figure</th><th>profile model</th>"
            "<th>baseline</th></tr>"
            f"<tr><td>next category in top 5</td><td>{_number(metrics.get('next-category-top5'))}</td>"
            f"<td>{_number(metrics.get('prior-top5'))} (category frequencies)</td></tr>"
            f"<tr><td>reconstruction MSE</td><td>{_number(metrics.get('reconstruction-mse'))}</td>"
            f"<td>{_number(metrics.get('mean-baseline-mse'))} (mean profile)</td></tr></table>",
            "<p class='note'>Segments and per-user interests come from <code>fedrec profile</code> at each site.</p>"]


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


def _marketing_table(summary: dict) -> list[str]:
    """Precision, recall, MAP, coverage and novelty at each K of ``metrics-k``, model against baselines."""
    metrics = summary.get("metrics") or {}
    ks = sorted({int(key.split("@")[1]) for key in metrics if key.startswith("precision@")})
    if not ks:
        return []
    figures = ("precision", "recall", "map", "coverage", "novelty")
    rows = [("federated model (this run)", metrics)]
    rows += [(name.replace("_", " "), values) for name, values in (summary.get("baselines") or {}).items()
             if any(key.startswith("precision@") for key in values)]
    head = "".join(f"<th>{f}@{k}</th>" for k in ks for f in figures)
    body = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(
        f"<td>{_number(values.get(f'{f}@{k}'), 2 if f == 'novelty' else 4)}</td>" for k in ks for f in figures)
        + "</tr>" for name, values in rows)
    return [f"<table id='marketing'><tr><th>model</th>{head}</tr>{body}</table>",
            "<p class='note'>One held-out item per user: precision@K = recall@K / K; MAP@K = mean 1/rank within "
            "K; coverage@K = share of the catalogue in anyone's top K; novelty@K = mean -log2 of a recommended "
            "item's share of interactions (higher: less obvious).</p>"]


def _segment_table(summary: dict) -> list[str]:
    """The served model's recall, MAP and novelty at the largest K per activity segment: exact (simulation) and
    as the partners released them (noised, with the noise std)."""
    marketing = summary.get("marketing") or {}
    federated, central = marketing.get("federated") or {}, marketing.get("central") or {}
    segments = federated.get("segments") or {}
    if not segments:
        return []
    k = max(int(key.split("@")[1]) for key in federated["all"] if key.startswith("recall@") and "-" not in key)
    names = (f"recall@{k}", f"map@{k}", f"novelty@{k}")
    head = "".join(f"<th>{name} exact</th><th>{name} released</th>" for name in names)

    def row(label: str, exact: dict, released: dict) -> str:
        cells = "".join(f"<td>{_number(exact.get(n))}</td><td>{_number(released.get(n))} ± "
                        f"{_number(released.get(f'{n}-std'))}</td>" for n in names)
        return f"<tr><td>{html.escape(label)}</td><td>{_number(released.get('users'), 0)}</td>{cells}</tr>"

    body = row("all users", central.get("all") or {}, federated["all"])
    body += "".join(row(name, (central.get("segments") or {}).get(name) or {}, values)
                    for name, values in segments.items())
    return [f"<h3>Served model (round {marketing['model_round']}) by activity segment</h3>"
            f"<table id='segments'><tr><th>segment</th><th>users (noised)</th>{head}</tr>{body}</table>",
            "<p class='note'>Segments count each user's training interactions. Exact figures need the data "
            "(simulation only); released figures are what partners sent: Gaussian-noised sums, one DP release in "
            "each ledger, ± one noise std. Novelty in bits against each partner's own popularity.</p>"]


def _privacy_tables(summary: dict, privacy: dict | None) -> str:
    spent = summary.get("privacy") or {}
    if not spent.get("dp"):
        return "<p><b>DP was switched off for this run: no privacy guarantee.</b></p>"
    caps, status = spent.get("max_epsilon", {}), spent.get("status", {})
    delta = spent.get("delta")
    rows = "".join(f"<tr><td>{html.escape(p)}</td><td>{_number(eps)}</td><td>{delta}</td><td>{_number(caps.get(p))}</td>"
                   f"<td>{html.escape(str(status.get(p, '-')))}</td></tr>" for p, eps in spent.get("epsilon", {}).items())
    text = (f"<p>Unit: one {html.escape(str(spent.get('unit')))}; delta = {delta}; "
            f"accountant {html.escape(str(spent.get('accountant')))}; target epsilon {spent.get('target_epsilon')}."
            "</p><table id='epsilon'><tr><th>partner</th><th>epsilon spent</th><th>delta</th><th>cap</th>"
            f"<th>status</th></tr>{rows}</table>")
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


def _number(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"

