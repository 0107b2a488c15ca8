"""`python -m srcnet_eb.services.broker_agent`: one site agent forwarding to another broker (EB_* variables)."""

from srcnet_eb.shared.agent.main import run_agent

if __name__ == "__main__":
    run_agent("ebroker")
