"""``autogen.agentchat.contrib``: the contributed capabilities moot has (``.capabilities``)."""
