"""The codec server: lets authorised SREs read encrypted histories in the Temporal UI and CLI
(`temporal workflow show --codec-endpoint <worker>/codec --codec-auth "Bearer <operator token>"`).
It speaks the protocol those tools use (`POST /codec/decode` and `/codec/encode`, JSON payloads)
with CORS for the UI's origin. It needs the operator token, except, on a local system only
(`make run`: the dev server's UI has no sign-in to pass one), from the local UI's origin."""

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from services.common.codec import EncryptionCodec, PayloadKeys
from services.common.service_auth import caller_of, unauthorized
from services.common.settings import Settings, get_settings


def _authorised(request: Request) -> None:
    settings = get_settings()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and caller_of(token, settings) == "operator":
        return
    if settings.codec_allow_local_ui and request.headers.get("origin") == ui_origin(settings):
        return
    raise unauthorized("the codec needs the operator token: --codec-auth 'Bearer <token>'")


def ui_origin(settings: Settings) -> str:
    host = settings.temporal_address.rpartition(":")[0]
    return f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{settings.temporal_ui_port}"


def install_codec_server(app: FastAPI, settings: Settings) -> None:
    if settings.payload_keys_file is None:
        return
    codec = EncryptionCodec(PayloadKeys.load(settings.payload_keys_file))
    origin = ui_origin(settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[origin, origin.replace("localhost", "127.0.0.1")],
        allow_methods=["POST"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
        allow_credentials=True,
    )
    router = APIRouter(prefix="/codec", tags=["ops"], dependencies=[Depends(_authorised)])

    async def _payloads(request: Request) -> Payloads:
        return json_format.Parse(await request.body(), Payloads())

    Body = Annotated[Payloads, Depends(_payloads)]

    @router.post("/decode")
    async def decode(payloads: Body) -> dict:
        return json_format.MessageToDict(Payloads(payloads=await codec.decode(list(payloads.payloads))))

    @router.post("/encode")
    async def encode(payloads: Body) -> dict:
        return json_format.MessageToDict(Payloads(payloads=await codec.encode(list(payloads.payloads))))

    app.include_router(router)
