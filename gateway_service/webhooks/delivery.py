"""Sends each finished task's JSON to its callback URL, signed, with retries; never touches the task's outcome.

``WebhookSender.task_finished`` is called by the dispatcher after a task's final state is written. It starts
a background delivery and returns at once, so slow or failing receivers never hold up jobs. Each try checks
the URL again (its host may now resolve elsewhere); redirects are not followed. The outcome lands in the task
record's ``webhook_*`` fields. A delivery still under way when the process stops is lost.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from gateway_service.core.config import Settings
from gateway_service.core.shutdown import drain
from gateway_service.metrics import WEBHOOKS
from gateway_service.tasks.models import WebhookStatus
from gateway_service.tasks.render import task_json
from gateway_service.tasks.store import TaskStore
from gateway_service.webhooks.policy import CallbackRefused, check_callback_url
from gateway_service.webhooks.signing import SIGNATURE_HEADER, TASK_ID_HEADER, signature

log = logging.getLogger(__name__)


class WebhookSender:
    def __init__(self, settings: Settings, store: TaskStore) -> None:
        self._settings = settings
        self._store = store
        self._client = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": "FaceBlur-Webhook/1.0"},
        )
        self._deliveries: set[asyncio.Task[None]] = set()

    def task_finished(self, task_id: str) -> None:
        delivery = asyncio.create_task(self._deliver(task_id), name=f"webhook-{task_id}")
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)

    async def close(self, grace_seconds: float = 0.0) -> None:
        await drain(list(self._deliveries), grace_seconds)
        await self._client.aclose()

    async def _deliver(self, task_id: str) -> None:
        extra = {"task_id": task_id}
        try:
            url = await self._store.get_callback_url(task_id)
            if not url:
                return
            await self._store.record_webhook(task_id, WebhookStatus.SENDING, 0)
            record = await self._store.get(task_id)
            if record is None:
                return
            body = await asyncio.to_thread(task_json, record)
            status, attempts, problem = await self._send_with_retries(task_id, url, body)
            await self._store.record_webhook(task_id, status, attempts, problem)
            WEBHOOKS.labels(outcome=status.value).inc()
            if status is WebhookStatus.DELIVERED:
                log.info("webhook delivered to %s (try %d)", url, attempts, extra=extra)
            else:
                log.warning("webhook to %s failed after %d tries: %s", url, attempts, problem, extra=extra)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery broke down", extra=extra)

    async def _send_with_retries(self, task_id: str, url: str, body: bytes) -> tuple[WebhookStatus, int, str]:
        settings = self._settings
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(settings.webhook_secret, body),
            TASK_ID_HEADER: task_id,
        }
        problem = ""
        delay = settings.webhook_backoff_seconds
        for attempt in range(1, settings.webhook_attempts + 1):
            if attempt > 1:
                await self._store.record_webhook(task_id, WebhookStatus.SENDING, attempt - 1, problem)
                await asyncio.sleep(delay)
                delay *= 2
            try:
                await check_callback_url(url, settings.webhook_allowed_hosts, settings.webhook_allow_private)
            except CallbackRefused as refused:
                return WebhookStatus.FAILED, attempt - 1, f"refused: {refused}"
            try:
                response = await self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if 200 <= response.status_code < 300:
                    return WebhookStatus.DELIVERED, attempt, ""
                problem = f"the receiver answered HTTP {response.status_code}"
            log.info("webhook try %d to %s: %s", attempt, url, problem, extra={"task_id": task_id})
        return WebhookStatus.FAILED, settings.webhook_attempts, problem
