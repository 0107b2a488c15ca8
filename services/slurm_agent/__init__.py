"""A Slurm site agent: drives a Slurm cluster through its command-line tools (sbatch, squeue,
scontrol, sacct, scancel) run as asyncio subprocesses; see ``cli.SlurmCLI``."""
