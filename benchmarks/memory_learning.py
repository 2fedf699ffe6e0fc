"""What a conversation teaches the memory, on the embedded model: `python -m benchmarks.memory_learning`.

A fixed set of exchanges (the user's message, the assistant's reply) with the facts each should teach. Two arms in
the same run, on SmolLM2 in process as the ai-runtime runs it: the baseline (prompt v1, both sides of the turn as
equals, every extracted fact kept, as before) and the current way (prompt v2, the reply as context only, facts not
in the user's words dropped). Printed per arm: precision (extracted facts that are right), recall (expected facts
found) and the facts taken from the reply.
"""

import argparse
import asyncio
import json
from dataclasses import dataclass

from services.agent_orchestrator.conversations.memory import extraction_prompt, grounded
from services.ai_runtime.prompts import PromptLibrary
from services.ai_runtime.providers.base import ChatRequest
from services.ai_runtime.providers.local_models import LOCAL_CHAT_MODEL, LocalChatProvider


@dataclass(frozen=True)
class Exchange:
    said: str
    reply: str
    expected: tuple[tuple[str, ...], ...]  # each expected fact: words a right fact contains (lower case)
    reply_only: tuple[str, ...] = ()  # words that only the reply says: a fact holding one was taken from it


EXCHANGES = (
    Exchange(
        "My dog is called Biscuit and I live in Lisbon.",
        "Biscuit is a popular Italian dog breed.",
        (("biscuit",), ("lisbon",)),
        ("italian", "breed", "popular"),
    ),
    Exchange("My favourite colour is teal.", "Teal is a lovely shade between blue and green.", (("teal",),), ("blue",)),
    Exchange(
        "I'm vegetarian and I don't eat fish.",
        "Great, there are many vegetarian recipes with tofu.",
        (("vegetarian",), ("fish",)),
        ("tofu", "recipe"),
    ),
    Exchange(
        "I work as a nurse on night shifts.", "Night shifts can be tiring; make sure to rest.", (("nurse",),), ("rest",)
    ),
    Exchange("I have two cats named Miso and Tofu.", "Cats are wonderful companions.", (("miso",),), ("companion",)),
    Exchange(
        "I'm learning Rust in the evenings.",
        "Rust is a systems language known for memory safety.",
        (("rust",),),
        ("safety", "systems"),
    ),
    Exchange("My sister lives in Berlin.", "Berlin is the capital of Germany.", (("berlin",),), ("capital", "germany")),
    Exchange(
        "I prefer tea over coffee in the morning.", "Coffee has more caffeine than tea.", (("tea",),), ("caffeine",)
    ),
    Exchange("Hello! How are you today?", "I'm doing well, thank you!", ()),
    Exchange(
        "I'm allergic to peanuts.", "Peanut allergies can be severe; carry an EpiPen.", (("peanut",),), ("epipen",)
    ),
)


@dataclass
class Tally:
    extracted: int = 0
    right: int = 0
    expected: int = 0
    found: int = 0
    from_reply: int = 0

    def line(self, label: str) -> str:
        precision = self.right / self.extracted if self.extracted else 1.0
        recall = self.found / self.expected if self.expected else 1.0
        return (
            f"{label}: precision {precision:.2f} ({self.right}/{self.extracted})  recall {recall:.2f} "
            f"({self.found}/{self.expected})  facts taken from the reply: {self.from_reply}"
        )


async def _extract(provider: LocalChatProvider, *, version: str, content: str) -> list[str]:
    prompt = PromptLibrary().get("memory_extractor", version)
    assert prompt is not None and prompt.output_schema is not None
    result = await provider.complete(
        ChatRequest(
            model=LOCAL_CHAT_MODEL,
            messages=[{"role": "system", "content": prompt.system}, {"role": "user", "content": content}],
            max_tokens=400,
            temperature=0,
            response_format={"type": "json_schema", "json_schema": {"name": "facts", "schema": prompt.output_schema}},
        )
    )
    try:
        return [str(fact["content"]) for fact in json.loads(result.content)["facts"]]
    except (ValueError, KeyError, TypeError):
        return []


def _score(tally: Tally, exchange: Exchange, facts: list[str]) -> None:
    lowered = [fact.lower() for fact in facts]
    tally.extracted += len(facts)
    tally.expected += len(exchange.expected)
    tally.right += sum(any(all(w in fact for w in words) for words in exchange.expected) for fact in lowered)
    tally.found += sum(any(all(w in fact for w in words) for fact in lowered) for words in exchange.expected)
    tally.from_reply += sum(any(w in fact for w in exchange.reply_only) for fact in lowered)


async def measure(*, verbose: bool) -> None:
    provider = LocalChatProvider(max_answer_tokens=400)
    baseline, current = Tally(), Tally()
    for exchange in EXCHANGES:
        before = await _extract(provider, version="v1", content=f"User: {exchange.said}\nAssistant: {exchange.reply}")
        proposed = await _extract(provider, version="v2", content=extraction_prompt(exchange.said, exchange.reply))
        now = [fact for fact in proposed if grounded(fact, exchange.said)]
        _score(baseline, exchange, before)
        _score(current, exchange, now)
        if verbose:
            print(f"{exchange.said!r}\n  baseline: {before}\n  current:  {now}  (proposed {proposed})")
    print(f"{len(EXCHANGES)} exchanges on {LOCAL_CHAT_MODEL}")
    print(baseline.line("baseline (v1, both sides, all kept)"))
    print(current.line("current (v2, the user's words, grounded)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="print each exchange's facts")
    asyncio.run(measure(verbose=parser.parse_args().verbose))


if __name__ == "__main__":
    main()
