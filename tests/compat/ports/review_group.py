# A group chat with a transition graph and a reviewer, as an AutoGen 0.2 notebook writes it: the
# admin hands the task to the coder, the coder's work always goes to the reviewer, and the
# reviewer sends it back to the coder or, once it is good, to the admin.
# tests/compat/test_ports.py ports it by sed (its imports only) and runs it.
import autogen

coder_config = {"config_list": autogen.config_list_from_json("OAI_CONFIG_LIST", filter_dict={"tags": ["coder"]})}
reviewer_config = {"config_list": autogen.config_list_from_json("OAI_CONFIG_LIST", filter_dict={"tags": ["reviewer"]})}
manager_config = {"config_list": autogen.config_list_from_json("OAI_CONFIG_LIST", filter_dict={"tags": ["manager"]})}

admin = autogen.UserProxyAgent(
    "admin",
    system_message="A human admin who hands out the task and accepts the result.",
    human_input_mode="NEVER",
    code_execution_config=False,
    default_auto_reply="Thanks, that is all.",
)
coder = autogen.AssistantAgent("coder", llm_config=coder_config, system_message="You write short Python functions.")
reviewer = autogen.AssistantAgent(
    "reviewer",
    llm_config=reviewer_config,
    system_message="You review the coder's code. Ask for changes, or say APPROVED.",
)

graph = {admin: [coder], coder: [reviewer], reviewer: [coder, admin]}
groupchat = autogen.GroupChat(
    agents=[admin, coder, reviewer],
    messages=[],
    max_round=6,
    allowed_or_disallowed_speaker_transitions=graph,
    speaker_transitions_type="allowed",
)
manager = autogen.GroupChatManager(groupchat=groupchat, llm_config=manager_config)

admin.initiate_chat(manager, message="Write a function that reverses a string.")
print("SPEAKERS:", [m.get("name") for m in groupchat.messages])
