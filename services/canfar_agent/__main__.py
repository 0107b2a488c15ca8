"""`python -m srcnet_eb.services.canfar_agent`: one CANFAR site agent (settings from EB_* variables)."""

from srcnet_eb.shared.agent.main import run_agent

if __name__ == "__main__":
    run_agent("canfar")
