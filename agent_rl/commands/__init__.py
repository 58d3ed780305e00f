"""Subcommands of the ``agent-rl`` CLI, one module each (see ``agent_rl.cli``)."""
