// The chat studio's entry (index.html loads it): imports its parts, connects their hooks and calls start().
//
// The studio is plain JavaScript modules served by the binary, no build step; every call
// goes to the same JSON API as any other client, with the session cookie. Each module
// wires its own part of the page when imported. Where a module must reach one that imports
// it, it offers a hook instead of importing back; the hooks are all set here, so the
// imports have no cycle:
//   dom.js, state.js, live.js: nothing api.js, theme.js: dom
//   auth.js: dom, api, state           plugin-frames.js: dom, state, theme
//   settings-form.js: api              chat.js: dom, api, state, plugin-frames, markdown, approvals
//   approvals.js: dom, api, state
//   conversations.js: dom, api, state, chat, plugin-frames
//   plugins-admin.js: dom, api, chat, plugin-frames, settings-form, markdown
//   users-admin.js: dom, api, state, plugin-frames
//   mcp-admin.js: dom, api, plugin-frames

import { $ } from "/ui/dom.js";
import { api, guard, onUnauthorized } from "/ui/api.js";
import { setUser } from "/ui/state.js";
import { setupThemeToggle } from "/ui/theme.js";
import { onSignedIn, showAuth } from "/ui/auth.js";
import { broadcastTheme, onInsertText, onMountsChanged } from "/ui/plugin-frames.js";
import { insertText, liveMessage, loadCommands, loadModels, messageActionsChanged, onConversationStarted } from "/ui/chat.js";
import { adoptConversation, liveConversation, loadConversations, newChat, reloadOpen } from "/ui/conversations.js";
import { liveApproval, loadApprovals } from "/ui/approvals.js";
import { connectLive, disconnectLive, onLiveEvent, onLiveResync, onLiveSignedOut } from "/ui/live.js";
import "/ui/plugins-admin.js";
import "/ui/users-admin.js";
import "/ui/mcp-admin.js";

setupThemeToggle(broadcastTheme); // plugin frames follow the page's theme
onUnauthorized(() => {
  disconnectLive();
  showAuth(false); // an expired session asks to sign in again
});
$("logout").addEventListener("click", disconnectLive);
onSignedIn(start);
onConversationStarted(adoptConversation); // a first message's new conversation is listed
onMountsChanged(messageActionsChanged); // messages get the new message-action buttons
onInsertText(insertText); // a plugin frame's text goes into the message being written
onLiveEvent((name, data) => {
  liveConversation(name, data); // the list, the open conversation's title
  liveMessage(name, data); // the open conversation's messages
  liveApproval(name, data); // tool calls waiting for the person, and their decisions
});
onLiveResync(() => {
  guard(reloadOpen); // after a reconnection, read again what is shown
  guard(loadApprovals);
});
onLiveSignedOut(() => showAuth(false)); // the session ended elsewhere

async function start() {
  const { user } = await api("GET", "/api/session");
  if (!user) {
    showAuth(false);
    return;
  }
  setUser(user);
  $("auth").hidden = true;
  $("studio").hidden = false;
  $("me").textContent = user.is_admin ? `${user.username} (admin)` : user.username;
  $("open-admin").hidden = !user.is_admin;
  $("open-users").hidden = !user.is_admin;
  $("open-mcp").hidden = !user.is_admin;
  connectLive();
  newChat();
  await Promise.all([guard(loadConversations), guard(loadModels), guard(loadCommands)]);
}

start();
