"""Tools that misbehave: `spin` loops forever, `hoard` allocates without end, `ping`
answers `pong` (to show a fresh instance serves after either)."""

from plugboard_sdk import Plugin, ToolSpec, export

OBJECT = {"type": "object", "properties": {}}


class Runaway(Plugin):
    def tools(self):
        return [
            ToolSpec("ping", "Answers pong", OBJECT),
            ToolSpec("spin", "Never returns", OBJECT),
            ToolSpec("hoard", "Allocates until stopped", OBJECT),
        ]

    def call_tool(self, context, name, arguments):
        if name == "spin":
            count = 0
            while True:
                count += 1
        if name == "hoard":
            blocks = []
            while True:
                blocks.append(bytearray(1 << 20))
        return "pong"


export(Runaway)
