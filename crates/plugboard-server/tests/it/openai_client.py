"""Drives Plugboard's OpenAI-compatible API with the official `openai` client and prints
what it got as JSON, for the Rust test to check."""

import json
import os

import openai

client = openai.OpenAI(base_url=os.environ["PLUGBOARD_BASE_URL"] + "/v1", api_key=os.environ["PLUGBOARD_TOKEN"])
result = {}

result["models"] = sorted(model.id for model in client.models.list())

reply = client.chat.completions.create(model="fixture/echo", messages=[{"role": "user", "content": "hi"}])
result["content"] = reply.choices[0].message.content
result["finish_reason"] = reply.choices[0].finish_reason
result["usage"] = reply.usage.completion_tokens

stream = client.chat.completions.create(
    model="fixture/echo",
    messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "stream please"}],
    stream=True,
    stream_options={"include_usage": True},
)
pieces = []
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
result["streamed"] = "".join(pieces)

# The common loop without usage: every chunk has a choice; the role comes once.
roles = []
plain = []
for chunk in client.chat.completions.create(
    model="fixture/echo", messages=[{"role": "user", "content": "again"}], stream=True
):
    delta = chunk.choices[0].delta
    if delta.role:
        roles.append(delta.role)
    if delta.content:
        plain.append(delta.content)
result["plain_stream"] = "".join(plain)
result["roles"] = roles

tools = [{"type": "function", "function": {"name": "lookup", "description": "Looks up", "parameters": {"type": "object"}}}]
called = client.chat.completions.create(
    model="fixture/echo", messages=[{"role": "user", "content": 'tool:lookup {"q": "x"}'}], tools=tools
)
call = called.choices[0].message.tool_calls[0]
result["tool_call"] = [call.function.name, call.function.arguments]

try:
    client.chat.completions.create(model="nowhere/none", messages=[{"role": "user", "content": "hi"}])
    result["unknown_model"] = "no error"
except openai.NotFoundError as error:
    result["unknown_model"] = error.code

try:
    openai.OpenAI(base_url=os.environ["PLUGBOARD_BASE_URL"] + "/v1", api_key="pb_wrong").models.list()
    result["bad_key"] = "no error"
except openai.AuthenticationError:
    result["bad_key"] = "refused"

print(json.dumps(result))
