"""The gateway's running state and the dependencies its routes declare."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.api_gateway.admission import Admission
from services.api_gateway.authentication import Authenticator
from services.api_gateway.idempotency import IdempotencyKeys
from services.api_gateway.proxy import UpstreamProxy
from shared.app import service_state
from shared.batching import BatchedInserter


@dataclass(kw_only=True)
class GatewayState:
    proxy: UpstreamProxy
    authenticator: Authenticator
    admission: Admission
    api_usage: BatchedInserter
    idempotency: IdempotencyKeys


def gateway_state(request: Request) -> GatewayState:
    return service_state(request.app, GatewayState)


async def get_proxy(request: Request) -> UpstreamProxy:
    return gateway_state(request).proxy


Proxy = Annotated[UpstreamProxy, Depends(get_proxy)]
