"""``autogen.agentchat.contrib.capabilities``: capabilities added to an agent after it is made."""
