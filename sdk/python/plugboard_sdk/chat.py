"""Conversations, messages, users and files. Each function needs the permission it names
and raises `HostError` when the host refuses or fails. A call made for a user (its call
context names one) sees only that user's conversations, messages and files."""

from __future__ import annotations

from typing import Union

from . import _host
from .types import Conversation, File, Message, User


def get_conversation(id: str) -> Conversation:
    """A conversation. Needs `channels.read`."""
    return _host.current("chat.get_conversation").get_conversation(id)


def create_conversation(user_id: str, title: str) -> Conversation:
    """Creates a conversation owned by `user_id`. Needs `channels.write`."""
    return _host.current("chat.create_conversation").create_conversation(user_id, title)


def list_messages(conversation_id: str, limit: int = 50) -> list[Message]:
    """The newest `limit` messages of a conversation, oldest first. Needs `messages.read`."""
    return _host.current("chat.list_messages").list_messages(conversation_id, limit)


def post_message(conversation_id: str, content: str) -> Message:
    """Posts a message authored by this plugin and returns it. Needs `messages.write`."""
    return _host.current("chat.post_message").post_message(conversation_id, content)


def edit_message(message_id: str, content: str) -> Message:
    """Replaces the content of one of this plugin's messages. Needs `messages.write`."""
    return _host.current("chat.edit_message").edit_message(message_id, content)


def delete_message(message_id: str) -> None:
    """Deletes one of this plugin's messages. Needs `messages.write`."""
    _host.current("chat.delete_message").delete_message(message_id)


def get_user(id: str) -> User:
    """A user. Needs `users.read`."""
    return _host.current("chat.get_user").get_user(id)


def read_file(id: str) -> File:
    """A file attachment with its contents. Needs `files.read`."""
    return _host.current("chat.read_file").read_file(id)


def write_file(conversation_id: str, name: str, media_type: str, data: Union[bytes, str]) -> str:
    """Attaches a file to a conversation and returns its id. Needs `files.write`."""
    payload = data.encode() if isinstance(data, str) else bytes(data)
    return _host.current("chat.write_file").write_file(conversation_id, name, media_type, payload)
