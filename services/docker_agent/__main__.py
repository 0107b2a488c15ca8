"""`python -m srcnet_eb.services.docker_agent`: one Docker site agent (settings from EB_* variables)."""

from srcnet_eb.shared.agent.main import run_agent

if __name__ == "__main__":
    run_agent("docker")
