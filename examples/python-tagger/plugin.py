"""Python tagger: the example plugin of seed 000 (PrivGPT-Studio's `plugins/example_plugin`)
on Plugboard. It tags prompts on their way to the model and replies on their way back,
and counts sessions (Plugboard's conversations) as they start and end.

The seed's four hooks map onto the ABI as:
- `before_prompt(prompt) -> str`     -> `before_prompt(context, prompt)`, a str rewrites
- `after_response(response) -> str`  -> `after_response(context, response)`
- `on_session_start()`               -> `on_conversation_started(context, conversation)`
- `on_session_end()`                 -> `on_conversation_ended(context, conversation)`
"""

from plugboard_sdk import HealthReport, Plugin, export, kv, log

STARTED = "sessions:started"
ENDED = "sessions:ended"


def count(key: str) -> int:
    """Adds one to the counter `key` in the key-value store and returns the new count.
    Several instances may count at once: compare-and-set retries until none interfered."""
    while True:
        current = kv.get(key)
        new = (int(current) if current else 0) + 1
        if kv.compare_and_set(key, current, str(new)):
            return new


def read(key: str) -> int:
    value = kv.get(key)
    return int(value) if value else 0


class ExamplePlugin(Plugin):
    """Tags prompts and responses, and counts sessions."""

    def __init__(self, settings):
        super().__init__(settings)
        self.tag = settings.get("tag", "tagged")

    def before_prompt(self, context, prompt):
        return f"[{self.tag}] {prompt}"

    def after_response(self, context, response):
        return f"{response}\n\n[{self.tag}]"

    def on_conversation_started(self, context, conversation):
        started = count(STARTED)
        log.info(f"session {conversation.id} started ({started} so far): {conversation.title}")

    def on_conversation_ended(self, context, conversation):
        ended = count(ENDED)
        log.info(f"session {conversation.id} ended ({ended} so far)")

    def health(self):
        started, ended = read(STARTED), read(ENDED)
        return HealthReport.healthy(f"{started} sessions started, {ended} ended", started=started, ended=ended)


export(ExamplePlugin)
