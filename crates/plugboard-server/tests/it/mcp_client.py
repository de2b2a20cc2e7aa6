"""Drives Plugboard's /mcp with the official MCP Python SDK and prints what it saw as JSON.

`python mcp_client.py use`: a session that lists the tools and calls the calculator (a
result, a plugin error, an unknown tool). `python mcp_client.py refused`: tries to open a
session and reports whether it failed and the HTTP statuses the server answered with.
The server's URL is PLUGBOARD_MCP_URL, the API token PLUGBOARD_TOKEN (none when unset).
"""

import json
import os
import sys

import anyio
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

URL = os.environ["PLUGBOARD_MCP_URL"]
TOKEN = os.environ.get("PLUGBOARD_TOKEN")


def http_client(statuses):
    """An HTTP client that sends the token (if any) and notes every answer's status."""

    async def note(response):
        statuses.append(response.status_code)

    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
    return httpx.AsyncClient(
        headers=headers, timeout=httpx.Timeout(30, read=300), event_hooks={"response": [note]}
    )


def result(called):
    return {
        "isError": called.isError,
        "text": [block.text for block in called.content],
        "structuredContent": called.structuredContent,
    }


async def use():
    out = {}
    statuses = []
    async with http_client(statuses) as client:
        async with streamable_http_client(URL, http_client=client) as (read, write, session_id):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out["server"] = {"name": init.serverInfo.name, "version": init.serverInfo.version}
                out["protocol_version"] = init.protocolVersion
                out["instructions"] = init.instructions
                out["tools_capability"] = init.capabilities.tools is not None
                out["session_id"] = session_id()
                listed = await session.list_tools()
                out["tools"] = [
                    {"name": tool.name, "description": tool.description, "inputSchema": tool.inputSchema}
                    for tool in listed.tools
                ]
                out["ok"] = result(await session.call_tool("calculator__calculate", {"expression": "6*7"}))
                out["failed"] = result(await session.call_tool("calculator__calculate", {"expression": "1/0"}))
                try:
                    await session.call_tool("nothing__here", {})
                    out["unknown"] = "answered"
                except McpError as error:
                    out["unknown"] = {"code": error.error.code, "message": error.error.message}
    out["statuses"] = statuses
    print(json.dumps(out))


async def refused():
    statuses = []
    outcome = {"refused": False}
    try:
        with anyio.fail_after(30):
            async with http_client(statuses) as client:
                async with streamable_http_client(URL, http_client=client) as (read, write, _):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
    except BaseException as error:  # the transport's task group wraps it in a group
        outcome = {"refused": True, "error": repr(error)[:400]}
    outcome["statuses"] = statuses
    print(json.dumps(outcome))


anyio.run({"use": use, "refused": refused}[sys.argv[1]])
