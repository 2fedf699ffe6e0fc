"""The CognitionOS Python client: every service through the gateway, sync (`CognitionOS`) and async
(`AsyncCognitionOS`), server-sent events on httpx-sse, errors as exceptions carrying the error envelope's fields.

    from cognitionos_sdk import CognitionOS

    with CognitionOS("http://127.0.0.1:8000", api_key="cos_...") as client:
        run = client.runs.create(goal="Summarise the week's notes")
        for event in client.runs.events(run.id):
            print(event.event_type, event.message)
"""

from cognitionos_sdk.client import AsyncCognitionOS, CognitionOS
from cognitionos_sdk.errors import (
    AuthenticationError,
    BadRequestError,
    CognitionOSError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from cognitionos_sdk.types import (
    ApiKey,
    Conversation,
    Eval,
    EvalComparison,
    File,
    Memory,
    MemoryImport,
    Message,
    ModelProgress,
    Page,
    Reply,
    Run,
    RunEvent,
    Schedule,
    ScheduleEvent,
    Task,
    Template,
    User,
    Webhook,
    WebhookDelivery,
)

__all__ = [
    "ApiKey",
    "AsyncCognitionOS",
    "AuthenticationError",
    "BadRequestError",
    "CognitionOS",
    "CognitionOSError",
    "ConflictError",
    "Conversation",
    "Eval",
    "EvalComparison",
    "File",
    "Memory",
    "MemoryImport",
    "Message",
    "ModelProgress",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "Reply",
    "Run",
    "RunEvent",
    "Schedule",
    "ScheduleEvent",
    "Task",
    "Template",
    "User",
    "Webhook",
    "WebhookDelivery",
]
