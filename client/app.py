"""fedrec ClientApp: local DP-SGD training and local evaluation.

A partner whose budget would be exceeded does not train: it replies with an
error Message whose code is ``BUDGET_EXHAUSTED_CODE`` and whose reason starts
with ``budget-exhausted``; the server then leaves it out of later rounds.
"""

from __future__ import annotations

import json

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from client.site import resolve_site
from recmodel.config import RunConfig
from recmodel.evaluation import evaluate_bundle
from recmodel.model.bundle import BundleSpec, Recommender
from recmodel.privacy.budget import BUDGET_EXHAUSTED_CODE, BudgetExhausted
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.training.personalise import personalise_locally
from recmodel.training.private_round import LEDGER_FILE, run_private_round

app = ClientApp()


def _model_from(msg: Message) -> tuple[Recommender, ConfigRecord]:
    settings: ConfigRecord = msg.content["config"]
    model = Recommender(BundleSpec.from_dict(json.loads(str(settings["model-spec"]))))
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    return model, settings


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Train the received global models on this site's users; reply with weights and epsilon."""
    config = RunConfig.from_mapping(context.run_config)
    model, settings = _model_from(msg)
    site = resolve_site(context, config, str(settings["run-dir"]))
    if str(settings.get("phase", "")) == "personalise":
        return _personalise(msg, context, config, model, site, settings)
    server_round = int(settings["server-round"])
    torch.manual_seed(config.seed * 1_000 + server_round)
    try:
        outcome = run_private_round(
            model, site.catalogue, site.users, config,
            state_dir=site.state_dir, partner=site.partner, run_id=str(settings["run-id"]),
            server_round=server_round, max_epsilon=site.max_epsilon,
            proximal_mu=float(settings.get("proximal-mu", 0.0)),
        )
    except BudgetExhausted as refusal:
        return Message(error=Error(code=BUDGET_EXHAUSTED_CODE, reason=str(refusal)), reply_to=msg)
    metrics = MetricRecord({
        "num-examples": outcome.examples,
        "unit-weight": 1.0,
        "train-loss": outcome.mean_loss,
        "profile-loss": outcome.profile_loss if config.profiles else 0.0,
        "steps": outcome.steps,
        "epsilon": outcome.epsilon if config.dp else -1.0,
        "max-epsilon": site.max_epsilon,
        "noise-multiplier": outcome.noise_multiplier,
        "sample-rate": outcome.sample_rate,
        "ledger-entries": outcome.ledger_entries,
    })
    partner = ConfigRecord({"partner": site.partner, "node-id": context.node_id, "ledger-head": outcome.ledger_head})
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics, "partner": partner})
    return Message(content=content, reply_to=msg)


def _personalise(msg, context, config, model, site, settings) -> Message:
    """Fine-tune locally after federation; the personalised weights stay at the site, only NDCG goes out."""
    torch.manual_seed(config.seed * 1_000 + 999)
    try:
        result = personalise_locally(model, site.catalogue, site.users, config, state_dir=site.state_dir,
                                     partner=site.partner, run_id=str(settings["run-id"]), max_epsilon=site.max_epsilon)
    except BudgetExhausted as refusal:
        return Message(error=Error(code=BUDGET_EXHAUSTED_CODE, reason=str(refusal)), reply_to=msg)
    entries, head = PrivacyLedger(site.state_dir / LEDGER_FILE).head()
    result["ledger-entries"] = entries
    partner = ConfigRecord({"partner": site.partner, "node-id": context.node_id, "ledger-head": head})
    return Message(content=RecordDict({"metrics": MetricRecord(result), "partner": partner}), reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Ranking (and profile) quality of the global models on this site's users (not noised)."""
    config = RunConfig.from_mapping(context.run_config)
    model, settings = _model_from(msg)
    site = resolve_site(context, config, str(settings["run-dir"]))
    result = evaluate_bundle(model, site.catalogue, site.users, config)
    metrics = {"num-examples": result.pop("users"), "unit-weight": 1.0}
    metrics.update({key: value for key, value in result.items() if key != "profile-users"})
    return Message(content=RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)
