"""Python weather: seed 004's `MessageHandler` (PlexiChat's plugin guide) on Plugboard.
A user's message containing `!weather <place>` is answered in the same conversation with
`Weather: <temperature>°C, <description>`, fetched from the weather API of the setting
`weather_url` (`<weather_url>?location=<place>`).

The seed's pieces map onto the ABI as:
- `on_message_received(event)`            -> `on_message_received(context, message)`
- `aiohttp ... session.get(url)`          -> `http.get(url)` (permission `network`, the
                                              API's host in `[network] allowed_hosts`)
- `send_message(channel_id=..., content)` -> `chat.post_message(conversation_id, content)`
                                              (permission `messages.write`)
"""

from urllib.parse import quote

from plugboard_sdk import HostError, Plugin, export, chat, http, log

TRIGGER = "!weather"


def requested_place(content: str, default: str) -> str | None:
    """The place asked for after `!weather` on its line (`default` when none is named),
    or None when the message does not ask."""
    at = content.find(TRIGGER)
    if at < 0:
        return None
    place = content[at + len(TRIGGER) :].split("\n", 1)[0].strip()
    return place or default


def describe(data: dict) -> str:
    """The answer for the API's JSON, as the seed wrote it."""
    return f"{data['temperature']}°C, {data['description']}"


class MessageHandler(Plugin):
    """Handles incoming messages."""

    def __init__(self, settings):
        super().__init__(settings)
        self.weather_url = settings.get("weather_url", "https://api.weather.com/v1/current")
        self.default_location = settings.get("default_location", "New York")

    def on_message_received(self, context, message):
        place = requested_place(message.content, self.default_location)
        if place is None:
            return
        answer = f"Weather: {self.get_weather(place)}"
        try:
            chat.post_message(message.conversation_id, answer)
        except HostError as error:
            log.error(f"cannot post the weather for {place} into {message.conversation_id}: {error.message}")

    def get_weather(self, place: str) -> str:
        """The weather at `place`, or a short apology (the reason goes to the log)."""
        url = f"{self.weather_url}?location={quote(place)}"
        try:
            response = http.get(url)
        except HostError as error:
            log.warn(f"weather API unreachable for {place}: {error.kind.value}: {error.message}")
            return f"not available for {place} right now"
        if not response.ok:
            log.warn(f"weather API answered {response.status} for {place}: {response.text()[:200]}")
            return f"unknown for {place}" if response.status == 404 else f"not available for {place} right now"
        try:
            return describe(response.json())
        except (ValueError, KeyError, TypeError) as error:
            log.warn(f"weather API sent an unexpected answer for {place}: {error!r}")
            return f"not available for {place} right now"


export(MessageHandler)
