"""``autogen.oai.client``: what scripts read from AutoGen's client module. moot has no
``OpenAIWrapper``; its backends (``moot.backends``) are what agents talk to."""

__all__ = ["TOOL_ENABLED"]

#: Whether tool calls can be offered to models: always, in moot (each backend takes tools).
TOOL_ENABLED = True
