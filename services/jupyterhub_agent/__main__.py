"""`python -m srcnet_eb.services.jupyterhub_agent`: one JupyterHub site agent (settings from EB_* variables)."""

from srcnet_eb.shared.agent.main import run_agent

if __name__ == "__main__":
    run_agent("jupyterhub")
