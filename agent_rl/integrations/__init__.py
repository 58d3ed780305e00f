"""Drop-in recording for agent frameworks (``agent_rl.integrations.langchain``)."""
