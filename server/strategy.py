"""Build the configured Flower strategy, wrapped to respect partners' budgets.

``BudgetAwareStrategy`` wraps any strategy (FedAvg family, or Flower's
``DifferentialPrivacyServerSideFixedClipping`` around one): a partner that
refuses (one generic answer whatever the cause: a spent budget, a run config
weaker than its policy, a damaged ledger, an invalid message;
``server.refusals`` says what can be said of it) is left out of
every later round (training and evaluation); other failed replies are
recorded and left out of that round's aggregate only. When no partner can train any more (or, with central DP,
when any partner drops out: its noise is calibrated to all of them),
``configure_train`` raises ``NoPartnerCanTrain`` and the server ends the run
cleanly with the last aggregated model.
"""

from __future__ import annotations

import time

from flwr.app import ArrayRecord
from flwr.serverapp.strategy import (
    DifferentialPrivacyServerSideFixedClipping,
    FedAdam,
    FedAvg,
    FedMedian,
    FedProx,
    FedTrimmedAvg,
    Strategy,
)
from flwr.supercore.privacy_accounting import NeighboringRelation, PrivacyConfig, SamplingMethod
from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

from recmodel.config import RunConfig
from recmodel.empirical_audit.site_updates import SiteUpdateArchive
from recmodel.privacy.site_log import REFUSED_CODE
from server.console import progress
from server.node_sampling import FrozenGrid, TooFewNodes, round_nodes
from server.planned_counts import planned_training_counts, replace_reported_counts
from server.recorder import RoundRecorder
from server.refusals import FAILURE_STATUS, RefusalReasons
from server.update_checks import reply_problem

STRATEGIES = {"fedavg": FedAvg, "fedprox": FedProx, "fedadam": FedAdam, "fedmedian": FedMedian,
              "fedtrimmedavg": FedTrimmedAvg}  # median / trimmed mean per coordinate: robust to rogue partners
UNIT_WEIGHT_KEY = "unit-weight"  # every partner sends 1.0: equal weights, as accounted central DP requires


class NoPartnerCanTrain(Exception):
    """No (or, with central DP, not every) partner can train any more."""


class BudgetAwareStrategy(Strategy):
    def __init__(self, inner: Strategy, recorder: RoundRecorder, config: RunConfig, *,
                 needs_every_partner: bool = False, refusals: RefusalReasons | None = None,
                 archive: SiteUpdateArchive | None = None) -> None:
        self.inner = inner
        self.archive = archive  # keep-site-updates: what the coordinator saw, for the empirical audit
        self.refusals = refusals if refusals is not None else RefusalReasons(None, "")
        self.config = config
        self.recorder = recorder
        self.needs_every_partner = needs_every_partner
        self.min_partners = config.min_partners
        self._global_state: dict = {}
        self._destinations: dict[str, int] = {}  # message object id -> destination node, for the latest sends
        self.exhausted_nodes: set[int] = set()
        self.populations: dict[int, int] = {}  # node -> declared population (site check): weights and bounds
        self.latest_arrays: ArrayRecord | None = None
        self._started = time.monotonic()

    def summary(self) -> None:
        self.inner.summary()

    def configure_train(self, server_round, arrays, config, grid):
        if self.needs_every_partner and self.exhausted_nodes:
            raise NoPartnerCanTrain(f"round {server_round}: central DP needs every partner, and "
                                    f"{len(self.exhausted_nodes)} partner(s) refused or exhausted their budget")
        if not set(grid.get_node_ids()) - self.exhausted_nodes and self.exhausted_nodes:
            raise NoPartnerCanTrain(f"round {server_round}: every partner has refused or exhausted its privacy budget")
        messages = self._addressed([m for m in self.inner.configure_train(server_round, arrays, config,
                                                                          self._frozen(grid, server_round))
                                    if m.metadata.dst_node_id not in self.exhausted_nodes])
        if not messages:
            raise NoPartnerCanTrain(f"round {server_round}: every partner has refused or exhausted its privacy budget")
        self._started = time.monotonic()
        self._global_state = arrays.to_torch_state_dict()
        self.recorder.count_traffic(messages, direction="sent")
        progress(f"round {server_round}: training at {len(messages)} partner(s) ...")
        return messages

    def _frozen(self, grid, server_round: int) -> FrozenGrid:
        """This round's nodes, fixed once (``server.node_sampling``); ``NoPartnerCanTrain`` when too few connect
        within ``round-timeout``."""
        try:
            nodes = round_nodes(grid, excluded=self.exhausted_nodes, needed=self.min_partners,
                                deadline_s=self.config.round_timeout)
        except TooFewNodes as error:
            raise NoPartnerCanTrain(f"round {server_round}: {error}") from None
        return FrozenGrid(grid, nodes)

    def _addressed(self, messages: list) -> list:
        """Remember each message's destination: the SuperLink answers for an unavailable node in its own name."""
        self._destinations = {m.object_id: m.metadata.dst_node_id for m in messages}
        return messages

    def _node_of(self, reply) -> int:
        return self._destinations.get(reply.metadata.reply_to_message_id, reply.metadata.src_node_id)

    def _note_failures(self, server_round, replies) -> None:
        for reply in replies:
            if not reply.has_error():
                continue
            node = self._node_of(reply)
            if reply.error.code == REFUSED_CODE:
                status, reason = self.refusals.explain(self.recorder.name_of_node(node))
                if status == FAILURE_STATUS:
                    self.recorder.partner_failed(server_round, node, reason)
                    continue
                self.exhausted_nodes.add(node)
                self.recorder.partner_left_out(server_round, node, reason, status)
            else:
                self.recorder.partner_failed(server_round, node, str(reply.error.reason))

    def _reject_bad_updates(self, server_round, replies) -> list:
        """The replies whose update may be aggregated, their counts replaced by the coordinator's plan
        (``server.planned_counts``); each rejected one is recorded with its reason."""
        accepted = []
        for reply in replies:
            if not reply.has_error():
                population = self.populations.get(self._node_of(reply))
                if population is None:
                    problem = "the partner declared no population at the site check"
                elif "metrics" in reply.content:
                    replace_reported_counts(reply.content["metrics"], planned_training_counts(self.config, population))
                    problem = reply_problem(self.config, self._global_state, reply.content)
                else:
                    problem = reply_problem(self.config, self._global_state, reply.content)
                if problem is not None:
                    self.recorder.update_rejected(server_round, self._node_of(reply), reply.content,
                                                  f"update rejected: {problem}")
                    continue
            accepted.append(reply)
        return accepted

    def aggregate_train(self, server_round, replies):
        replies = list(replies)
        self.recorder.count_traffic(replies, direction="received")
        self._note_failures(server_round, replies)
        replies = self._reject_bad_updates(server_round, replies)
        trained = sum(not reply.has_error() for reply in replies)
        progress(f"round {server_round}: {trained}/{len(replies)} partner(s) trained in "
                 f"{time.monotonic() - self._started:.0f} s; evaluating ...")
        if trained < self.min_partners:
            self.recorder.round_failed(server_round, f"{trained} partner(s) trained, fewer than min-partners="
                                                    f"{self.min_partners}; the global model keeps its previous weights")
            return None, None
        arrays, metrics = self.inner.aggregate_train(server_round, replies)
        if arrays is not None:
            arrays = with_dtypes_of(arrays, self._global_state)
            self.latest_arrays = arrays
            self._archive(server_round, replies, arrays)
        return arrays, metrics

    def _archive(self, server_round: int, replies: list, aggregate: ArrayRecord) -> None:
        if self.archive is None:
            return
        self.archive.keep(server_round, "global", self._global_state)
        for reply in replies:
            if not reply.has_error():
                self.archive.keep(server_round, self.recorder.name_of_node(self._node_of(reply)),
                                  reply.content["arrays"].to_torch_state_dict())
        self.archive.keep(server_round, "aggregate", aggregate.to_torch_state_dict())

    def configure_evaluate(self, server_round, arrays, config, grid):
        messages = self._addressed([m for m in self.inner.configure_evaluate(server_round, arrays, config,
                                                                             self._frozen(grid, server_round))
                                    if m.metadata.dst_node_id not in self.exhausted_nodes])
        self.recorder.count_traffic(messages, direction="sent")
        return messages

    def aggregate_evaluate(self, server_round, replies):
        replies = list(replies)
        self._note_failures(server_round, replies)
        return self.inner.aggregate_evaluate(server_round, replies)

    def central_privacy_spent(self):
        """Flower's accountant's (epsilon, delta, releases) for central DP, else None."""
        spent = getattr(self.inner, "privacy_spent", None)
        return spent() if spent else None


def with_dtypes_of(arrays: ArrayRecord, reference: dict) -> ArrayRecord:
    """``arrays`` with each array cast to the dtype of the same-named tensor in ``reference`` (the global model).

    Flower's FedAdam multiplies by NumPy float64 bias-correction scalars, which turns float32 weights into
    float64; partners train in, and their updates are checked against, the global model's dtypes.
    """
    state = arrays.to_torch_state_dict()
    if all(reference[name].dtype == tensor.dtype for name, tensor in state.items() if name in reference):
        return arrays
    return ArrayRecord({name: tensor.to(reference[name].dtype) if name in reference else tensor
                        for name, tensor in state.items()})


def build_strategy(config: RunConfig, num_nodes: int, recorder: RoundRecorder,
                   refusals: RefusalReasons | None = None) -> BudgetAwareStrategy:
    options = dict(
        fraction_train=1.0,
        fraction_evaluate=1.0,
        # a round goes ahead with the partners connected (at least min-partners): a crashed SuperNode does not
        # stall the run; one that reconnects is sampled again from the next round on
        min_train_nodes=config.min_partners,
        min_evaluate_nodes=config.min_partners,
        min_available_nodes=config.min_partners,
        weighted_by_key=UNIT_WEIGHT_KEY if config.central_dp else "num-examples",
        train_metrics_aggr_fn=recorder.aggregate_train,
        evaluate_metrics_aggr_fn=recorder.aggregate_evaluate,
    )
    if config.strategy == "fedprox":
        options["proximal_mu"] = config.proximal_mu
    if config.strategy == "fedadam":
        options.update(eta=config.server_learning_rate, eta_l=config.learning_rate)
    inner: Strategy = STRATEGIES[config.strategy](**options)
    if config.central_dp:
        accountant = RdpAccountant(PrivacyConfig(
            target_delta=config.target_delta,
            population_size=num_nodes,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        ))
        inner = DifferentialPrivacyServerSideFixedClipping(
            inner, config.central_noise_multiplier, config.central_clipping_norm, num_nodes, accountant=accountant)
    archive = SiteUpdateArchive(recorder.run.path) if config.keep_site_updates else None
    return BudgetAwareStrategy(inner, recorder, config, needs_every_partner=config.central_dp, refusals=refusals,
                               archive=archive)
