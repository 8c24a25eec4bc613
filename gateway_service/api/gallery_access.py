"""Checks every gallery-using request passes: valid names (400), an existing gallery of the caller's (404), and
vectors of the embedding model the face services use now (409)."""

from __future__ import annotations

from fastapi import HTTPException, status

from gateway_service.api.deps import Caller, GatewayServices
from gateway_service.galleries.names import BadName, checked_name
from gateway_service.galleries.store import ModelMismatch


async def check_gallery_option(services: GatewayServices, caller: Caller, name: str | None) -> str | None:
    """A blur task's spare_gallery / only_gallery: a valid name of an existing gallery of the caller's."""
    if name is None:
        return None
    (name,) = checked_names(name)
    await check_model(services, caller, name, must_exist=True)
    return name


def checked_names(*given: str) -> tuple[str, ...]:
    kinds = ("gallery", "subject")
    try:
        return tuple(checked_name(kind, name) for kind, name in zip(kinds, given, strict=False))
    except BadName as bad:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(bad)) from None


async def check_model(services: GatewayServices, caller: Caller, gallery: str, must_exist: bool) -> None:
    """404 if a gallery that must exist does not; 409 if it holds another embedding model's vectors."""
    summary = await services.galleries.summary(caller.owner, gallery)
    if summary is None:
        if must_exist:
            raise no_gallery(gallery)
        return
    current = await services.galleries.current_model()
    if current and summary["embedding_model"] != current:
        raise HTTPException(status.HTTP_409_CONFLICT, str(ModelMismatch(gallery, summary["embedding_model"], current)))


def no_gallery(gallery: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no gallery {gallery!r}")


def no_subject(gallery: str, subject: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no subject {subject!r} in gallery {gallery!r}")
