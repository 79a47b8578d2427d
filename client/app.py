"""fedrec ClientApp: local DP-SGD training and DP evaluation at a partner site.

Every message is first checked against the site's privacy policy
(``SitePolicy.admit``): a run config that asks for anything weaker is refused
before any training with an error reply (code ``POLICY_REFUSED_CODE``,
reason ``policy-refused: ...``). A partner whose budget would be exceeded
replies ``budget-exhausted`` (``BUDGET_EXHAUSTED_CODE``); a site whose ledger
lost entries replies ``ledger-integrity`` (``LEDGER_INTEGRITY_CODE``). The
server leaves such a partner out of later rounds.

What leaves the site: the DP model update; the signed ledger head; the
privacy bookkeeping (epsilon, noise multiplier, sample rate, steps, user
count: functions of the site's user count, which standard DP-SGD treats as
public); evaluation answers as Gaussian-noised sums and, once per run, item
counts as Gaussian-noised sums, each recorded in the ledger.
Training losses go out in simulation only, where the server holds the data.
"""

from __future__ import annotations

import json

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from client.release_replay import ReleaseReplay
from client.site import Site, on_site_hardware, resolve_site
from client.site_check import SITE_CHECK_PHASE, check_site
from recmodel.config import RunConfig
from recmodel.model.bundle import BundleSpec, Recommender
from recmodel.private_evaluation import PrivateAnswer, evaluate_privately, per_user_ranking
from recmodel.private_popularity import answer_popularity
from recmodel.privacy.budget import BUDGET_EXHAUSTED_CODE, BudgetExhausted
from recmodel.privacy.ledger import LEDGER_INTEGRITY_CODE, LedgerIntegrityError
from recmodel.privacy.policy import POLICY_REFUSED_CODE, PolicyRefusal
from recmodel.privacy.preflight import noise_to_signal
from recmodel.privacy.site_key import read_public_key
from recmodel.training.personalise import personalise_locally
from recmodel.training.private_round import run_private_round
from recmodel.training.release_plan import dlrm_example_count, evaluation_releases, plan_site_releases

app = ClientApp()
METRICS_WITHHELD_CODE = 4033  # the site's policy sends no evaluation metrics
REFUSAL_CODES = {BudgetExhausted: BUDGET_EXHAUSTED_CODE, PolicyRefusal: POLICY_REFUSED_CODE,
                 LedgerIntegrityError: LEDGER_INTEGRITY_CODE}


def _model_from(msg: Message) -> tuple[Recommender, ConfigRecord]:
    settings: ConfigRecord = msg.content["config"]
    model = Recommender(BundleSpec.from_dict(json.loads(str(settings["model-spec"]))))
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    return model, settings


def _refusal(msg: Message, refusal: Exception) -> Message:
    reason = str(refusal)
    if isinstance(refusal, LedgerIntegrityError):
        reason = f"ledger-integrity: {reason}"
    return Message(error=Error(code=REFUSAL_CODES[type(refusal)], reason=reason), reply_to=msg)


def _partner_record(site: Site, context: Context, signed_head: dict | None) -> ConfigRecord:
    """Who replied, its policy, and the signed ledger head the coordinator keeps for audits."""
    record = {"partner": site.partner, "node-id": context.node_id, "policy": json.dumps(site.policy.to_dict())}
    if signed_head is not None:
        record.update({"ledger-entries": signed_head["entries"], "ledger-head": signed_head["head"],
                       "head-signature": signed_head["signature"], "key-id": signed_head["key_id"],
                       "public-key": read_public_key(site.state_dir) or "",
                       "releases": json.dumps(signed_head.get("releases", {}))})
    return ConfigRecord(record)


def _open(msg: Message, context: Context) -> tuple[Recommender, ConfigRecord, Site, RunConfig]:
    """The received model, settings, this site, and the configuration its policy admits (or ``PolicyRefusal``)."""
    request = RunConfig.from_mapping(context.run_config)
    model, settings = _model_from(msg)
    site = resolve_site(context, request, str(settings["run-dir"]))
    return model, settings, site, on_site_hardware(site.policy.admit(request), context.node_config)


def _replayed(msg: Message, context: Context, phase: str, answer) -> Message:
    """``answer(model, settings, site, config) -> RecordDict``, or under DP the kept release of an earlier identical
    request (``client.release_replay``): a repeated round is never released, nor paid for, twice."""
    try:
        model, settings, site, config = _open(msg, context)
        replay = ReleaseReplay(site.state_dir, str(settings["run-id"])) if config.dp else None
        server_round = int(settings.get("server-round", 0))
        if replay is not None and (kept := replay.recall(server_round, phase)) is not None:
            return Message(content=kept, reply_to=msg)
        content = answer(model, settings, site, config)
    except tuple(REFUSAL_CODES) as refusal:
        return _refusal(msg, refusal)
    except MetricsWithheld as withheld:
        return Message(error=Error(code=METRICS_WITHHELD_CODE, reason=str(withheld)), reply_to=msg)
    if replay is not None:
        replay.keep(server_round, phase, content)
    return Message(content=content, reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Train the received global models on this site's users; reply with weights and epsilon.

    Also the pre-flight (``phase=preflight``) and personalisation (``phase=personalise``) messages.
    """
    phase = str(msg.content["config"].get("phase", "")) or "train"
    handler = {"preflight": _preflight, "personalise": _personalise}.get(phase, _train_round)
    return _replayed(msg, context, phase, lambda *opened: handler(context, *opened))


def _train_round(context, model, settings, site, config) -> RecordDict:
    evaluations = evaluation_releases(config, metrics=site.policy.metrics)
    server_round = int(settings["server-round"])
    torch.manual_seed(config.seed * 1_000 + server_round)  # negatives and dropout only; DP noise is secret
    outcome = run_private_round(
        model, site.catalogue, site.users, config,
        state_dir=site.state_dir, partner=site.partner, run_id=str(settings["run-id"]),
        server_round=server_round, max_epsilon=config.max_epsilon, evaluations=evaluations,
        proximal_mu=float(settings.get("proximal-mu", 0.0)),
    )
    metrics = {
        "num-examples": outcome.examples,
        "unit-weight": 1.0,
        "steps": outcome.steps,
        "epsilon": outcome.epsilon if config.dp else -1.0,
        "max-epsilon": config.max_epsilon,
        "noise-multiplier": outcome.noise_multiplier,
        "sample-rate": outcome.sample_rate,
    }
    if site.simulated:  # exact losses are data-dependent and not noised: simulation only
        metrics.update({"train-loss": outcome.mean_loss,
                        "profile-loss": outcome.profile_loss if config.profiles else 0.0})
    return RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": MetricRecord(metrics),
                       "partner": _partner_record(site, context, outcome.signed_head)})


def _preflight(context, model, settings, site, config) -> RecordDict:
    """Before round 1: the planned DP-SGD noise-to-signal (DP only) and, with popularity-prior, the item counts."""
    evaluations = evaluation_releases(config, metrics=site.policy.metrics)
    run_id = str(settings["run-id"])
    examples = dlrm_example_count(site.users, config.privacy_unit)
    metrics = {"examples": float(examples), "epsilon": -1.0}
    if config.dp:  # data-independent given the example count, which the plan treats as public
        plan = plan_site_releases(config, site.users, site.state_dir, run_id, evaluations=evaluations)["dlrm"]
        metrics.update({"noise-multiplier": plan.noise_multiplier, "sample-rate": plan.sample_rate,
                        "noise-to-signal": noise_to_signal(plan, examples)})
    content, head = {}, None
    if config.popularity_prior:
        answer = answer_popularity(site.catalogue, site.users, config, state_dir=site.state_dir, partner=site.partner,
                                   run_id=run_id, max_epsilon=config.max_epsilon, evaluations=evaluations)
        content["item-counts"] = ArrayRecord({"counts": torch.from_numpy(answer.counts)})
        metrics.update({"noise-std": answer.noise_std, "epsilon": answer.epsilon if config.dp else -1.0})
        head = answer.signed_head
    content.update({"metrics": MetricRecord(metrics), "partner": _partner_record(site, context, head)})
    return RecordDict(content)


def _personalise(context, model, settings, site, config) -> RecordDict:
    """Fine-tune locally after federation; the personalised weights stay at the site, only noised NDCG goes out."""
    torch.manual_seed(config.seed * 1_000 + 999)
    answer = personalise_locally(model, site.catalogue, site.users, config, state_dir=site.state_dir,
                                 partner=site.partner, run_id=str(settings["run-id"]), max_epsilon=config.max_epsilon,
                                 evaluations=evaluation_releases(config, metrics=site.policy.metrics))
    if isinstance(answer, PrivateAnswer):
        metrics, head = _answer_metrics(answer), answer.signed_head
    else:  # DP off (a simulated site mirroring dp=false): exact sums
        metrics, head = _exact_metrics(answer), None
    return RecordDict({"metrics": MetricRecord(metrics), "partner": _partner_record(site, context, head)})


def _exact_metrics(per_user: dict) -> dict:
    """Without DP: the same keys as ``_answer_metrics``, from exact per-user values ({name: [U]})."""
    metrics = {f"{name}-sum": float(values.sum()) for name, values in per_user.items()}
    metrics.update({"count": float(len(next(iter(per_user.values())))), "epsilon": -1.0})
    return metrics


def _answer_metrics(answer: PrivateAnswer) -> dict:
    released = answer.released
    metrics = {f"{name}-sum": value for name, value in released.sums.items()}
    metrics.update({"count": released.count, "noise-std": released.noise_std, "epsilon": answer.epsilon})
    return metrics


@app.query()
def query(msg: Message, context: Context) -> Message:
    """The coordinator's first message: the site check (``client.site_check``)."""
    settings: ConfigRecord = msg.content["config"]
    if str(settings.get("phase", "")) != SITE_CHECK_PHASE:
        return Message(error=Error(code=4000, reason=f"unknown query phase {settings.get('phase')!r}"), reply_to=msg)
    answer = check_site(context, RunConfig.from_mapping(context.run_config))
    return Message(content=RecordDict({"site": answer}), reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Ranking quality of the global model on this site's test users, as noised sums (a ledgered DP release)."""
    return _replayed(msg, context, "evaluate", lambda *opened: _evaluate_round(context, *opened))


class MetricsWithheld(Exception):
    """The site's policy sends no evaluation metrics."""


def _evaluate_round(context, model, settings, site, config) -> RecordDict:
    if site.policy.metrics == "none":
        raise MetricsWithheld(f"metrics-withheld: partner '{site.partner}' sends no evaluation metrics (its policy: "
                              "metrics=none)")
    if config.dp:
        answer = evaluate_privately(model, site.catalogue, site.users, config, state_dir=site.state_dir,
                                    partner=site.partner, run_id=str(settings["run-id"]),
                                    server_round=int(settings.get("server-round", 0)),
                                    max_epsilon=config.max_epsilon,
                                    evaluations=evaluation_releases(config, metrics=site.policy.metrics))
        metrics, head = _answer_metrics(answer), answer.signed_head
    else:  # DP off (a simulated site mirroring dp=false): exact sums
        metrics, head = _exact_metrics(per_user_ranking(model, site.catalogue, site.users, config)), None
    metrics.update({"num-examples": max(1.0, metrics["count"]), "unit-weight": 1.0})
    return RecordDict({"metrics": MetricRecord(metrics), "partner": _partner_record(site, context, head)})
