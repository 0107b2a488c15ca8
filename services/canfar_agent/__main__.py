"""`python -m services.canfar_agent`: one CANFAR site agent (settings from EB_* variables)."""

from shared.agent.main import run_agent

if __name__ == "__main__":
    run_agent("canfar")
