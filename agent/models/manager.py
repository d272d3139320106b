"""Carry out the desired state's model orders: fetch, verify, store, hot swap, report.

For each sensor type the desired state names (``models``, and ``shadow`` for a canary in
shadow), the manager makes the agent run exactly that version:

1. already running it: nothing to do;
2. ordered version older than the one running and no ``rollback``: refused (``older``);
3. the file is on disk (the previous version, kept for rollback): verified and loaded;
4. otherwise: subscribe to ``{prefix}/models/{type}/{version}`` (retained), verify the
   package that arrives (``agent.models.verify``), write it atomically
   (``agent.models.folder``), load it and swap it in (``TieredScorer.load``), unsubscribe.

A refused package never replaces a working model, is counted by reason and named in the
reported state, and is retried with backoff (60 s doubling to 15 min: re-subscribing
hands out the retained package again), never in a tight loop; a corrected package the
coordinator republishes arrives by itself. Types the desired state stops naming that
run a pushed model go back to their hand-placed file, or to the rules.

Runs on the agent's worker thread (the one that scores), so a swap happens between two
micro-batches: every batch is scored by exactly one version, and its results name it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from edgewatch.agent.models.fetches import Fetches, Key, Subscriber
from edgewatch.agent.models.folder import ModelFolder
from edgewatch.agent.models.keys import TrustedKeys
from edgewatch.agent.models.local import hand_placed, verify_file
from edgewatch.agent.models.verify import Refused, check_package
from edgewatch.agent.scorers.tiered import TieredScorer
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.codec import decode
from edgewatch.shared.desired import ModelOrder
from edgewatch.shared.errors import ModelError, PayloadError
from edgewatch.shared.modelpack import KeyChain, ModelSignature, refusal_note
from edgewatch.shared.schemas import ShadowReport
from edgewatch.shared.topics import Topics

if TYPE_CHECKING:
    from edgewatch.shared.runtime import OnnxScorer

log = logging.getLogger(__name__)


class ModelManager:
    def __init__(
        self,
        scorer: TieredScorer | None,
        *,
        data_dir: Path,
        keys: TrustedKeys | None,
        topics: Topics,
        link: Subscriber,
        clock: Clock = SYSTEM,
        retry_s: float = 60.0,
        retry_max_s: float = 900.0,
    ) -> None:
        self.scorer = scorer
        self.keys = keys
        self.topics = topics
        self.link = link
        self.hand_dir = data_dir / "models"
        self.folder = ModelFolder(self.hand_dir / "pushed")
        self.refused: dict[str, int] = {}
        self._fetches = Fetches(link, clock, retry_s=retry_s, retry_max_s=retry_max_s)
        self._problems: dict[Key, str] = {}
        self._pushed: set[str] = set()
        self._shadow_sha: dict[str, str] = {}
        self._decided: set[tuple[str, str, int, str]] = set()

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the hand-placed models, then the pushed ones (a push wins for its type)."""
        if self.scorer is None:
            return
        loaded, refused = hand_placed(self.hand_dir, self.keys)
        for scorer in loaded:
            self.scorer.load(scorer)
        for reason in refused:
            self._count(reason)
        for sensor_type, stored in sorted(self.folder.current().items()):
            try:
                data, _ = self.folder.read(stored)
                self.scorer.load(verify_file(data, stored.signature, self.keys))
                self._pushed.add(sensor_type)
            except (OSError, Refused) as exc:
                log.error("cannot load pushed model %s: %s", stored.path.name, exc)

    # -- orders (from the desired state) ------------------------------------------------------

    def apply(self, models: Mapping[str, ModelOrder], shadow: Mapping[str, ModelOrder]) -> None:
        wanted: dict[Key, ModelOrder] = {("live", t): o for t, o in models.items()}
        wanted.update({("shadow", t): o for t, o in shadow.items()})
        for key in [k for k, w in self._fetches.wants.items() if wanted.get(k) != w.order]:
            self._fetches.drop(key)
        for key in [k for k in self._problems if k not in wanted]:
            del self._problems[key]
        if self.scorer is not None:
            for sensor_type in [t for t in self.scorer.shadows() if t not in shadow]:
                self.scorer.set_shadow(sensor_type, None)
                self._shadow_sha.pop(sensor_type, None)
            for sensor_type in sorted(self._pushed - set(models)):
                self._unpush(sensor_type)
        for key, order in sorted(wanted.items()):
            self._pursue(key, order)

    def _pursue(self, key: Key, order: ModelOrder) -> None:
        role, sensor_type = key
        if key in self._fetches:
            return  # fetching already
        if self.scorer is None:
            self._refuse_order(key, order, "no_onnx", "onnxruntime is not installed here")
            return
        if self._running(key, order):
            self._problems.pop(key, None)
            return
        try:
            self._check_older(key, order)
        except Refused as exc:
            self._refuse_order(key, order, exc.reason, exc.detail)
            return
        stored = self.folder.find(sensor_type, order.version)
        if stored is not None:
            try:
                data, digest = self.folder.read(stored)
                if digest != order.sha256:
                    raise Refused("hash_mismatch", f"{stored.path.name} is not the ordered file")
                self._swap(key, order, verify_file(data, stored.signature, self.keys))
                log.info("model %s@%d loaded from disk (%s)", sensor_type, order.version, role)
                return
            except (OSError, Refused) as exc:
                log.warning("cannot use %s from disk (%s): fetching it", stored.path.name, exc)
        topic = self.topics.model(sensor_type, order.version)
        self._fetches.start(key, order, topic)
        log.info("fetching model %s@%d (%s) from %s", sensor_type, order.version, role, topic)

    def _running(self, key: Key, order: ModelOrder) -> bool:
        role, sensor_type = key
        assert self.scorer is not None
        if role == "shadow":
            return self._shadow_sha.get(sensor_type) == order.sha256
        info = self.scorer.models().get(sensor_type)
        return info is not None and info.version == order.version and info.sha256 == order.sha256

    def _check_older(self, key: Key, order: ModelOrder) -> None:
        role, sensor_type = key
        info = self.scorer.models().get(sensor_type) if self.scorer is not None else None
        older = role == "live" and info is not None and order.version < info.version
        if older and not order.rollback:
            assert info is not None
            raise Refused("older", f"v{order.version} < running v{info.version}, no rollback")

    # -- packages and keys (from the uplink) --------------------------------------------------

    def receive(self, topic: str, payload: bytes) -> None:
        if not payload:
            return  # a retained package being cleared: nothing to verify
        parsed = self.topics.parse_model(topic)
        keys = self._fetches.waiting_on(topic)
        if parsed is None or not keys:
            self.link.unsubscribe_model(topic)  # a stale retained copy: not wanted any more
            return
        sensor_type = parsed[0]
        order = self._fetches.wants[keys[0]].order
        try:
            data, signature = check_package(
                payload, sensor_type=sensor_type, order=order, keys=self.keys
            )
        except Refused as exc:
            for key in keys:
                self._refused(key, exc)
            return
        for key in keys:
            try:
                self._install(key, data, signature)
            except Refused as exc:
                self._refused(key, exc)

    def receive_keys(self, payload: bytes) -> None:
        if self.keys is None:
            return
        try:
            moved = self.keys.follow(decode(payload, KeyChain))
        except (PayloadError, ModelError) as exc:
            self._count("key_chain")
            log.warning("refused the signing key chain: %s", exc)
            return
        if moved:
            self._fetches.again_all()  # packages refused under the old key come again

    def tick(self) -> None:
        """Retry what is due: re-subscribing hands out the retained package again."""
        self._problems.update(self._fetches.tick())

    # -- swapping -------------------------------------------------------------------------------

    def _install(self, key: Key, data: bytes, signature: ModelSignature) -> None:
        from edgewatch.agent.models.local import open_model

        order = self._fetches.wants[key].order
        scorer = open_model(data, f"push {key[1]}@{order.version}")
        if scorer.sensor_type != key[1]:
            raise Refused("wrong_type", f"the file holds a {scorer.sensor_type!r} model")
        if scorer.version != order.version:
            raise Refused("wrong_version", f"the file holds version {scorer.version}")
        self._check_older(key, order)
        try:
            self.folder.install(data, signature)
        except OSError as exc:
            raise Refused("write_failed", f"{self.folder.root}: {exc}") from exc
        self._swap(key, order, scorer)

    def _swap(self, key: Key, order: ModelOrder, scorer: OnnxScorer) -> None:
        role, sensor_type = key
        assert self.scorer is not None
        if role == "live":
            self.scorer.load(scorer)
            self._pushed.add(sensor_type)
            try:
                self.folder.make_current(sensor_type, order.version)
            except OSError as exc:  # it runs; after a restart it is found by name again
                log.warning("cannot record %s as current: %s", scorer.name, exc)
        else:
            self.scorer.set_shadow(sensor_type, scorer)
            self._shadow_sha[sensor_type] = scorer.sha256
        self._fetches.drop(key)
        self._problems.pop(key, None)

    def _unpush(self, sensor_type: str) -> None:
        """No pushed model for this type any more: its hand-placed file, or the rules."""
        assert self.scorer is not None
        self._pushed.discard(sensor_type)
        self.folder.forget(sensor_type)
        own, _ = hand_placed(self.hand_dir, self.keys)
        replacement = next((s for s in own if s.sensor_type == sensor_type), None)
        if replacement is not None:
            self.scorer.load(replacement)
        else:
            self.scorer.unload(sensor_type)

    # -- refusals and reports -------------------------------------------------------------------

    def _refuse_order(self, key: Key, order: ModelOrder, reason: str, why: str) -> None:
        decided = (key[0], key[1], order.version, order.sha256)
        if decided not in self._decided:  # one order is refused (and counted) once
            self._decided.add(decided)
            self._count(reason)
            log.warning("refused model order %s@%d (%s): %s", key[1], order.version, reason, why)
        self._problems[key] = refusal_note(key[1], order.version, reason, why)

    def _refused(self, key: Key, exc: Refused) -> None:
        want = self._fetches.wants.get(key)
        self._count(exc.reason)
        version = want.order.version if want else 0
        self._problems[key] = refusal_note(key[1], version, exc.reason, exc.detail)
        log.warning("refused model %s@%d (%s): %s", key[1], version, exc.reason, exc.detail)
        if want is not None:
            want.refused = exc.reason

    def _count(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def problems(self) -> list[str]:
        found = sorted(self._problems.values())
        if self.keys is None and self._fetches.wants:
            found.insert(0, "model pushes need --model-pubkey (no key pinned)")
        return found

    def shadow_reports(self) -> dict[str, ShadowReport]:
        if self.scorer is None:
            return {}
        return {t: tally.report() for t, tally in self.scorer.shadows().items()}

    def model_errors(self) -> dict[str, int]:
        return dict(self.scorer.errors) if self.scorer is not None else {}

    def key_id(self) -> str | None:
        return self.keys.current.key_id if self.keys is not None else None

    def pending(self) -> dict[str, int]:
        """Live orders still being fetched: type -> version."""
        return {t: w.order.version for (r, t), w in self._fetches.wants.items() if r == "live"}
