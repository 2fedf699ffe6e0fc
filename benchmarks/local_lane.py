"""The embedded model's one lane under load: `python -m benchmarks.local_lane [--calls 12]`.

SmolLM2 on llama.cpp, in process, as the ai-runtime runs it. First the baseline, in the same run: fresh chat calls on
an idle lane, time to first token. Then three runs' long generations are queued and the same fresh calls arrive one
every half second: each is either answered (time to first token) or refused at once as busy (the 429 model_busy an
OpenAI-SDK client gets, with Retry-After; time to the refusal). Last, the three runs are cancelled: the time from the
cancel to each generation stopping.
"""

import argparse
import asyncio
import contextlib
import time

from benchmarks.common import percentile
from services.ai_runtime.providers.base import ProviderError
from services.ai_runtime.providers.local_models import LocalChatProvider
from tests.support.local_model import LONG, ask

QUEUED_RUNS = 3
FRESH = "Name a color."


async def _first_token_ms(provider: LocalChatProvider) -> tuple[str, float]:
    """("answered", ms to the first token) or ("refused", ms to the refusal)."""
    started = time.perf_counter()
    try:
        async for chunk in provider.stream(ask(FRESH, max_tokens=8)):
            if chunk.delta:
                elapsed = (time.perf_counter() - started) * 1000
                return "answered", elapsed
    except ProviderError as exc:
        if exc.busy:
            return "refused", (time.perf_counter() - started) * 1000
        raise
    return "answered", (time.perf_counter() - started) * 1000


def _line(label: str, samples: list[float]) -> str:
    if not samples:
        return f"{label}: none"
    return f"{label}: p50={percentile(samples, 50):.0f} ms  p99={percentile(samples, 99):.0f} ms  n={len(samples)}"


async def measure(calls: int, max_wait: float) -> None:
    provider = LocalChatProvider(max_answer_tokens=400, max_queue_wait_seconds=max_wait)
    await provider.complete(ask(FRESH, max_tokens=4))  # the model loaded, as in a service that has answered once
    baseline = [(await _first_token_ms(provider))[1] for _ in range(calls)]
    print(_line("idle lane, time to first token (baseline)", baseline))

    runs = [f"run-{n}" for n in range(QUEUED_RUNS)]
    queued = [asyncio.create_task(provider.complete(ask(LONG, max_tokens=400, run_id=r))) for r in runs]
    await asyncio.sleep(0.1)
    print(f"{QUEUED_RUNS} runs queued; the lane expects up to {provider.expected_wait_seconds():.1f} s of work ahead")
    outcomes = await asyncio.gather(*(_spaced(provider, n * 0.5) for n in range(calls)))
    answered = [ms for kind, ms in outcomes if kind == "answered"]
    refused = [ms for kind, ms in outcomes if kind == "refused"]
    print(f"  {len(answered)} of {calls} fresh calls answered, {len(refused)} refused at once (429 model_busy)")
    print(_line("  answered, time to first token", answered))
    print(_line("  refused, time to the refusal", refused))
    if answered and baseline:
        print(f"  answered/baseline P50: {percentile(answered, 50) / percentile(baseline, 50):.1f}x")
    await asyncio.gather(*queued, return_exceptions=True)

    queued = [asyncio.create_task(provider.complete(ask(LONG, max_tokens=400, run_id=r))) for r in runs]
    await asyncio.sleep(1.0)  # the first is generating, the others wait
    cancelled_at = time.perf_counter()
    for run_id in runs:
        provider.cancel_run(run_id)
    stops: list[float] = []
    for generation in queued:
        with contextlib.suppress(ProviderError):
            await generation
        stops.append((time.perf_counter() - cancelled_at) * 1000)
    print(_line(f"cancel of {QUEUED_RUNS} runs (one generating, two queued) to their generations stopped", stops))


async def _spaced(provider: LocalChatProvider, delay: float) -> tuple[str, float]:
    await asyncio.sleep(delay)
    return await _first_token_ms(provider)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=12, help="Fresh calls in each phase")
    parser.add_argument(
        "--max-wait", type=float, default=30.0, help="LOCAL_MAX_QUEUE_WAIT_SECONDS (the service's default: 30)"
    )
    arguments = parser.parse_args()
    asyncio.run(measure(arguments.calls, arguments.max_wait))


if __name__ == "__main__":
    main()
