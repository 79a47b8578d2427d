"""The run's privacy report: ``<run-dir>/privacy/report.json``, ``report.md``, ``epsilon.png``.

Written after every round and at the end. Every number comes from the
partners' replies (the server never sees a ledger in deployment). Per partner
it keeps the site's policy, its public key and every signed ledger head it
received, so ``fedrec audit`` can check the site's ledger against the
coordinator's record and the record against the site's signatures.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from recmodel.config import RunConfig
from server.plots import plot_epsilon_by_partner
from server.recorder import RoundRecorder

COVERED = [
    "item counts for the popularity prior: one Gaussian-noised release per run (each user a unit vector over "
    "item rows), one ledger entry",
    "model updates: the profile model and the DLRM after every local DP-SGD round, and the personalised "
    "OverArch (kept at the site)",
    "evaluation answers: Gaussian-noised sums of per-user NDCG@K and HR@K and the user count, one ledger entry "
    "per answer, however often the coordinator asks",
    "the mechanism's randomness (Poisson masks, Gaussian noise): drawn from a 64-bit secret seed from the site's "
    "operating system, never from the run config",
    "the site's policy (DP on, unit, delta, accountant, cap, metrics): a weaker run config is refused before training",
]
NOT_COVERED = [
    "the number of users at each site: it sets the sample rate and step count (and so epsilon) and is the "
    "aggregation weight; treated as public, as in standard DP-SGD",
    "simulation only: the exact per-partner train losses in the replies and the server's central evaluation, "
    "which reads the simulated data it generated",
    "item ids and categories of the shared catalogue (public by assumption); timing of replies",
    "a site's own guarantee rests on its code and its signing key (site_key.pem, private to the site)",
]
KEYS = ("each site holds its Ed25519 signing key (site_key.pem, mode 0600) and signs every ledger entry and head; "
        "the coordinator holds no key: it keeps the signed heads and public keys it received (this report)")


def central_dp_section(config: RunConfig, spent) -> dict | None:
    """Partner-level guarantee of server-side DP-FedAvg, from Flower's accountant (``PrivacySpent``)."""
    if not config.central_dp:
        return None
    return {
        "definition": "(epsilon, delta)-DP of the released global models with respect to adding or removing "
                      "one partner's whole update (partner-level), from server-side clipping and noise",
        "mechanism": "Flower DifferentialPrivacyServerSideFixedClipping (Gaussian on the aggregate, no sampling amplification)",
        "noise_multiplier": config.central_noise_multiplier,
        "clipping_norm": config.central_clipping_norm,
        "delta": config.target_delta,
        "epsilon": None if spent is None else spent.epsilon,
        "releases": 0 if spent is None else spent.num_releases,
        "accountant": "flwr RdpAccountant (dp-accounting RDP)" if spent is None else f"flwr {spent.accounting_method}",
        "trust": "requires trusting the server to add the noise; the local DP-SGD guarantee does not",
    }


def build_report(config: RunConfig, recorder: RoundRecorder, *, finished: bool, end_reason: str = "",
                 central_spent=None) -> dict:
    partners = {}
    for name, state in sorted(recorder.partners.items()):
        facts = asdict(state)
        facts["epsilon_by_round"] = {str(k): v for k, v in sorted(state.epsilon_by_round.items())}
        partners[name] = facts
    return {
        "run_name": recorder.run.name,
        "finished": finished,
        "end_reason": end_reason,
        "dp": config.dp,
        "guarantee": {
            "definition": "(epsilon, delta)-differential privacy per partner, against the coordinator and the other partners",
            "unit": config.privacy_unit,
            "neighbouring": ("add or remove one user with all their interactions" if config.privacy_unit == "user"
                             else "add or remove one interaction (event-level; weaker than user-level)"),
            "delta": config.target_delta,
            "accountant": config.accountant,
            "scope": "cumulative over every DP release in each partner's ledger (all rounds, models and runs)",
            "covered": COVERED,
            "not_covered": NOT_COVERED,
            "keys": KEYS,
            "site_policies": "each partner's policy below (source: its --node-config, a simulation policy file, "
                             "or, in simulation without one, the run config mirrored)",
        },
        "mechanism": {
            "name": "DP-SGD, Poisson-subsampled Gaussian (Opacus's sampler and accountant); per-user clipping "
                    "from one backward pass (embedding-aware); item tables of at least sparse-table-rows rows on "
                    "plain SGD with deferred noise (same distribution as per-step noise)",
            "sparse_table_rows": config.sparse_table_rows,
            "max_grad_norm": config.max_grad_norm,
            "target_epsilon": config.target_epsilon,
            "planned_rounds": config.num_server_rounds,
            "local_epochs": config.local_epochs or "derived per partner from its declared users",
            "expected_batch_size": config.batch_size,  # a cap: a site trains with min(this, its examples / 4);
                                                        # each partner's ledger entries hold its sample rate
        },
        "partners": partners,
        "central_dp": central_dp_section(config, central_spent),
    }


def write_privacy_report(run_path: Path, report: dict) -> Path:
    folder = run_path / "privacy"
    folder.mkdir(exist_ok=True)
    tmp = folder / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    tmp.replace(folder / "report.json")
    (folder / "report.md").write_text(render_markdown(report))
    series = {name: p["epsilon_by_round"] for name, p in report["partners"].items()}
    caps = {name: p["max_epsilon"] for name, p in report["partners"].items()}
    plot_epsilon_by_partner(series, caps, target=folder / "epsilon.png")
    return folder


RELEASE_KINDS = {"popularity": "item counts (popularity prior)", "profile": "profile model update",
                 "dlrm": "DLRM update", "evaluation": "evaluation answer", "dlrm-personalised": "personalised OverArch"}


def release_table(partners: dict) -> list[str]:
    """Markdown lines: each partner's DP releases by kind, as its latest signed head reported them."""
    lines = ["", "Releases by kind (each partner's whole ledger; one cumulative epsilon above covers all of them):", "",
             "| partner | release kind | releases | steps | noise multiplier | sample rate | rounds |",
             "|---|---|---|---|---|---|---|"]
    for name, p in partners.items():
        for kind, r in (p.get("releases") or {}).items():
            lines.append(f"| {name} | {RELEASE_KINDS.get(kind, kind)} | {r['releases']} | {r['steps']} | "
                         f"{value_range(r['noise_multiplier'])} | {value_range(r['sample_rate'])} | "
                         f"{value_range(r['rounds'], 'd')} |")
    return lines


def value_range(pair, fmt: str = ".4f") -> str:
    """``[low, high]`` as one value when they agree, else "low to high"."""
    return f"{pair[0]:{fmt}}" if pair[0] == pair[1] else f"{pair[0]:{fmt}} to {pair[1]:{fmt}}"


def render_markdown(report: dict) -> str:
    g, m = report["guarantee"], report["mechanism"]
    lines = [
        f"# Privacy report: run `{report['run_name']}`",
        "",
        f"Status: {'finished' if report['finished'] else 'in progress'}"
        + (f" ({report['end_reason']})" if report["end_reason"] else ""),
        "",
        "## Guarantee",
        "",
        f"- {g['definition']}." if report["dp"] else "- **DP was switched off for this run: no guarantee.**",
        f"- Unit of privacy: **{g['unit']}** ({g['neighbouring']}).",
        f"- delta = {g['delta']:g}; epsilon computed with the **{g['accountant']}** accountant; {g['scope']}.",
        "- Covered: " + "; ".join(g["covered"]) + ".",
        "- Not covered: " + "; ".join(g["not_covered"]) + ".",
        f"- Keys: {g['keys']}.",
        "",
        "## Mechanism",
        "",
        f"{m['name']}; clipping norm {m['max_grad_norm']}, expected batch at most {m['expected_batch_size']} users "
        "(a partner with fewer than 4 times that many samples a quarter of its users per step), "
        f"{m['local_epochs']} local epoch(s) per round, {m['planned_rounds']} planned rounds, "
        f"noise calibrated per partner to reach target epsilon {m['target_epsilon']} after the planned rounds.",
        "",
        "## Partners",
        "",
        "| partner | status | epsilon spent | cap | noise multiplier | sample rate | DLRM steps (this run) | rounds | ledger entries |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in report["partners"].items():
        eps = "-" if p["epsilon"] is None else f"{p['epsilon']:.4f}"
        cap = "-" if p["max_epsilon"] is None else f"{p['max_epsilon']:g}"
        sigma = "-" if p["noise_multiplier"] is None else f"{p['noise_multiplier']:.4f}"
        rate = "-" if p["sample_rate"] is None else f"{p['sample_rate']:.4f}"
        lines.append(f"| {name} | {p['status']} | {eps} | {cap} | {sigma} | {rate} | {p['steps']} | "
                     f"{p['rounds_trained']} | {p['ledger_entries']} |")
    lines += release_table(report["partners"])
    lines += ["", "Site policies and keys:", ""]
    for name, p in report["partners"].items():
        policy = p.get("policy") or {}
        if policy:
            lines.append(f"- {name}: dp={policy['dp']}, unit={policy['privacy_unit']}, delta={policy['delta']:g}, "
                         f"accountant={policy['accountant']}, cap={policy['max_epsilon']:g}, "
                         f"metrics={policy['metrics']} ({policy['source']}); signing key {p.get('key_id') or '-'}, "
                         f"{len(p.get('signed_heads', []))} signed ledger heads received")
    central = report.get("central_dp")
    if central:
        eps = "-" if central["epsilon"] is None else f"{central['epsilon']:.4f}"
        lines += ["", "## Central DP (partner level)", "",
                  f"{central['definition']}: epsilon = **{eps}** at delta = {central['delta']:g} after "
                  f"{central['releases']} releases; noise multiplier {central['noise_multiplier']}, clipping norm "
                  f"{central['clipping_norm']}; {central['accountant']}. Note: {central['trust']}."]
    notes = [msg for p in report["partners"].values() for msg in p["messages"]]
    if notes:
        lines += ["", "## Events", ""] + [f"- {msg}" for msg in notes]
    lines += ["", "Verify independently: `fedrec audit <run-dir>` (hash chain, dp-accounting RDP and PLD).", ""]
    return "\n".join(lines)
