// The state several studio modules write (the user, the open conversation); the rest stays in its own module.

const shared = {
  user: null,
  conversation: null, // the open conversation, or null for a new chat
};

export const currentUser = () => shared.user;

export function setUser(user) {
  shared.user = user;
}

export const currentConversation = () => shared.conversation;

// Only records it: conversations.js's setConversation() also retitles the page and tells
// the plugin frames; chat.js records the conversation a first message made before that.
export function setCurrentConversation(conversation) {
  shared.conversation = conversation;
}
