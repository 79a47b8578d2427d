"""fedrec ServerApp: federated DP training of the DLRM, evaluated every round."""

from __future__ import annotations

import json
import time

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp

from recmodel.config import RunConfig
from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.evaluation import evaluate_ranking, model_scorer, popularity_scorer
from recmodel.model.dlrm import DLRM
from server.plots import plot_ndcg_and_epsilon
from server.recorder import RoundRecorder
from server.run_directory import RunDirectory
from server.strategy import build_strategy

app = ServerApp()
NODE_WAIT_SECONDS = 120


def _connected_nodes(grid: Grid) -> int:
    deadline = time.time() + NODE_WAIT_SECONDS
    while not (nodes := list(grid.get_node_ids())) and time.time() < deadline:
        time.sleep(1)
    if not nodes:
        raise RuntimeError(f"no SuperNode connected within {NODE_WAIT_SECONDS} s")
    return len(nodes)


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = RunConfig.from_mapping(context.run_config)
    num_nodes = _connected_nodes(grid)
    data = load_federated_data(config, num_partitions=num_nodes)  # validates data before training
    spec = model_spec_for(config, data)
    run = RunDirectory.create(config)
    k = config.top_k
    baseline = evaluate_ranking(popularity_scorer(data.catalogue.popularity), data.catalogue, data.users, k=k)
    run.write_json("config.json", {"run_config": config.to_mapping(), "run_id": context.run_id,
                                   "num_partners": num_nodes, "model_spec": spec.to_dict(),
                                   "data": {"source": data.source, "users": len(data.users),
                                            "items": len(data.catalogue), "dropped_users": data.dropped_users,
                                            "users_per_partner": [len(p) for p in data.partitions]}})
    recorder = RoundRecorder(run=run, top_k=k, baseline=baseline)
    print(f"fedrec run {run.name}: {num_nodes} partners, {len(data.users)} users, "
          f"{len(data.catalogue)} items, dp={config.dp}, strategy={config.strategy}", flush=True)
    print(recorder.header(), flush=True)

    torch.manual_seed(config.seed)
    model = DLRM(spec)

    def central_evaluation(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        central = None
        if config.central_evaluation:
            model.load_state_dict(arrays.to_torch_state_dict())
            scorer = model_scorer(model, data.catalogue, data.users, config.history_length)
            central = evaluate_ranking(scorer, data.catalogue, data.users, k=k)
        recorder.finish_round(server_round, central)
        return MetricRecord({key: float(v) for key, v in (central or {}).items()})

    strategy = build_strategy(config, num_nodes, recorder)
    train_config = ConfigRecord({
        "run-dir": str(run.path),
        "run-id": f"{run.name}#{context.run_id}",
        "model-spec": json.dumps(spec.to_dict()),
    })
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(model.state_dict()),
        num_rounds=config.num_server_rounds,
        train_config=train_config,
        evaluate_config=ConfigRecord(dict(train_config)),
        evaluate_fn=central_evaluation,
    )
    final_state = result.arrays.to_torch_state_dict() if len(result.arrays) else model.state_dict()
    run.save_model(final_state, spec, config)
    final = recorder.rows[-1]
    summary = {
        "run_name": run.name,
        "metrics": final["central"] or final["federated"] or {},
        "federated_metrics": final["federated"],
        "baselines": {"popularity": baseline},
        "privacy": {
            "dp": config.dp,
            "unit": config.privacy_unit,
            "delta": config.target_delta,
            "target_epsilon": config.target_epsilon,
            "accountant": config.accountant,
            "epsilon": dict(recorder.epsilon_by_partner),
        },
        "rounds": config.num_server_rounds,
    }
    run.write_json("summary.json", summary)
    plot_ndcg_and_epsilon(recorder.rows, top_k=k, baseline_ndcg=baseline[f"ndcg@{k}"], target=run.path / "ndcg_epsilon.png")
    print(f"fedrec run finished; artifacts in {run.path}", flush=True)
