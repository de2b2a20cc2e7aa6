// The live feed (GET /api/events): what changes in the signed-in person's conversations, as it happens.
//
// The server tells this page of conversations created, changed and deleted, and of messages
// posted (by the person in another tab, the model, or a plugin such as a webhook), edited and
// deleted. app.js hands each event to chat.js and conversations.js. The browser's EventSource
// reconnects by itself after a dropped connection; when the server refuses or is gone, this
// module tries again, waiting longer each time, unless the session has ended (the server
// ends the feed of a session signed out elsewhere): then the page asks to sign in. Events are not replayed, so after every
// reconnection (and when the server says events were missed) the page reads again what it
// shows. `document.body.dataset.live` says where the feed stands: "connected" or "reconnecting".

const EVENTS = [
  "conversation_created",
  "conversation_changed",
  "conversation_deleted",
  "message_posted",
  "message_edited",
  "message_deleted",
  "tool_approval",
];

const live = {
  source: null, // the EventSource, while signed in
  retryTimer: undefined,
  failures: 0, // reconnections in a row that failed, for the wait before the next
  connected: false, // whether this sign-in's feed was connected before (then `ready` means "read again")
  generation: 0, // counts connectLive() and disconnectLive(), so a late retry of an older feed does nothing
};

// What the events do (app.js sets them, so this module imports nothing of the studio).
const hooks = { event: () => {}, resync: () => {}, signedOut: () => {} };

export function onLiveEvent(callback) {
  hooks.event = callback;
}

// After a reconnection or missed events: read again what the page shows.
export function onLiveResync(callback) {
  hooks.resync = callback;
}

// The session ended (signed out in another tab, expired).
export function onLiveSignedOut(callback) {
  hooks.signedOut = callback;
}

function setStatus(status) {
  document.body.dataset.live = status;
}

function open() {
  const source = new EventSource("/api/events");
  live.source = source;
  source.addEventListener("ready", () => {
    live.failures = 0;
    setStatus("connected");
    if (live.connected) hooks.resync();
    live.connected = true;
  });
  source.addEventListener("lagged", () => hooks.resync());
  for (const name of EVENTS) {
    source.addEventListener(name, (event) => hooks.event(name, JSON.parse(event.data)));
  }
  source.addEventListener("error", () => {
    setStatus("reconnecting");
    // CONNECTING: the browser reconnects by itself. CLOSED: it gave up (an error status).
    if (source.readyState !== EventSource.CLOSED || live.source !== source) return;
    live.source = null;
    live.failures += 1;
    const wait = Math.min(30_000, 1000 * 2 ** Math.min(live.failures - 1, 5));
    live.retryTimer = setTimeout(retry, wait);
  });
}

// Connects again while the session lasts; a server that cannot say is tried again later.
async function retry() {
  const generation = live.generation;
  const signedIn = await fetch("/api/session")
    .then((response) => response.json())
    .then(({ user }) => Boolean(user), () => true);
  if (generation !== live.generation) return;
  if (signedIn) {
    open();
  } else {
    disconnectLive();
    hooks.signedOut();
  }
}

// Starts the feed for the person now signed in (again: a former feed is closed first).
export function connectLive() {
  disconnectLive();
  live.connected = false;
  live.failures = 0;
  open();
}

// Stops the feed (signed out).
export function disconnectLive() {
  live.generation += 1;
  clearTimeout(live.retryTimer);
  live.source?.close();
  live.source = null;
  delete document.body.dataset.live;
}
