"""``TransformMessages``: an agent replies from its messages as the transforms change them
(``transforms.MessageHistoryLimiter``, ``MessageTokenLimiter``, ...); its history is not changed."""

from __future__ import annotations

import copy
from typing import Any

from moot.formatting_utils import colored

from .transforms import MessageTransform

__all__ = ["TransformMessages"]


class TransformMessages:
    """Applies ``transforms`` in order to what an agent replies from (the system message kept
    first and untouched); ``verbose`` prints what each one changed."""

    def __init__(self, *, transforms: list[MessageTransform] | None = None, verbose: bool = True):
        self.transforms = list(transforms or [])
        self.verbose = verbose

    def add_to_agent(self, agent: Any) -> None:
        """Install on ``agent``: a ``process_all_messages_before_reply`` hook."""
        agent.register_hook(hookable_method="process_all_messages_before_reply", hook=self.transform_messages)

    def transform_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages as the transforms leave them (a copy; ``messages`` is not changed)."""
        system = messages[:1] if messages and messages[0].get("role") == "system" else []
        current = copy.deepcopy(messages[len(system):])
        for transform in self.transforms:
            before = copy.deepcopy(current) if self.verbose else current
            current = transform.apply_transform(before)
            if self.verbose:
                logs, changed = transform.get_logs(before, current)
                if changed:
                    print(colored(logs, "yellow"))
        return copy.deepcopy(system) + current
