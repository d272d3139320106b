"""``/api/v1/keys``: the model-signing public keys (never the private one).

``GET /keys`` is the chain agents follow (each key endorsed by the one before);
``GET /keys/current`` the PEM to pin (``--model-pubkey``); ``POST /keys/rotate`` makes a
new key, endorses it with the current one, re-signs every model and publishes the chain.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from edgewatch.coordinator.api.deps import ServiceDep
from edgewatch.shared.modelpack import KeyChain

router = APIRouter(prefix="/keys", tags=["keys"])


@router.get("")
def chain(service: ServiceDep) -> KeyChain:
    return service.models.keyring.chain()


@router.get("/current", response_class=PlainTextResponse)
def current(service: ServiceDep) -> str:
    return service.models.keyring.public_pem


@router.post("/rotate")
def rotate(service: ServiceDep) -> KeyChain:
    lifecycle = service.models
    lifecycle.keyring.rotate()
    lifecycle.republish()
    return lifecycle.keyring.chain()
