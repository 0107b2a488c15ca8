# One image for every broker process; the command picks the role:
#   python -m services.gateway | services.planner | services.canfar_agent | standins.skaha
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY standins ./standins
RUN pip install --no-cache-dir . && useradd --create-home broker
USER broker
ENV EB_HOST=0.0.0.0
EXPOSE 8080
CMD ["python", "-m", "services.gateway"]
