"""{{title}}: a Plugboard plugin with a tool (`greet`, for models and `/run {{id}} <name>`),
a slash command (`/greet <name>`), a setting (`greeting`), its own key-value store (how
often each name was greeted), a health report, a self-test, and tests (tests/) that call
its hooks against the SDK's fake host. Build it with `plugboard plugin build`, check it
with `plugboard plugin test`.

Import at the top of the file everything the plugin uses: the build runs this module
once and keeps what it imported; a module first imported inside a hook is not there.
"""

from plugboard_sdk import HealthReport, Plugin, PluginError, SelfTestResult, ToolSpec, export, kv


def greet(greeting: str, name: str) -> str:
    """The greeting for `name`; PluginError says why there is none."""
    name = name.strip()
    if not name:
        raise PluginError("say who to greet, such as `/greet Ada`")
    return f"{greeting}, {name}!"


class Greeter(Plugin):
    """Override only the hooks you need; `export` (at the end) tells the host which."""

    def __init__(self, settings):
        super().__init__(settings)
        self.greeting = settings.get("greeting", "Hello")

    def greet_and_count(self, name: str) -> str:
        """Greets `name` and counts the greeting in the key-value store (permission `kv`).
        A name greeted before is greeted again, with the count."""
        greeting = greet(self.greeting, name)
        key = f"greeted:{name.strip()}"
        # Plain get and set: two instances greeting the same name at once may count it
        # once. For counts that must not miss, loop on `kv.compare_and_set`.
        count = kv.get_json(key, 0) + 1
        kv.set_json(key, count)
        if count == 1:
            return greeting
        return f"{self.greeting} again, {name.strip()}! ({count} greetings)"

    def tools(self):
        return [
            ToolSpec(
                "greet",
                "Greets someone by name",
                {
                    "type": "object",
                    "properties": {"name": {"type": "string", "description": "Who to greet"}},
                    "required": ["name"],
                },
            )
        ]

    def call_tool(self, context, name, arguments):
        if name == "greet":
            # `/run {{id}} Ada` sends {"input": "Ada"}.
            who = arguments.get("name", arguments.get("input", ""))
            return self.greet_and_count(str(who))
        raise PluginError(f"unknown tool `{name}`; this plugin has `greet`")

    def run_command(self, context, name, arguments):
        if name == "greet":
            return self.greet_and_count(arguments)
        raise PluginError(f"unknown command `/{name}`")

    def health(self):
        return HealthReport.healthy("ready")

    def self_test(self):
        expected = f"{self.greeting}, Ada!"
        try:
            greeted = greet(self.greeting, "Ada")
        except PluginError as error:
            greeted = f"error: {error}"
        try:
            greet(self.greeting, " ")
            refused = False
        except PluginError:
            refused = True
        return [
            SelfTestResult("greets by name", greeted == expected, repr(greeted)),
            SelfTestResult("refuses an empty name", refused, "an empty name is an error"),
        ]


export(Greeter)
