"""fedrec ServerApp: federated DP training of the DLRM, evaluated every round."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context
from flwr.serverapp import Grid, ServerApp

from recmodel.config import ConfigError, RunConfig
from recmodel.data.federated import (FederatedData, check_sites_can_train, declared_model_spec, load_federated_data,
                                     model_spec_for)
from recmodel.data.schema import DataError
from recmodel.evaluation import (SEGMENTS_KEY, VALIDATION_KEY, evaluate_bundle, evaluate_ranking,
                                 marketing_by_segment, popularity_scorer)
from recmodel.model.bundle import BundleSpec, Recommender
from recmodel.model.model_file import save_model
from recmodel.privacy.preflight import NOISE_TO_SIGNAL_WARNING
from recmodel.training.data_defaults import explain_choices
from recmodel.training.reference_baselines import reference_baselines
from server.checkpoint import (Checkpoint, check_resumable, load_checkpoint, recorder_state, restore_recorder,
                               restore_strategy_state, save_checkpoint, strategy_state)
from server.console import fail_in_one_line, quiet_console
from server.coordinator_watchdog import stop_when_orphaned
from server.html_report import write_html_report
from server.federated_marketing import federated_marketing
from server.model_selection import is_new_best, selected_folder, selection_summary, served_model
from server.personalisation import personalise_partners
from server.plots import plot_ndcg_and_epsilon
from server.preflight import federated_evaluation_line, run_preflight
from server.privacy_report import build_report, central_dp_section, write_privacy_report
from server.recorder import RoundRecorder
from server.round_loop import run_rounds
from server.reference_time import resolve_reference_time
from server.refusals import FAILURE_STATUS, RefusalReasons
from server.run_directory import RunDirectory
from server.site_checks import SiteChecks, SiteCheckFailed, run_site_checks
from server.strategy import NoPartnerCanTrain, build_strategy

app = ServerApp()
NODE_WAIT_SECONDS = 120


class RunFailed(RuntimeError):
    """At least one round had fewer successful partners than ``min-partners`` (raised after the artifacts)."""


def _connected_nodes(grid: Grid, wanted: int) -> list[int]:
    """Node ids once at least ``wanted`` SuperNodes are connected (or any, after ``NODE_WAIT_SECONDS``)."""
    deadline = time.time() + NODE_WAIT_SECONDS
    while len(nodes := list(grid.get_node_ids())) < wanted and time.time() < deadline:
        time.sleep(1)
    if not nodes:
        raise RuntimeError(f"no SuperNode connected within {NODE_WAIT_SECONDS} s")
    return sorted(nodes)


@app.main()
def main(grid: Grid, context: Context) -> None:
    stop_when_orphaned()
    quiet_console(None, verbose=False)
    try:
        config = RunConfig.from_mapping(context.run_config)
        config.check_target_within_cap()
        node_ids = _connected_nodes(grid, config.min_partners)
        checks = run_site_checks(grid, node_ids, min_partners=config.min_partners, timeout=config.round_timeout)
        if checks.simulated:  # simulation: the server holds the simulated data and reads it
            data = load_federated_data(config, num_partitions=len(node_ids))  # validates data before training
            check_sites_can_train(config, data)
            spec = model_spec_for(config, data)
        else:  # deployment: no partner data here; the model comes from the declared schema
            data, spec = None, declared_model_spec(config)
            config = config.replace(central_evaluation=False, reference_baselines=False, keep_site_updates=False)
        checkpoint = None
        if config.resume_from:
            checkpoint = load_checkpoint(Path(config.resume_from))
            check_resumable(checkpoint, config, Path(config.resume_from))
        config = resolve_reference_time(config, data, checkpoint.run_config if checkpoint else None)
    except (ConfigError, DataError, SiteCheckFailed) as error:
        fail_in_one_line(f"fedrec: cannot start the run: {error}")
        raise
    run_federation(grid, context, config, spec, data, checks, checkpoint)


def run_federation(grid: Grid, context: Context, config: RunConfig, spec: BundleSpec, data: FederatedData | None,
                   checks: SiteChecks, checkpoint: Checkpoint | None = None) -> None:
    """Train and evaluate over ``checks.passed``; ``data`` is the simulated data (None in a deployment).

    With ``checkpoint`` (``resume-from``) the run continues in its run directory after the checkpoint's round.
    """
    if checkpoint is None:
        run = RunDirectory.create(config)
    else:
        run = RunDirectory(Path(config.resume_from).expanduser().resolve())
    quiet_console(run.path / "flower.log", verbose=config.verbose)
    k = config.top_k
    num_nodes = len(checks.passed)
    if checkpoint is not None:
        baseline = checkpoint.baselines.get("popularity", {})
    elif data is not None:
        baseline = evaluate_ranking(popularity_scorer(data.catalogue.popularity), data.catalogue, data.users, k=k,
                                    ks=config.metric_ks())
    else:
        baseline = {}
    if checkpoint is None:
        run.write_json("config.json", {
            "run_config": config.to_mapping(), "run_id": context.run_id, "num_partners": num_nodes,
            "mode": checks.mode, "model_spec": spec.to_dict(), "data": _data_facts(data, checks),
        })
    recorder = RoundRecorder(run=run, top_k=k, baseline=baseline)
    if checkpoint is not None:
        restore_recorder(recorder, checkpoint.recorder)
    recorder.site_checks(checks)
    _print_start(run, config, data, checks, checkpoint)

    torch.manual_seed(config.seed)
    model = Recommender(spec)
    settings = ConfigRecord({
        "run-dir": str(run.path),
        "run-id": checkpoint.ledger_run_id if checkpoint else f"{run.name}#{context.run_id}",
        "model-spec": json.dumps(spec.to_dict()),
        "reference-time": config.reference_time,  # public: every site measures recency against it
    })
    refusals = RefusalReasons(run.path if data is not None else None, str(settings["run-id"]))
    if checkpoint is None:
        baselines = {"popularity": baseline} if baseline else {}  # deployment: no exact baseline
        preflight = None
        if config.dp or config.popularity_prior:
            preflight = preflight_partners(grid, model, settings, config, data, recorder, checks.passed, refusals)
            if config.popularity_prior:
                baselines["dp_popularity"] = preflight["prior"]
        if config.reference_baselines and config.central_evaluation and data is not None:  # simulation only
            baselines.update(reference_baselines(spec, data.catalogue, data.users, list(data.partitions),
                                                 [data.site_name(i) for i in range(len(data.partitions))], config,
                                                 progress=lambda line: print(line, flush=True)))
    else:
        baselines, preflight = checkpoint.baselines, checkpoint.preflight
        model.load_state_dict(checkpoint.arrays)
    print(recorder.header(), flush=True)
    initial = ArrayRecord(model.state_dict())

    central_segments: dict[int, dict | None] = {}

    def evaluate_and_report(server_round: int, arrays: ArrayRecord) -> None:
        central = None
        if config.central_evaluation:
            model.load_state_dict(arrays.to_torch_state_dict())
            central = evaluate_bundle(model, data.catalogue, data.users, config)
            central_segments[server_round] = central.pop(SEGMENTS_KEY, None)  # for the served round's summary
            if is_new_best(recorder.rows, central, k):  # kept on disk: the selection survives resume-from
                save_model(selected_folder(run.path, server_round), model.state_dict(), spec, config.to_mapping(),
                           list(map(str, data.catalogue.item_ids)), data.catalogue.category_names)
        recorder.finish_round(server_round, central)
        if config.dp or config.central_dp:
            write_privacy_report(run.path, build_report(config, recorder, finished=False,
                                                        central_spent=strategy.central_privacy_spent()))

    def checkpoint_round(server_round: int, arrays: ArrayRecord) -> None:
        save_checkpoint(run.path, Checkpoint(server_round, arrays.to_torch_state_dict(), strategy_state(strategy.inner),
                                             str(settings["run-id"]), config.to_mapping(), recorder_state(recorder),
                                             baselines, preflight))

    strategy = build_strategy(config, num_nodes, recorder, refusals)
    strategy.exhausted_nodes.update(checks.failures)  # failed their site check: they sit the run out
    strategy.populations = {node: checks.users[checks.names[node]] for node in checks.passed}
    if checkpoint is None and preflight is not None:
        leave_out_refusers(preflight, strategy, recorder, config, num_nodes)
    first_round = 1
    if checkpoint is not None:
        restore_strategy_state(strategy.inner, checkpoint.strategy_state)
        strategy.exhausted_nodes.update(n for n, name in checks.names.items()  # refused before the stop
                                        if recorder.partners[name].status != "active")
        for name, facts in recorder.left_out().items():  # said again: the resumed run's console shows it too
            print(f"partner '{name}' was left out in round {facts['round']} before the stop: {facts['reason']}",
                  flush=True)
        first_round = checkpoint.server_round + 1
    else:
        evaluate_and_report(0, initial)
    end_reason = f"all {config.num_server_rounds} planned rounds completed"
    try:
        final_arrays = run_rounds(strategy, grid, initial, first_round=first_round,
                                  last_round=config.num_server_rounds, timeout=config.round_timeout,
                                  train_config=settings, evaluate_config=ConfigRecord(dict(settings)),
                                  evaluate_fn=evaluate_and_report, after_round=checkpoint_round)
    except NoPartnerCanTrain as stop:
        end_reason = f"stopped early: {stop}"
        print(f"fedrec: {end_reason}; ending the run with the last aggregated model.", flush=True)
        final_arrays = strategy.latest_arrays or initial
    personalisation = None
    if config.personalise:
        personalisation = personalise_partners(grid, final_arrays, settings, exclude=strategy.exhausted_nodes,
                                               recorder=recorder, top_k=k, refusals=refusals)
    marketing = None
    if config.metric_ks():
        marketing = served_model_marketing(grid, model, final_arrays, settings, config, data, recorder, run,
                                           exclude=strategy.exhausted_nodes, refusals=refusals,
                                           central_segments=central_segments)
    status = write_final_artifacts(run, config, recorder, spec, final_arrays, baselines, end_reason,
                                   strategy.central_privacy_spent(), personalisation,
                                   None if data is None else data.catalogue.item_ids, preflight,
                                   None if data is None else data.catalogue.category_names, marketing)
    if status == "failed":  # the ServerApp fails, so flwr marks the run finished:failed and `fedrec run` exits 1
        raise RunFailed(f"fedrec run {run.name} FAILED: round(s) {sorted(recorder.failed_rounds)} had fewer than "
                        f"min-partners={config.min_partners} successful partners; see {run.path / 'summary.json'}")


def served_model_marketing(grid: Grid, model: Recommender, final_arrays: ArrayRecord, settings: ConfigRecord,
                           config: RunConfig, data: FederatedData | None, recorder: RoundRecorder, run: RunDirectory,
                           *, exclude: set[int], refusals: RefusalReasons, central_segments: dict) -> dict:
    """summary.json's ``marketing``: the served model's figures per activity segment, federated (the partners'
    noised sums) and, in simulation, central (exact: from that round's central evaluation, ``central_segments``
    by round, or computed again after a resume)."""
    last_round = recorder.rows[-1]["round"] if recorder.rows else 0
    served_round, state = served_model(run.path, recorder.rows, config.top_k, last_round,
                                       final_arrays.to_torch_state_dict())
    result = {"model_round": served_round,
              "federated": federated_marketing(grid, ArrayRecord(state), settings, model_round=served_round,
                                               ks=config.metric_ks(), exclude=exclude, recorder=recorder,
                                               timeout=config.round_timeout, refusals=refusals),
              "central": None}
    if config.central_evaluation and data is not None:
        result["central"] = central_segments.get(served_round)
        if result["central"] is None:  # evaluated before a resume
            model.load_state_dict(state)
            result["central"] = marketing_by_segment(model, data.catalogue, data.users, config)
    return result


def leave_out_refusers(preflight: dict, strategy, recorder: RoundRecorder, config: RunConfig, num_nodes: int) -> None:
    """Partners that refused the pre-flight (a whole run past their cap, a policy, a damaged ledger) sit the run
    out; with fewer than ``min-partners`` left the run ends here, before any training (``RunFailed``)."""
    for node, status, reason in preflight.pop("refused", []):
        if status == FAILURE_STATUS:  # simulation: an unexpected error, asked again in round 1
            continue
        strategy.exhausted_nodes.add(node)
        recorder.partner_left_out(0, node, reason, status)
    remaining = num_nodes - len(strategy.exhausted_nodes)
    if remaining < config.min_partners:
        fail_in_one_line(f"fedrec: the run cannot start: {remaining} partner(s) can take part, fewer than "
                         f"min-partners={config.min_partners}; nothing was trained")
        raise RunFailed("every partner refused the run before round 1")


def _print_start(run: RunDirectory, config: RunConfig, data: FederatedData | None, checks: SiteChecks,
                 checkpoint: Checkpoint | None) -> None:
    if data is not None:
        print(f"fedrec run {run.name}: simulation (the server reads the simulated data), {len(checks.passed)} "
              f"partners, {len(data.users)} users, {len(data.catalogue)} items, dp={config.dp}, "
              f"strategy={config.strategy}", flush=True)
    else:
        print(f"fedrec run {run.name}: deployment, {len(checks.passed)} partner(s) "
              f"({', '.join(sorted(checks.names[n] for n in checks.passed))}), dp={config.dp}, "
              f"strategy={config.strategy}; the coordinator reads no partner data: evaluation is federated only",
              flush=True)
    explained: dict[str, list[str]] = {}
    for name in sorted(checks.names[n] for n in checks.passed):
        line = explain_choices(config, examples=checks.users[name],
                               catalogue_items=None if data is None else len(data.catalogue))
        explained.setdefault(line, []).append(name)
    for line, names in explained.items():
        if line:
            print(f"derived from the data ({', '.join(names)}): {line}", flush=True)
    if checkpoint is not None:
        print(f"resuming from the checkpoint of round {checkpoint.server_round}: rounds "
              f"{checkpoint.server_round + 1}-{config.num_server_rounds} to go", flush=True)


def preflight_partners(grid: Grid, model: Recommender, settings: ConfigRecord, config: RunConfig,
                       data: FederatedData | None, recorder: RoundRecorder, node_ids: list[int],
                       refusals: RefusalReasons) -> dict:
    """The pre-flight exchange; puts the sites' summed item counts into the global DLRM's ``item_prior``.

    Returns {"noise_to_signal": {partner: ratio}, "failures": [...], "prior": {...}}; ``prior`` holds the
    sites that counted, their noise std and, with ``central-evaluation`` (simulation: it needs the data), the
    prior's own ranking quality (the "dp-popularity" baseline).
    """
    prior, facts = run_preflight(grid, ArrayRecord(model.state_dict()), settings, node_ids=node_ids,
                                 item_buckets=model.spec.dlrm.item_buckets, recorder=recorder,
                                 timeout=config.round_timeout, refusals=refusals)
    result = {"sites": facts["partners"], "noise_std": facts["noise_std"], "failures": facts["failures"]}
    summary = {"noise_to_signal": facts["noise_to_signal"], "failures": facts["failures"], "prior": result,
               "refused": facts["refused"]}
    if config.dp and facts["examples"]:
        print(federated_evaluation_line(facts["examples"], noise_multiplier=config.evaluation_noise_multiplier,
                                        top_k=config.top_k), flush=True)
    if prior is None:
        return summary
    with torch.no_grad():
        model.dlrm.item_prior.copy_(torch.from_numpy(prior))
    if config.central_evaluation and data is not None:
        result.update(evaluate_ranking(popularity_scorer(prior[data.catalogue.item_rows]), data.catalogue,
                                       data.users, k=config.top_k, ks=config.metric_ks()))
    k = config.top_k
    quality = f": NDCG@{k}={result[f'ndcg@{k}']:.4f} HR@{k}={result[f'hr@{k}']:.4f}" if f"ndcg@{k}" in result else ""
    print(f"item prior from {len(facts['partners'])} site(s)' " + ("noised " if config.dp else "") +
          f"item counts{quality}" + (f"; left out: {facts['failures']}" if facts["failures"] else ""), flush=True)
    return summary


def _data_facts(data: FederatedData | None, checks: SiteChecks) -> dict:
    """config.json's "data": the simulated data's facts, or in a deployment only what the site checks said."""
    if data is None:
        return {"source": "partner sites (not read by the coordinator)", "users_per_partner": checks.users,
                "site_check_failures": sorted(checks.failures.values())}
    return {"source": data.source, "users": len(data.users), "items": len(data.catalogue),
            "dropped_users": data.dropped_users, "users_per_partner": [len(p) for p in data.partitions]}


def write_final_artifacts(run, config, recorder, spec, final_arrays, baselines, end_reason, central_spent,
                          personalisation=None, item_ids=None, preflight=None, category_names=None,
                          marketing=None) -> str:
    """Model, summary, plots and privacy report; returns the run status.

    ``failed``: a round had fewer than ``min-partners`` successful partners;
    ``degraded``: every round had enough, but some partner failed some round or was left out (a refusal, a
    failed site check; a resumed run keeps those from before its stop);
    ``succeeded``: neither.
    """
    k = config.top_k
    status, notes = recorder.outcome(config.min_partners)
    end_reason += notes
    run.save_model(final_arrays.to_torch_state_dict(), spec, config, item_ids, category_names)
    evaluated = [r for r in recorder.rows if r["central"] or r["federated"]]
    final = evaluated[-1] if evaluated else {"central": None, "federated": None}
    summary = {
        "run_name": run.name,
        "status": status,
        "end_reason": end_reason,
        "failed_rounds": {str(r): why for r, why in sorted(recorder.failed_rounds.items())},
        "partner_failures": {str(r): failures for r, failures in sorted(recorder.partner_failures.items())},
        "left_out": recorder.left_out(),
        "metrics": final["central"] or final["federated"] or {},
        "profiles": config.profiles,
        "federated_metrics": final["federated"],
        "baselines": baselines,
        "privacy": {
            "dp": config.dp,
            "unit": config.privacy_unit,
            "delta": config.target_delta,
            "target_epsilon": config.target_epsilon,
            "accountant": config.accountant,
            "epsilon": recorder.epsilon_by_partner,
            "max_epsilon": {n: p.max_epsilon for n, p in recorder.partners.items()},
            "status": {n: p.status for n, p in recorder.partners.items()},
            "central_dp": central_dp_section(config, central_spent),
        },
        "rounds": config.num_server_rounds,
        "selected": selection_summary(run.path, recorder.rows, k),
        "personalisation": personalisation,
        "marketing": marketing,
        "preflight": None if preflight is None else {
            "noise_to_signal": preflight["noise_to_signal"], "warning_above": NOISE_TO_SIGNAL_WARNING,
            "failures": preflight["failures"]},
    }
    run.write_json("summary.json", summary)
    if summary["selected"] is not None:
        chosen, key = summary["selected"], VALIDATION_KEY.format(k=k)
        print(f"selected model (best {key}): round {chosen['round']}, {key}={chosen[key]:.4f}, test NDCG@{k}="
              f"{chosen[f'ndcg@{k}']:.4f}; weights in "
              f"{run.path / chosen['model'] if chosen['model'] else '(not kept: its folder is missing)'}", flush=True)
    plot_ndcg_and_epsilon(recorder.rows, top_k=k, baselines=baselines, target=run.path / "ndcg_epsilon.png")
    privacy = None
    if config.dp or config.central_dp:
        privacy = build_report(config, recorder, finished=True, end_reason=end_reason, central_spent=central_spent)
        write_privacy_report(run.path, privacy)
    write_html_report(run.path, summary, privacy)
    print(f"fedrec run {status} ({end_reason}); artifacts in {run.path}", flush=True)
    return status
