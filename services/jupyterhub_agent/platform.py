"""JupyterHub as a broker platform: notebooks become named servers of the caller's hub user.

Offers come from the site's configured capacity through the runtime's ledger (a hub has no queue to
ask); a server is started with user_options saying its image, size and end (servers.py), and its
access URL goes through the hub's proxy, pointed at the notebook's file.
"""

from __future__ import annotations

import time
from datetime import datetime

from srcnet_eb.shared import model as m
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.platform.notebooks import lab_tree
from srcnet_eb.shared.platform.port import Proposal, RunState, RunStatus

from . import proposal, servers
from .hub import HubClient, HubUnavailable
from .settings import JupyterHubSettings
from .users import hub_user

KIND = "jupyterhub"


class JupyterHubPlatform:
    kind = KIND
    runs = "notebook servers"

    def __init__(self, settings: JupyterHubSettings, client: HubClient | None = None) -> None:
        self.settings = settings
        self.site = settings.site
        self.public_url = settings.hub_public_url or settings.hub_api_url.rstrip("/").removesuffix("/hub/api")
        self.client = client or HubClient(settings.hub_api_url, settings.hub_token, settings.hub_timeout)
        self._up_until = 0.0  # (monotonic) the hub answered lately: offers need not ask it again until then

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.client.aclose()

    async def capabilities(self) -> Capabilities:
        s = self.settings
        limits = {"max_cores": min(s.max_cores, s.total_cores), "max_memory_gb": min(s.max_memory_gb, s.total_memory_gb),
                  "max_gpus": min(s.max_gpus, s.total_gpus), "images": len(s.images)}
        try:
            await self.client.version()
        except HubUnavailable as exc:
            return Capabilities(executables=[m.kinds.JUPYTER_NOTEBOOK], reachable=False, detail=exc.reason, **limits)
        return Capabilities(executables=[m.kinds.JUPYTER_NOTEBOOK], **limits)

    async def propose(self, request: m.ExecutionRequest) -> Proposal | list[m.Message]:
        site, notebook = self.site, request.executable
        if not isinstance(notebook, m.JupyterNotebook):
            kind = getattr(notebook, "kind", None)
            return [m.error("{site}: executable: this JupyterHub site runs jupyter-notebook, not {kind}", site=site,
                            kind=m.kinds.short(kind) if kind else "nothing")]
        why: list[m.Message] = []
        image = proposal.image_for(notebook, self.settings)
        if isinstance(image, m.Message):
            why.append(image)
        where = proposal.notebook_path(notebook.location, self.settings)
        if isinstance(where, m.Message):
            why.append(where)
        demand = proposal.size(request.simple_compute, self.settings)
        if isinstance(demand, list):
            why += demand
        if why:
            return why
        down = await self._down()
        if down is not None:  # a hub that is down says NO now rather than failing the launch later
            return [m.error("{site}: the JupyterHub is unavailable: {reason}", site=site, reason=down)]
        named = notebook.model_copy(update={"image": m.DockerImage(locations=[image])}) if image else notebook
        return Proposal(demand, f"JupyterHub notebook server ({image or 'default image'}) at {site}", named)

    async def _down(self) -> str | None:
        """Why the hub cannot be reached, or None; a hub that answered is not asked again for a while (one
        request to the hub per offer request would cost more than the answer itself)."""
        if time.monotonic() < self._up_until:
            return None
        try:
            await self.client.version()
        except HubUnavailable as exc:
            return exc.reason
        self._up_until = time.monotonic() + self.settings.hub_check_ttl
        return None

    def access_for(self, session: m.ExecutionSession, urls: list[str]) -> list[str]:
        """The server's URL opens the notebook itself (JupyterLab's lab/tree/<path>)."""
        notebook = session.executable
        if not isinstance(notebook, m.JupyterNotebook):
            return urls
        path = proposal.notebook_path(notebook.location, self.settings)
        return urls if isinstance(path, m.Message) else [lab_tree(url, path) for url in urls]

    async def launch(self, session: m.ExecutionSession, owner: str | None = None) -> str:
        """As the named server of `owner`'s hub user (created if new); the one already there if any."""
        user, name = hub_user(owner, self.settings.anonymous_user), servers.server_name(session.meta.uuid)
        await self.client.ensure_user(user)
        found = await self.client.server(user, name)
        if found is None or (found.stopped and not servers.over(found)):  # one over is reported, not rerun
            notebook = session.executable
            image = notebook.image if isinstance(notebook, m.JupyterNotebook) else None  # named on the offer
            await self.client.start(user, name, servers.options(session, image.locations[0] if image else None))
        return servers.platform_id(user, name)

    async def status(self, platform_id: str) -> RunStatus:
        user, name = servers.split(platform_id)
        server = await self.client.server(user, name)
        if server is not None and server.ready and servers.over(server):
            # Its time is over: stopped here, so it ends even where no runtime cancels it (kept until
            # stopped, so its end is still known).
            await self.client.stop(user, name, remove=False)
            return RunStatus(RunState.STOPPING, detail="the notebook server's time is over")
        found = servers.run_status(server, self.public_url, platform_id)
        if found.state is RunState.SUCCEEDED:
            await self.client.stop(user, name, remove=True)  # over: the hub need not keep it
        return found

    async def cancel(self, platform_id: str) -> None:
        user, name = servers.split(platform_id)
        await self.client.stop(user, name, remove=True)

    async def extend(self, platform_id: str, until: datetime) -> None:
        """Nothing to do: the hub stops no server by itself; the end is the offer's (within what was offered)."""
        return None
