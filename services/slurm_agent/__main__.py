"""`python -m services.slurm_agent`: one Slurm site agent (settings from EB_* variables)."""

from shared.agent.main import run_agent

if __name__ == "__main__":
    run_agent("slurm")
