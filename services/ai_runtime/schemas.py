import json
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts.ai import (  # noqa: F401 (the ai-runtime's own schemas, shared as contracts)
    MAX_EMBED_TEXTS,
    MAX_MESSAGE_CHARS,
    BudgetRequest,
    BudgetResponse,
    BudgetUsage,
    ChatMessage,
    CompleteRequest,
    CompleteResponse,
    EmbedRequest,
    EmbedResponse,
    FunctionDefinition,
    ModelEntry,
    ModelsResponse,
    ResponseFormat,
    ToolCall,
    ToolCallFunction,
    ToolDefinition,
)


class SpendRow(BaseModel):
    key: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class SpendResponse(BaseModel):
    group_by: Literal["user", "model", "day", "api_key", "team"]
    since: date | None
    rows: list[SpendRow]


# --- OpenAI-compatible wire types -----------------------------------------------------------------


class OpenAIChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32_000)
    temperature: float = Field(default=1.0, ge=0, le=2)
    stream: bool = False
    response_format: ResponseFormat | None = None
    tools: list[ToolDefinition] | None = Field(default=None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    user: str | None = None


class OpenAICompletionRequest(BaseModel):
    """The legacy completions API: a prompt in, text out."""

    model_config = ConfigDict(extra="allow")

    model: str
    prompt: str | list[str] = Field(description="One prompt (a list of one is accepted too)")
    max_tokens: int | None = Field(default=16, ge=1, le=32_000)
    temperature: float = Field(default=1.0, ge=0, le=2)
    stream: bool = False
    user: str | None = None

    @field_validator("prompt")
    @classmethod
    def one_prompt(cls, value: str | list[str]) -> str | list[str]:
        prompts = [value] if isinstance(value, str) else value
        if len(prompts) != 1 or not prompts[0].strip():
            raise ValueError("give one non-empty prompt")
        return value

    @property
    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class AnthropicBlock(BaseModel):
    """A content block of Anthropic's Messages API. `cache_control` is a caching hint: accepted, nothing to cache."""

    model_config = ConfigDict(extra="forbid")
    cache_control: dict[str, Any] | None = None


class AnthropicTextBlock(AnthropicBlock):
    type: Literal["text"]
    text: str = Field(max_length=MAX_MESSAGE_CHARS)


class AnthropicToolUseBlock(AnthropicBlock):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=128)
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    input: dict[str, Any]


class AnthropicToolResultBlock(AnthropicBlock):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=128)
    content: (
        Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)] | Annotated[list[AnthropicTextBlock], Field(max_length=64)]
    ) = ""
    is_error: bool = False

    @property
    def text(self) -> str:
        body = self.content if isinstance(self.content, str) else "".join(block.text for block in self.content)
        return f"(the tool failed) {body}" if self.is_error else body


TextBlocks = Annotated[list[AnthropicTextBlock], Field(min_length=1, max_length=64)]
ContentBlock = Annotated[
    AnthropicTextBlock | AnthropicToolUseBlock | AnthropicToolResultBlock, Field(discriminator="type")
]


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: (
        Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]
        | Annotated[list[ContentBlock], Field(min_length=1, max_length=64)]
    )

    @model_validator(mode="after")
    def blocks_fit_the_role(self) -> "AnthropicMessage":
        kinds = {block.type for block in self.content} if isinstance(self.content, list) else set()
        if self.role == "assistant" and "tool_result" in kinds:
            raise ValueError("tool_result blocks belong in a user message")
        if self.role == "user" and "tool_use" in kinds:
            raise ValueError("tool_use blocks belong in an assistant message")
        return self

    def chat_messages(self) -> list[dict[str, Any]]:
        """This message in the chat shape every provider here takes: tool uses as tool_calls, tool results as
        tool messages (before the user's own words of the same turn)."""
        if isinstance(self.content, str):
            return [{"role": self.role, "content": self.content}]
        text = "".join(block.text for block in self.content if isinstance(block, AnthropicTextBlock))
        if self.role == "assistant":
            uses = [block for block in self.content if isinstance(block, AnthropicToolUseBlock)]
            message: dict[str, Any] = {"role": "assistant", **({"content": text} if text or not uses else {})}
            if uses:
                message["tool_calls"] = [
                    {"id": u.id, "type": "function", "function": {"name": u.name, "arguments": json.dumps(u.input)}}
                    for u in uses
                ]
            return [message]
        results = [
            {"role": "tool", "tool_call_id": block.tool_use_id, "content": block.text}
            for block in self.content
            if isinstance(block, AnthropicToolResultBlock)
        ]
        return results + ([{"role": "user", "content": text}] if text or not results else [])


class AnthropicTool(BaseModel):
    """A client tool (Anthropic's server tools, such as web search, are not offered here)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["custom"] | None = None
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field(default="", max_length=4096)
    input_schema: dict[str, Any]
    cache_control: dict[str, Any] | None = None

    def chat_tool(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.input_schema},
        }


class AnthropicToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    disable_parallel_tool_use: bool = False

    @model_validator(mode="after")
    def a_named_tool_is_named(self) -> "AnthropicToolChoice":
        if (self.type == "tool") != (self.name is not None):
            raise ValueError('name is given with type "tool", and only then')
        return self

    def chat_tool_choice(self) -> Any:
        if self.type == "tool":
            return {"type": "function", "function": {"name": self.name}}
        return {"auto": "auto", "any": "required", "none": "none"}[self.type]


class AnthropicCountTokensRequest(BaseModel):
    """What the official `anthropic` SDK sends to /v1/messages/count_tokens. A field this API does not implement
    (top_p, stop_sequences, thinking, ...) is refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[AnthropicMessage] = Field(min_length=1, max_length=1024)
    system: Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)] | TextBlocks | None = None
    tools: list[AnthropicTool] | None = Field(default=None, max_length=128)
    tool_choice: AnthropicToolChoice | None = None

    @model_validator(mode="after")
    def a_chosen_tool_is_offered(self) -> "AnthropicCountTokensRequest":
        if self.tool_choice is not None and self.tool_choice.type in ("auto", "any", "tool") and not self.tools:
            raise ValueError("tool_choice needs tools")
        chosen = self.tool_choice.name if self.tool_choice is not None else None
        if chosen is not None and chosen not in {tool.name for tool in self.tools or []}:
            raise ValueError(f"tool_choice names {chosen}, which is not among the tools")
        return self

    def chat_messages(self) -> list[dict[str, Any]]:
        """The same conversation in the chat shape every provider here takes."""
        system = (
            self.system
            if isinstance(self.system, str) or self.system is None
            else "".join(block.text for block in self.system)
        )
        head = [{"role": "system", "content": system}] if system else []
        return head + [turn for message in self.messages for turn in message.chat_messages()]

    def chat_tools(self) -> list[dict[str, Any]] | None:
        return [tool.chat_tool() for tool in self.tools] if self.tools else None

    def chat_tool_choice(self) -> Any:
        return self.tool_choice.chat_tool_choice() if self.tool_choice else None


class AnthropicMessagesRequest(AnthropicCountTokensRequest):
    """Anthropic's Messages API: what the official `anthropic` SDK sends to /v1/messages."""

    max_tokens: int = Field(ge=1, le=32_000)
    temperature: float = Field(default=1.0, ge=0, le=1)
    stream: bool = False
    metadata: dict[str, Any] | None = Field(default=None, description="Accepted; it identifies end users to Anthropic")


class OpenAIEmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    input: str | list[str]
