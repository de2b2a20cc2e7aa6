"""Starts `plugboard mcp` as an MCP client would, with the official MCP Python SDK's stdio
client, lists its tools and calls the calculator; prints what it saw as JSON.

The command is PLUGBOARD_MCP_COMMAND (a JSON list: the binary and its arguments), started
in PLUGBOARD_MCP_CWD with this process's environment.
"""

import json
import os

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main():
    command = json.loads(os.environ["PLUGBOARD_MCP_COMMAND"])
    server = StdioServerParameters(
        command=command[0], args=command[1:], env=dict(os.environ), cwd=os.environ["PLUGBOARD_MCP_CWD"]
    )
    out = {}
    with anyio.fail_after(120):
        async with stdio_client(server) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out["server"] = init.serverInfo.name
                out["protocol_version"] = init.protocolVersion
                listed = await session.list_tools()
                out["tools"] = sorted(tool.name for tool in listed.tools)
                called = await session.call_tool("calculator__calculate", {"expression": "2 * (3 + 4)"})
                out["ok"] = {"isError": called.isError, "text": [block.text for block in called.content]}
                failed = await session.call_tool("calculator__calculate", {"expression": "1/0"})
                out["failed"] = {"isError": failed.isError, "text": [block.text for block in failed.content]}
    print(json.dumps(out))


anyio.run(main)
