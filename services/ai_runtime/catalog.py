"""The model catalog: prices, context windows and providers, from a versioned data file."""

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

ProviderName = Literal["openai", "anthropic", "openai_compatible", "local"]
ModelKind = Literal["chat", "embedding"]
PRICE_TABLE = Path(__file__).parent / "data" / "models.json"
MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    name: str
    provider: ProviderName
    kind: ModelKind
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    context_window: int
    dimensions: int | None = None
    tokenizer: str | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (self.input_per_mtok * prompt_tokens + self.output_per_mtok * completion_tokens) / MILLION


@dataclass(frozen=True, slots=True)
class Catalog:
    version: str
    models: dict[str, ModelInfo]

    def get(self, name: str) -> ModelInfo | None:
        return self.models.get(name)


def load_catalog(path: Path = PRICE_TABLE, extra_compatible_models: list[str] | None = None) -> Catalog:
    raw = json.loads(path.read_text())
    models = {
        name: ModelInfo(
            name=name,
            provider=entry["provider"],
            kind=entry["kind"],
            input_per_mtok=Decimal(str(entry["input_per_mtok"])),
            output_per_mtok=Decimal(str(entry["output_per_mtok"])),
            context_window=int(entry["context_window"]),
            dimensions=entry.get("dimensions"),
            tokenizer=entry.get("tokenizer"),
        )
        for name, entry in raw["models"].items()
    }
    for name in extra_compatible_models or []:
        # Models served by an OpenAI-compatible server (Ollama, vLLM, ...) are free unless priced in the table.
        models.setdefault(
            name,
            ModelInfo(
                name=name,
                provider="openai_compatible",
                kind="chat",
                input_per_mtok=Decimal(0),
                output_per_mtok=Decimal(0),
                context_window=8192,
                tokenizer="cl100k_base",
            ),
        )
    return Catalog(version=raw["version"], models=models)
