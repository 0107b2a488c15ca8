"""One exception for everything that goes wrong: the gateway's Problem document, or no answer at all."""

from __future__ import annotations

import httpx


class BrokerError(Exception):
    """A 4xx/5xx answer. `status` and `title` of the Problem; `field` and `detail` of its first ERROR
    message (`{field}: {reason}`); `messages` all of its rendered messages."""

    def __init__(self, status: int | None, title: str, field: str | None = None, detail: str | None = None,
                 messages: list[str] | None = None) -> None:
        self.status, self.title, self.field, self.detail = status, title, field, detail
        self.messages = messages or ([detail] if detail else [])
        super().__init__(self.line())

    def line(self) -> str:
        """The error on one line, as the CLI prints it."""
        head = f"{self.status} {self.title}" if self.status else self.title
        return f"{head}: {'; '.join(self.messages)}" if self.messages else head

    @classmethod
    def of(cls, answer: httpx.Response) -> BrokerError:
        try:
            doc = answer.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):  # not a Problem (a proxy's page): its first line says enough
            text = answer.text.strip().splitlines()[0][:200] if answer.text.strip() else answer.reason_phrase
            return cls(answer.status_code, answer.reason_phrase or "error", detail=text)
        messages = [m for m in doc.get("messages", []) if isinstance(m, dict)]
        first = next((m for m in messages if m.get("level") == "ERROR"), messages[0] if messages else {})
        values = first.get("values") or {}
        return cls(int(doc.get("status", answer.status_code)), str(doc.get("title", answer.reason_phrase)),
                   field=values.get("field"), detail=values.get("reason") or first.get("message"),
                   messages=[str(m.get("message", "")) for m in messages if m.get("message")])


class Unreachable(BrokerError):
    """No answer: connection refused, name not resolved, timed out. `status` is None."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(None, f"cannot reach the broker at {url}", detail=reason)


def reason_of(exc: httpx.TransportError) -> str:
    """A transport error in a few plain words."""
    if isinstance(exc, httpx.ConnectError) and "All connection attempts failed" in str(exc):
        return "connection refused (is it up? set --url or EB_URL)"  # anyio's words for ECONNREFUSED
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text
