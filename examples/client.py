"""The whole flow with the Python client (srcnet_eb.client), against `make up`:

    .venv/bin/python examples/client.py [REQUEST]     # default examples/astroml.yaml

asks for offers, waits for every site's answer, accepts the offer that starts earliest and watches
the session to a final phase. A notebook runs until its time is over, so once it is RUNNING this
example prints where to open it and cancels it (a headless job, examples/casa-job.yaml, runs to
COMPLETED by itself). EB_URL and EB_TOKEN choose another broker; the default is the embedded one's.
Exit 0 when the session completed (or was RUNNING), 1 otherwise."""

from __future__ import annotations

import asyncio
import sys
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path

from srcnet_eb.client import Broker, BrokerError
from srcnet_eb.shared.model import ExecutionSession, Phase, Result

REQUEST = Path(__file__).parent / "astroml.yaml"


def start(offer: ExecutionSession) -> datetime:
    preparing = offer.schedule.preparing
    return preparing.start if preparing and preparing.start else datetime.max.replace(tzinfo=UTC)


async def main(request: Path) -> int:
    async with Broker() as eb:
        offerset = await eb.ask(request, wait=30)
        print(f"{offerset.meta.url}: {offerset.result or offerset.status}")
        for message in offerset.meta.messages:
            print(f"  {message.level} {message.message}")
        if offerset.result != Result.YES:
            return 1
        earliest = min(offerset.offers, key=start)
        print(f"accepting {earliest.meta.url} at {earliest.site.name if earliest.site else '?'}, "
              f"from {start(earliest):%Y-%m-%dT%H:%M:%SZ}")
        session = await eb.accept(earliest)
        async with aclosing(eb.watch(session)) as events:
            async for event in events:
                print(f"{event.time:%H:%M:%S}  {event.phase:10} {'; '.join(event.messages)}")
                if event.phase == Phase.RUNNING and event.session and event.session.executable:
                    urls = [u for a in getattr(event.session.executable, "access", []) for u in a.locations]
                    if urls:  # interactive: it runs until its time is over
                        print(f"  open: {urls[0]}\n  (an example: cancelling it)")
                        await eb.cancel(session)
                        return 0
                if event.phase == Phase.COMPLETED:
                    return 0
        return 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REQUEST)))
    except BrokerError as exc:
        sys.exit(f"client.py: {exc.line()}")
