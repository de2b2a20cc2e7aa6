"""Calls a tool of an MCP server with the official Python SDK, directly, and prints each
call's time in microseconds as JSON: the baseline Plugboard's client is measured against.

    python direct_client.py stdio <calls> <command> <args...>
    python direct_client.py http <calls> <url>
"""

import asyncio
import json
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client

WARM_UP = 20


async def measure(session: ClientSession, calls: int) -> list[float]:
    await session.initialize()
    for _ in range(WARM_UP):
        await session.call_tool("echo", {"message": "warm"})
    times = []
    for index in range(calls):
        started = time.perf_counter_ns()
        result = await session.call_tool("echo", {"message": f"call {index}"})
        times.append((time.perf_counter_ns() - started) / 1000)
        assert not result.isError, result
    return times


async def main() -> None:
    mode, calls = sys.argv[1], int(sys.argv[2])
    if mode == "stdio":
        params = StdioServerParameters(command=sys.argv[3], args=sys.argv[4:])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                times = await measure(session, calls)
    else:
        async with streamablehttp_client(sys.argv[3]) as (read, write, _):
            async with ClientSession(read, write) as session:
                times = await measure(session, calls)
    print(json.dumps(times))


asyncio.run(main())
