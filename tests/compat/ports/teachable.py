# A teachable agent as an AutoGen 0.2 notebook writes it: config lists from OAI_CONFIG_LIST, a
# Teachability on its own memo folder, a fact taught in one chat and asked for in the next, by a
# new agent on the same memory. tests/compat/test_ports.py ports it by sed (its imports only).
import os

from autogen import ConversableAgent, UserProxyAgent, config_list_from_json
from autogen.agentchat.contrib.capabilities.teachability import Teachability

llm_config = {"config_list": config_list_from_json("OAI_CONFIG_LIST", filter_dict={"tags": ["chat"]}), "cache_seed": None}
learner_config = {"config_list": config_list_from_json("OAI_CONFIG_LIST", filter_dict={"tags": ["learner"]})}


def teachable_agent(reset_db):
    agent = ConversableAgent(
        "teachable_agent",
        llm_config=llm_config,
        system_message="You are a helpful assistant who remembers what users teach you.",
    )
    teachability = Teachability(reset_db=reset_db, path_to_db_dir=os.environ["TEACHABLE_DB"], llm_config=learner_config)
    teachability.add_to_agent(agent)
    return agent


user = UserProxyAgent("user", human_input_mode="NEVER", max_consecutive_auto_reply=0, code_execution_config=False)

user.initiate_chat(teachable_agent(reset_db=True), message="Remember this: my cat is called Miso.", clear_history=True)
result = user.initiate_chat(teachable_agent(reset_db=False), message="What is my cat called?", clear_history=True)
print("ANSWER:", result.summary)
