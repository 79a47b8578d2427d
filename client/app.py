"""fedrec ClientApp: local DP-SGD training and DP evaluation at a partner site.

Every message is checked before any user's data is touched: its settings, model spec and weights
(``recmodel.privacy.received_message``), then the run config against the site's privacy policy
(``SitePolicy.admit``). Whatever the site refuses (a weaker run config, a spent budget, a ledger that lost
entries, an invalid message, a plan it cannot run, an unexpected error) gets the same reply,
``client.refusal.REFUSED_CODE`` with the reason ``refused``; the real reason goes to the site's own log
(``<state-dir>/site-log.jsonl``). The server leaves such a partner out of later rounds.

What leaves the site: the DP model update; the signed ledger head; the
privacy bookkeeping (epsilon, noise multiplier, sample rate, steps and the
user count: functions of the site's declared population, ``client.site``,
never of its exact count under the user unit); evaluation answers as
Gaussian-noised sums and, once per run, item counts as Gaussian-noised sums,
each recorded in the ledger. Training losses go out in simulation only, where
the server holds the data. docs/privacy.md lists every field.
"""

from __future__ import annotations

import json

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from client.refusal import check_refusal_limit, refuse
from client.release_replay import ReleaseReplay
from client.site import Site, on_site_hardware, resolve_site
from client.site_check import SITE_CHECK_PHASE, check_site
from recmodel.config import RunConfig
from recmodel.model.bundle import Recommender
from recmodel.metrics.activity_segments import activity_segments
from recmodel.private_evaluation import PrivateAnswer, evaluate_privately, per_user_ranking
from recmodel.private_marketing import (MARKETING_PHASE, exact_segment_sums, per_user_marketing_columns,
                                        release_marketing_privately)
from recmodel.private_popularity import answer_popularity
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.privacy.preflight import noise_to_signal
from recmodel.privacy.received_message import InvalidMessage, ReceivedSettings, received_model, received_settings
from recmodel.privacy.site_key import read_public_key
from recmodel.training.personalise import personalise_locally
from recmodel.training.private_round import run_private_round
from recmodel.training.release_plan import (check_whole_run_fits, evaluation_releases, plan_site_releases,
                                            planned_examples)

app = ClientApp()
METRICS_WITHHELD_CODE = 4033  # the site's declared policy (sent with every reply) sends no evaluation metrics
SITE_STATE = "fedrec-site"  # context.state record: where this node's state lives, once known


def _partner_record(site: Site, context: Context, signed_head: dict | None) -> ConfigRecord:
    """Who replied, its policy, and the signed ledger head the coordinator keeps for audits."""
    record = {"partner": site.partner, "node-id": context.node_id, "policy": json.dumps(site.policy.to_dict())}
    if signed_head is not None:
        record.update({"ledger-entries": signed_head["entries"], "ledger-head": signed_head["head"],
                       "head-signature": signed_head["signature"], "key-id": signed_head["key_id"],
                       "public-key": read_public_key(site.state_dir) or "",
                       "releases": json.dumps(signed_head.get("releases", {}))})
        if "file_signature" in signed_head:  # the spend, signed: evidence for a later ledger recovery
            record["head-record"] = json.dumps({k: v for k, v in signed_head.items() if k != "releases"})
    return ConfigRecord(record)


def _received(msg: Message, default_phase: str) -> tuple[ReceivedSettings, dict]:
    """The message's checked settings and its weights as tensors (``InvalidMessage`` if either is malformed)."""
    try:
        settings = received_settings(msg.content["config"], default_phase=default_phase)
        state = msg.content["arrays"].to_torch_state_dict()
    except InvalidMessage:
        raise
    except Exception as error:  # a missing record, an ArrayRecord that does not decode
        raise InvalidMessage(f"the message cannot be read ({type(error).__name__})") from None
    return settings, state


def _known_state_dir(context: Context) -> str | None:
    """The state directory an earlier message of this run resolved (None before the first success)."""
    known = context.state.config_records.get(SITE_STATE)
    return None if known is None else str(known["state-dir"])


def _open(settings: ReceivedSettings, state: dict, site: Site, request: RunConfig,
          context: Context) -> tuple[Recommender, RunConfig]:
    """The received model, checked against the site's own spec, and the configuration its policy admits."""
    config = on_site_hardware(site.policy.admit(request), context.node_config)
    config = config.replace(reference_time=settings.reference_time)
    model = received_model(settings, state, site.model_spec, weight_bound=site.policy.max_received_weight)
    return model, config


def _replayed(msg: Message, context: Context, default_phase: str, answer) -> Message:
    """``answer(model, settings, site, config) -> RecordDict``, or under DP the kept release of an earlier identical
    request (``client.release_replay``): a repeated round is never released, nor paid for, twice.

    Every refusal, whatever its cause, is the one generic reply of ``client.refusal``."""
    settings, site, replay = None, None, None
    try:
        settings, state = _received(msg, default_phase)
        request = RunConfig.from_mapping(context.run_config)
        site = resolve_site(context, request, settings.run_dir)
        context.state[SITE_STATE] = ConfigRecord({"state-dir": str(site.state_dir)})  # for later refusals
        check_refusal_limit(site.state_dir, settings.run_id)
        model, config = _open(settings, state, site, request, context)
        replay = ReleaseReplay(site.state_dir, settings.run_id) if config.dp else None
        if replay is not None and (kept := replay.recall(settings.server_round, settings.phase)) is not None:
            return Message(content=kept, reply_to=msg)
        content = answer(model, settings, site, config)
    except MetricsWithheld as withheld:
        return Message(error=Error(code=METRICS_WITHHELD_CODE, reason=str(withheld)), reply_to=msg)
    except Exception as error:  # noqa: BLE001 -- every cause gets the same answer; the site's log keeps it
        return refuse(msg, error, state_dir=site.state_dir if site is not None else _known_state_dir(context),
                      run_id="" if settings is None else settings.run_id,
                      server_round=0 if settings is None else settings.server_round,
                      phase=default_phase if settings is None else settings.phase)
    if replay is not None:
        replay.keep(settings.server_round, settings.phase, content)
    return Message(content=content, reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Train the received global models on this site's users; reply with weights and epsilon.

    Also the pre-flight (``phase=preflight``) and personalisation (``phase=personalise``) messages.
    """
    handlers = {"preflight": _preflight, "personalise": _personalise}
    return _replayed(msg, context, "train",
                     lambda model, settings, site, config: handlers.get(settings.phase, _train_round)(
                         context, model, settings, site, config))


def _train_round(context, model, settings: ReceivedSettings, site, config) -> RecordDict:
    evaluations = evaluation_releases(config, metrics=site.policy.metrics)
    server_round = settings.server_round
    torch.manual_seed(config.seed * 1_000 + server_round)  # dropout only: examples are keyed per user, noise is secret
    outcome = run_private_round(
        model, site.catalogue, site.users, config,
        state_dir=site.state_dir, partner=site.partner, run_id=settings.run_id,
        server_round=server_round, max_epsilon=config.max_epsilon, evaluations=evaluations,
        proximal_mu=settings.proximal_mu, population=site.population, dp_engine=site.policy.dp_engine,
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
    run_id = settings.run_id
    examples = planned_examples(site.users, config.privacy_unit, site.population)
    metrics = {"examples": float(examples), "epsilon": -1.0}
    if config.dp:  # data-independent given the declared population
        plans = plan_site_releases(config, site.users, site.state_dir, run_id, evaluations=evaluations,
                                   population=site.population)
        check_whole_run_fits(PrivacyLedger.at_site(site.state_dir).history(), config, plans, evaluations=evaluations,
                             cap=config.max_epsilon, partner=site.partner)  # before any release of the run
        plan = plans["dlrm"]
        metrics.update({"noise-multiplier": plan.noise_multiplier, "sample-rate": plan.sample_rate,
                        "noise-to-signal": noise_to_signal(plan, examples)})
    content, head = {}, None
    if config.popularity_prior:
        answer = answer_popularity(site.catalogue, site.users, config, state_dir=site.state_dir, partner=site.partner,
                                   run_id=run_id, max_epsilon=config.max_epsilon, evaluations=evaluations,
                                   population=site.population)
        content["item-counts"] = ArrayRecord({"counts": torch.from_numpy(answer.counts)})
        metrics.update({"noise-std": answer.noise_std, "epsilon": answer.epsilon if config.dp else -1.0})
        head = answer.signed_head
    content.update({"metrics": MetricRecord(metrics), "partner": _partner_record(site, context, head)})
    return RecordDict(content)


def _personalise(context, model, settings, site, config) -> RecordDict:
    """Fine-tune locally after federation; the personalised weights stay at the site, only noised NDCG goes out."""
    torch.manual_seed(config.seed * 1_000 + 999)
    answer = personalise_locally(model, site.catalogue, site.users, config, state_dir=site.state_dir,
                                 partner=site.partner, run_id=settings.run_id, max_epsilon=config.max_epsilon,
                                 evaluations=evaluation_releases(config, metrics=site.policy.metrics),
                                 population=site.population, dp_engine=site.policy.dp_engine)
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
    if settings.phase == MARKETING_PHASE:
        return _marketing(context, model, settings, site, config)
    if config.dp:
        answer = evaluate_privately(model, site.catalogue, site.users, config, state_dir=site.state_dir,
                                    partner=site.partner, run_id=settings.run_id,
                                    server_round=settings.server_round,
                                    max_epsilon=config.max_epsilon,
                                    evaluations=evaluation_releases(config, metrics=site.policy.metrics),
                                    population=site.population)
        metrics, head = _answer_metrics(answer), answer.signed_head
    else:  # DP off (a simulated site mirroring dp=false): exact sums
        metrics, head = _exact_metrics(per_user_ranking(model, site.catalogue, site.users, config)), None
    metrics.update({"num-examples": max(1.0, metrics["count"]), "unit-weight": 1.0})
    return RecordDict({"metrics": MetricRecord(metrics), "partner": _partner_record(site, context, head)})


def _marketing(context, model, settings, site, config) -> RecordDict:
    """The marketing figures of the received model per activity segment, once per run (``server-round`` 0):
    noised sums, one ledgered release; exact sums only for a simulated site mirroring dp=false."""
    if not config.metric_ks() or settings.server_round != 0:
        raise InvalidMessage(f"a marketing evaluation is answered once per run (server-round 0) and only when "
                             f"metrics-k names a K (got round {settings.server_round}, metrics-k "
                             f"{config.metrics_k!r})")
    if config.dp:
        answer = release_marketing_privately(model, site.catalogue, site.users, config, state_dir=site.state_dir,
                                             partner=site.partner, run_id=settings.run_id,
                                             max_epsilon=config.max_epsilon,
                                             evaluations=evaluation_releases(config, metrics=site.policy.metrics),
                                             population=site.population)
        parts, head = answer.segments, answer.signed_head
        metrics = {"noise-std": parts[0].noise_std, "epsilon": answer.epsilon}
    else:
        columns = per_user_marketing_columns(model, site.catalogue, site.users, config)
        parts, head = exact_segment_sums(columns, activity_segments(site.users)), None
        metrics = {"epsilon": -1.0}
    for segment, part in enumerate(parts):
        metrics.update({f"segment-{segment}:{name}-sum": value for name, value in part.sums.items()})
        metrics[f"segment-{segment}:count"] = part.count
    return RecordDict({"metrics": MetricRecord(metrics), "partner": _partner_record(site, context, head)})
