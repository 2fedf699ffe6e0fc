"""Works evals' cases in every orchestrator process: claims pending cases under a lease (evals.repository.claim),
runs each on its arm (arms.py), records what the check said, and closes an eval once its last case is in; its
memories (the eval scope) are deleted then."""

import asyncio
import contextlib
import logging
import uuid
from decimal import Decimal

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import Eval, EvalResult
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.evals import repository
from services.agent_orchestrator.evals.arms import CaseOutcome, CaseRunner, owner
from shared.background import BackgroundComponent
from shared.clients import ServiceClient
from shared.contracts.memory import EVAL_SCOPE
from shared.errors import AppError

logger = logging.getLogger(__name__)


class EvalDriver(BackgroundComponent):
    def __init__(
        self,
        *,
        settings: OrchestratorSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        runner: CaseRunner,
        memory: ServiceClient,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.runner = runner
        self.memory = memory
        self.working: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._released: set[uuid.UUID] = set()  # cases whose lease could not be renewed: their eval was cancelled
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._loop = asyncio.create_task(self._claim_loop(), name="eval-driver")

    async def stop(self) -> None:
        if self._loop:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        for job in self.working.values():
            job.cancel()
        await asyncio.gather(*self.working.values(), return_exceptions=True)

    async def _claim_loop(self) -> None:
        while True:
            self._wake.clear()
            free = self.settings.eval_max_in_process - len(self.working)
            if free > 0:
                try:
                    async with self.sessionmaker() as session:
                        claimed = await repository.claim(
                            session, most=free, lease_seconds=self.settings.eval_lease_seconds
                        )
                        evals = {r.eval_id: await repository.get_eval(session, r.eval_id) for r in claimed}
                except Exception:  # the loop must outlive any failure, or every eval would stall
                    logger.exception("claiming eval cases failed; trying again shortly")
                    claimed, evals = [], {}
                for result in claimed:
                    evaluation = evals[result.eval_id]
                    assert evaluation is not None
                    self.working[result.id] = asyncio.create_task(
                        self._work(evaluation, result), name=f"eval-case-{result.id}"
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.eval_poll_seconds)

    async def _work(self, evaluation: Eval, result: EvalResult) -> None:
        heartbeat = asyncio.create_task(self._renew(result.id))
        try:
            try:
                outcome = await self.runner.run(
                    evaluation, result, still_claimed=lambda: result.id not in self._released
                )
            except (AppError, OSError, SQLAlchemyError) as exc:  # the case fails with why; the eval goes on
                logger.warning("eval case %s (%s) failed: %s", result.case_id, result.arm, exc)
                outcome = CaseOutcome(passed=False, cost_usd=Decimal(0), tokens=0, detail={"error": str(exc)[:2000]})
            await self._record(evaluation, result, outcome)
        finally:
            heartbeat.cancel()
            self.working.pop(result.id, None)
            self._released.discard(result.id)
            self.wake()

    async def _renew(self, result_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.settings.eval_lease_seconds / 3)
            try:
                async with self.sessionmaker() as session:
                    if not await repository.renew(session, result_id, lease_seconds=self.settings.eval_lease_seconds):
                        self._released.add(result_id)
                        return
            except (OSError, SQLAlchemyError):
                logger.warning("could not renew the lease of eval case %s", result_id)

    async def _record(self, evaluation: Eval, result: EvalResult, outcome: CaseOutcome) -> None:
        async with self.sessionmaker() as session:
            # Cases finishing at once take turns: each then sees the others' results when it asks whether it
            # was the last (without the lock, two last cases each saw the other still running, and nobody closed).
            await repository.lock_eval(session, evaluation.id)
            recorded = await repository.finish(
                session,
                result.id,
                passed=outcome.passed,
                cost_usd=outcome.cost_usd,
                tokens=outcome.tokens,
                detail=outcome.detail,
            )
            closed = recorded and await repository.close_if_done(session, evaluation.id)
            await session.commit()
        if closed:
            await self.forget(evaluation)

    async def forget(self, evaluation: Eval) -> None:
        """Deletes the memories the eval's runs stored (its own scope). A failure is logged and kept on the eval:
        they stay invisible to every search that does not ask for the eval scope."""
        try:
            await self.memory.delete(
                "/memories",
                identity=owner(evaluation),
                params={"scope": EVAL_SCOPE, "session_id": f"eval:{evaluation.id}"},
            )
        except (AppError, OSError) as exc:
            logger.warning("the memories of eval %s were not deleted: %s", evaluation.id, exc)
            async with self.sessionmaker() as session:
                await repository.note_error(session, evaluation.id, f"Its memories were not deleted: {exc}")
