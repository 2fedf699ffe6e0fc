"""tool-runner routes. Domain endpoints arrive with the capability's own issue; probes come from shared.app."""

from fastapi import APIRouter

router = APIRouter(tags=["tool-runner"])
