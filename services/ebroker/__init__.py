"""The `ebroker` command: bring the broker up, ask it for offers, run a site agent, write deployment configs."""
