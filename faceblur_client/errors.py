"""What can go wrong talking to the gateway; every error's message is meant for the end user."""

from __future__ import annotations


class FaceBlurError(Exception):
    """Base class: the image could not be processed."""


class GatewayUnreachable(FaceBlurError):
    """No HTTP answer at all: wrong URL, gateway down, network trouble."""


class ApiError(FaceBlurError):
    """The gateway answered with an HTTP error status (a refused upload, an unknown task...)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class TaskFailed(FaceBlurError):
    """The task ran and ended in FAILURE (for example, the file is not a decodable image)."""

    def __init__(self, task_id: str, reason: str) -> None:
        super().__init__(reason)
        self.task_id = task_id
        self.reason = reason


class TaskTimeout(FaceBlurError):
    """The task had not finished when the caller stopped waiting; it may still finish later."""

    def __init__(self, task_id: str, status: str, seconds: float) -> None:
        super().__init__(f"task {task_id} still {status} after {seconds:g} s")
        self.task_id = task_id
        self.status = status
