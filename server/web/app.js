// Demo chat client of `ccctl up`. No build step, no framework: it speaks docs/protocol.md v1 directly.
//
// Delivery rules it follows (protocol §2.4): dedupe messages by (conversation_id, seq); after every
// (re)connect send `resume` with the last seq seen per conversation before expecting live messages; on
// `reset` page the gap through REST; retry unacknowledged sends with the same client_msg_id.
"use strict";

const SESSION_KEY = "ccdemo.session";
const MAX_RENDERED = 300;
const TYPING_SEND_INTERVAL_MS = 2000;

const state = {
  session: null, // {token, app_id, user_id, login_user}
  conversations: new Map(), // id -> Conversation
  activeId: null,
  ws: null,
  connected: false, // hello seen and resume acknowledged: live delivery is on
  reconnectAttempt: 0,
  reconnectTimer: null,
  stopped: false,
  requestCounter: 0,
  pending: new Map(), // client_msg_id -> {conversation_id, body, request_id, sent}
  presence: new Map(), // user_id -> {status, last_seen_ms, frame}
  presenceFrames: 0, // presence frames seen: orders them against a snapshot fetched meanwhile
  typing: new Map(), // conversation_id -> Map(user_id -> expires_at_ms)
  typingSentAt: new Map(), // conversation_id -> ms
};

// ---- DOM helpers ----------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    // textContent only: user data never becomes markup.
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showError(where, error) {
  $(where).textContent = error ? String(error.message || error) : "";
}

// ---- REST ----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(`${body.code || status}: ${body.message || "request failed"}`);
    this.status = status;
    this.code = body.code;
    this.details = body.details;
  }
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.session) headers.Authorization = `Bearer ${state.session.token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch (_) {
    parsed = { code: "invalid_json", message: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

async function fetchAll(path) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 50; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const url = cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path;
    const result = await api("GET", url);
    items.push(...result.items);
    if (!result.next_cursor) break;
    cursor = result.next_cursor;
  }
  return items;
}

// ---- Login ---------------------------------------------------------------------------------------

async function login(userId) {
  showError("login-error", null);
  const result = await api("POST", "/demo/login", { user_id: userId });
  state.session = { ...result, login_user: userId };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(state.session));
  await start();
}

function logout() {
  state.stopped = true;
  if (state.ws) state.ws.close(1000, "logout");
  sessionStorage.removeItem(SESSION_KEY);
  location.search = "";
}

async function start() {
  state.stopped = false;
  $("login").hidden = true;
  $("chat").hidden = false;
  $("me-name").textContent = state.session.user_id;
  document.title = `${state.session.user_id} — ccplatform demo`;
  await loadConversations();
  connect();
}

// ---- Conversations -------------------------------------------------------------------------------

function conversationFor(view) {
  let conversation = state.conversations.get(view.conversation_id);
  if (!conversation) {
    conversation = {
      id: view.conversation_id,
      view,
      members: [],
      messages: new Map(), // seq -> MessageView
      lastSeq: view.last_seq || 0, // greatest seq seen (from the list, history or live)
      historyLoaded: false,
      receipts: new Map(), // user_id -> {delivered_seq, read_seq}
      unread: view.unread_count || 0,
    };
    state.conversations.set(view.conversation_id, conversation);
  } else {
    conversation.view = view;
    conversation.lastSeq = Math.max(conversation.lastSeq, view.last_seq || 0);
  }
  return conversation;
}

async function loadConversations() {
  const views = await fetchAll("/v1/conversations?limit=200");
  await Promise.all(
    views.map(async (view) => {
      const conversation = conversationFor(view);
      conversation.members = await fetchAll(`/v1/conversations/${view.conversation_id}/members?limit=200`);
    }),
  );
  renderConversations();
  if (state.activeId) renderActive();
}

function peerOf(conversation) {
  const peer = conversation.members.find((m) => m.user_id !== state.session.user_id);
  return peer ? peer.user_id : null;
}

function titleOf(conversation) {
  if (conversation.view.type === "direct") return peerOf(conversation) || "direct";
  return conversation.view.name || "group";
}

async function openConversation(id) {
  state.activeId = id;
  const conversation = state.conversations.get(id);
  $("composer-text").disabled = false;
  $("composer-send").disabled = false;
  renderConversations();
  renderActive();
  if (!conversation.historyLoaded) {
    // Latest page, newest first; later messages come live or by resume.
    const page = await api("GET", `/v1/conversations/${id}/messages?limit=100`);
    page.items.forEach(storeMessage);
    const receipts = await api("GET", `/v1/conversations/${id}/receipts`);
    for (const receipt of receipts.items || receipts) conversation.receipts.set(receipt.user_id, receipt);
    conversation.historyLoaded = true;
  }
  markRead(conversation);
  renderActive();
  $("composer-text").focus();
}

// What a message field means when the server leaves it out (protocol §2.3).
const MESSAGE_DEFAULTS = {
  parent_id: null,
  reply_count: 0,
  mentions: [],
  edited_at_ms: null,
  deleted: false,
};

// Stores a message (live, replayed, history or our own ack); returns true when it is new.
function storeMessage(received) {
  // `reactions` is copied: onReaction updates it in place.
  const message = { ...MESSAGE_DEFAULTS, ...received, reactions: { ...received.reactions } };
  let conversation = state.conversations.get(message.conversation_id);
  if (!conversation) return false;
  const known = conversation.messages.has(message.seq);
  conversation.messages.set(message.seq, message);
  conversation.lastSeq = Math.max(conversation.lastSeq, message.seq);
  if (message.sender_id === state.session.user_id) state.pending.delete(message.client_msg_id);
  return !known;
}

function markRead(conversation) {
  if (!conversation || conversation.lastSeq === 0) return;
  const mine = conversation.receipts.get(state.session.user_id);
  if (mine && mine.read_seq >= conversation.lastSeq) return;
  conversation.receipts.set(state.session.user_id, {
    user_id: state.session.user_id,
    delivered_seq: conversation.lastSeq,
    read_seq: conversation.lastSeq,
  });
  conversation.unread = 0;
  sendFrame({ op: "mark_read", id: nextRequestId(), conversation_id: conversation.id, seq: conversation.lastSeq });
}

async function createDirect(peerId) {
  const view = await api("POST", "/v1/conversations", { type: "direct", peer_id: peerId });
  await loadConversations();
  await openConversation(view.conversation_id);
}

async function createGroup(name, members) {
  const view = await api("POST", "/v1/conversations", {
    type: "group",
    name,
    visibility: "private",
    members,
    metadata: {},
  });
  await loadConversations();
  await openConversation(view.conversation_id);
}

// ---- WebSocket -----------------------------------------------------------------------------------

function nextRequestId() {
  state.requestCounter += 1;
  return `r${state.requestCounter}`;
}

function sendFrame(frame) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
  state.ws.send(JSON.stringify(frame));
  return true;
}

function setConnection(text, online) {
  const node = $("connection");
  node.textContent = text;
  node.classList.toggle("online", online);
}

function connect() {
  if (state.stopped) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/v1/ws?token=${encodeURIComponent(state.session.token)}&device=web`;
  const ws = new WebSocket(url);
  state.ws = ws;
  state.connected = false;
  setConnection("connecting…", false);
  ws.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    handleFrame(frame);
  };
  ws.onclose = (event) => onClose(ws, event);
}

function onClose(ws, event) {
  if (ws !== state.ws) return;
  state.connected = false;
  state.ws = null;
  if (state.stopped) return;
  let delayMs;
  switch (event.code) {
    case 4001:
      setConnection("session revoked", false);
      return;
    case 4003:
      // Token expired or user deactivated: a fresh demo token, then reconnect.
      setConnection("re-authenticating…", false);
      login(state.session.login_user).catch((error) => showError("chat-error", error));
      return;
    case 1012:
      delayMs = Math.random() * 5000; // drain: spread the reconnects (protocol §2.6)
      break;
    default: {
      // Full-jitter exponential backoff, capped at 30 s.
      const cap = Math.min(30000, 500 * 2 ** state.reconnectAttempt);
      delayMs = Math.random() * cap;
    }
  }
  state.reconnectAttempt += 1;
  setConnection(`reconnecting (${event.code})…`, false);
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = setTimeout(connect, delayMs);
}

function resumeCursors() {
  const cursors = {};
  for (const conversation of state.conversations.values()) cursors[conversation.id] = conversation.lastSeq;
  return cursors;
}

function handleFrame(frame) {
  switch (frame.op) {
    case "hello":
      sendFrame({ op: "resume", id: "resume", conversations: resumeCursors() });
      break;
    case "ack":
      onAck(frame);
      break;
    case "message":
      onMessage(frame.message);
      break;
    case "update":
      storeMessage(frame.message);
      if (frame.message.conversation_id === state.activeId) renderMessages();
      break;
    case "reaction":
      onReaction(frame);
      break;
    case "receipt":
      onReceipt(frame);
      break;
    case "typing":
      onTyping(frame);
      break;
    case "presence":
      state.presenceFrames += 1;
      state.presence.set(frame.user_id, {
        status: frame.status,
        last_seen_ms: frame.last_seen_ms,
        frame: state.presenceFrames,
      });
      renderConversations();
      renderMembers();
      break;
    case "membership":
      loadConversations().catch((error) => showError("chat-error", error));
      break;
    case "reset":
      onReset(frame).catch((error) => showError("chat-error", error));
      break;
    case "error":
      onErrorFrame(frame);
      break;
    default:
      break; // pong and future server ops
  }
}

// Who was online before we connected: presence frames only announce changes. A frame that arrives
// while the snapshot is in flight is newer than the snapshot, so it wins.
async function loadPresence() {
  const before = state.presenceFrames;
  const snapshot = await api("GET", "/v1/contacts/presence");
  for (const item of snapshot.items) {
    const known = state.presence.get(item.user_id);
    if (!known || known.frame <= before) {
      state.presence.set(item.user_id, { status: item.status, last_seen_ms: item.last_seen_ms, frame: before });
    }
  }
  renderConversations();
  renderMembers();
}

function onAck(frame) {
  if (frame.id === "resume") {
    state.connected = true;
    state.reconnectAttempt = 0;
    setConnection("online", true);
    flushPending();
    loadPresence().catch((error) => showError("chat-error", error));
    return;
  }
  if (frame.client_msg_id && state.pending.has(frame.client_msg_id)) {
    const pending = state.pending.get(frame.client_msg_id);
    state.pending.delete(frame.client_msg_id);
    // The ack may overtake our own echo; store the message so the sender sees it with its seq.
    storeMessage({
      id: frame.message_id,
      conversation_id: frame.conversation_id,
      seq: frame.seq,
      sender_id: state.session.user_id,
      client_msg_id: frame.client_msg_id,
      body: pending.body,
      created_at_ms: frame.server_time_ms,
    });
    if (frame.conversation_id === state.activeId) renderMessages();
  }
}

function onMessage(message) {
  if (!state.conversations.has(message.conversation_id)) {
    // A conversation we were just added to: fetch it, then the message is stored by the reload's history.
    loadConversations()
      .then(() => {
        storeMessage(message);
        renderConversations();
      })
      .catch((error) => showError("chat-error", error));
    return;
  }
  const conversation = state.conversations.get(message.conversation_id);
  const isNew = storeMessage(message);
  if (isNew && message.sender_id !== state.session.user_id) {
    clearTyping(message.conversation_id, message.sender_id);
    if (message.conversation_id === state.activeId && document.visibilityState === "visible") {
      markRead(conversation);
    } else {
      conversation.unread += 1;
      sendFrame({ op: "mark_delivered", id: nextRequestId(), conversation_id: conversation.id, seq: message.seq });
    }
  }
  renderConversations();
  if (message.conversation_id === state.activeId) renderMessages();
}

function onReaction(frame) {
  const conversation = state.conversations.get(frame.conversation_id);
  if (!conversation) return;
  for (const message of conversation.messages.values()) {
    if (message.id === frame.message_id) {
      if (frame.count > 0) message.reactions[frame.emoji] = frame.count;
      else delete message.reactions[frame.emoji];
    }
  }
  if (frame.conversation_id === state.activeId) renderMessages();
}

function onReceipt(frame) {
  const conversation = state.conversations.get(frame.conversation_id);
  if (!conversation) return;
  const previous = conversation.receipts.get(frame.user_id) || { delivered_seq: 0, read_seq: 0 };
  conversation.receipts.set(frame.user_id, {
    user_id: frame.user_id,
    delivered_seq: Math.max(previous.delivered_seq, frame.delivered_seq),
    read_seq: Math.max(previous.read_seq, frame.read_seq),
  });
  if (frame.conversation_id === state.activeId) renderMessages();
}

function onTyping(frame) {
  if (frame.user_id === state.session.user_id) return;
  let users = state.typing.get(frame.conversation_id);
  if (!users) {
    users = new Map();
    state.typing.set(frame.conversation_id, users);
  }
  if (frame.active) {
    users.set(frame.user_id, Date.now() + frame.expires_in_ms);
    setTimeout(renderTyping, frame.expires_in_ms + 50);
  } else {
    users.delete(frame.user_id);
  }
  renderTyping();
}

function clearTyping(conversationId, userId) {
  const users = state.typing.get(conversationId);
  if (users) users.delete(userId);
  renderTyping();
}

// A resume reached past the replay window: page the gap through REST, then carry on from latest_seq.
async function onReset(frame) {
  const conversation = state.conversations.get(frame.conversation_id);
  if (!conversation) return;
  let after = conversation.lastSeq;
  for (let page = 0; page < 100 && after < frame.latest_seq; page++) {
    const result = await api("GET", `/v1/conversations/${conversation.id}/messages?after_seq=${after}&limit=200`);
    result.items.forEach(storeMessage);
    if (!result.next_cursor || result.items.length === 0) break;
    after = Math.max(after, ...result.items.map((m) => m.seq));
  }
  conversation.lastSeq = Math.max(conversation.lastSeq, frame.latest_seq);
  renderConversations();
  if (conversation.id === state.activeId) renderMessages();
}

function onErrorFrame(frame) {
  for (const [clientMsgId, pending] of state.pending) {
    if (pending.request_id !== frame.id) continue;
    if (frame.code === "rate_limited") {
      const retry = (frame.details && frame.details.retry_after_ms) || 1000;
      setTimeout(() => sendPending(clientMsgId), retry);
      return;
    }
    state.pending.delete(clientMsgId);
  }
  showError("chat-error", `${frame.code}: ${frame.message}`);
  if (state.activeId) renderMessages();
}

// ---- Sending -------------------------------------------------------------------------------------

function newClientMsgId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function sendText(text) {
  const conversationId = state.activeId;
  if (!conversationId || !text.trim()) return;
  const clientMsgId = newClientMsgId();
  state.pending.set(clientMsgId, {
    conversation_id: conversationId,
    body: { type: "text", text },
    request_id: null,
  });
  sendPending(clientMsgId);
  sendFrame({ op: "typing", conversation_id: conversationId, active: false });
  state.typingSentAt.delete(conversationId);
  renderMessages();
}

// Sends (or re-sends, same client_msg_id) one pending message when live; otherwise it waits for resume.
function sendPending(clientMsgId) {
  const pending = state.pending.get(clientMsgId);
  if (!pending || !state.connected) return;
  pending.request_id = nextRequestId();
  sendFrame({
    op: "send",
    id: pending.request_id,
    conversation_id: pending.conversation_id,
    client_msg_id: clientMsgId,
    body: pending.body,
  });
}

function flushPending() {
  for (const clientMsgId of state.pending.keys()) sendPending(clientMsgId);
}

function onComposerInput() {
  const conversationId = state.activeId;
  if (!conversationId || !state.connected) return;
  const now = Date.now();
  // The server broadcasts at most one typing per 2 s; sending more often only costs bandwidth.
  if (now - (state.typingSentAt.get(conversationId) || 0) < TYPING_SEND_INTERVAL_MS) return;
  state.typingSentAt.set(conversationId, now);
  sendFrame({ op: "typing", conversation_id: conversationId, active: true });
}

// ---- Rendering -----------------------------------------------------------------------------------

function presenceDot(userId) {
  const presence = state.presence.get(userId);
  const online = presence && presence.status === "online";
  const title = presence
    ? online
      ? "online"
      : `last seen ${new Date(presence.last_seen_ms).toLocaleString()}`
    : "presence unknown";
  return el("span", { className: online ? "dot online" : "dot", title, "data-presence": online ? "online" : "offline" });
}

function renderConversations() {
  const list = $("conversations");
  const items = [...state.conversations.values()].sort((a, b) => titleOf(a).localeCompare(titleOf(b)));
  list.replaceChildren(
    ...items.map((conversation) => {
      const peer = conversation.view.type === "direct" ? peerOf(conversation) : null;
      return el(
        "li",
        {
          className: conversation.id === state.activeId ? "active" : "",
          "data-conversation": conversation.id,
          "data-type": conversation.view.type,
          "data-peer": peer,
          "data-name": titleOf(conversation),
          onclick: () => openConversation(conversation.id).catch((error) => showError("chat-error", error)),
        },
        peer ? presenceDot(peer) : el("span", { className: "dot" }),
        el("span", { className: "name" }, conversation.view.type === "group" ? `# ${titleOf(conversation)}` : titleOf(conversation)),
        conversation.unread > 0 ? el("span", { className: "unread", "data-testid": "unread" }, conversation.unread) : null,
      );
    }),
  );
}

function renderMembers() {
  const conversation = state.conversations.get(state.activeId);
  if (!conversation) return;
  $("members").replaceChildren(
    ...conversation.members.map((member) =>
      el("span", { "data-member": member.user_id }, presenceDot(member.user_id), member.user_id, member.role !== "member" ? ` (${member.role})` : ""),
    ),
  );
}

// "sent" / "delivered" / "read" for a direct chat; "read by n/m" in a group.
function receiptLabel(conversation, message) {
  const others = conversation.members.filter((m) => m.user_id !== state.session.user_id);
  if (others.length === 0) return "sent";
  let read = 0;
  let delivered = 0;
  for (const member of others) {
    const receipt = conversation.receipts.get(member.user_id);
    if (!receipt) continue;
    if (receipt.read_seq >= message.seq) read += 1;
    if (Math.max(receipt.delivered_seq, receipt.read_seq) >= message.seq) delivered += 1;
  }
  if (conversation.view.type === "direct") return read > 0 ? "read" : delivered > 0 ? "delivered" : "sent";
  return `read by ${read}/${others.length}`;
}

function bodyText(body) {
  switch (body.type) {
    case "text":
      return body.text;
    case "custom":
      return JSON.stringify(body.data);
    case "media":
      return `[${body.mime_type}] ${body.url}${body.caption ? ` — ${body.caption}` : ""}`;
    case "deleted":
      return "message deleted";
    default:
      return `[${body.type}]`;
  }
}

function renderMessages() {
  const conversation = state.conversations.get(state.activeId);
  const list = $("messages");
  if (!conversation) {
    list.replaceChildren();
    return;
  }
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const messages = [...conversation.messages.values()].sort((a, b) => a.seq - b.seq).slice(-MAX_RENDERED);
  const rows = messages.map((message) => {
    const mine = message.sender_id === state.session.user_id;
    const reactions = Object.entries(message.reactions || {}).map(([emoji, count]) => `${emoji} ${count}`);
    return el(
      "li",
      {
        className: `message${mine ? " mine" : ""}${message.deleted ? " deleted" : ""}`,
        "data-seq": message.seq,
        "data-sender": message.sender_id,
      },
      el(
        "div",
        { className: "meta" },
        el("span", {}, message.sender_id),
        el("span", {}, `#${message.seq}`),
        el("span", {}, new Date(message.created_at_ms).toLocaleTimeString()),
        message.edited_at_ms ? el("span", {}, "edited") : null,
        mine ? el("span", { "data-testid": "receipt" }, receiptLabel(conversation, message)) : null,
      ),
      el("div", { className: "text" }, bodyText(message.body)),
      reactions.length ? el("div", { className: "meta" }, reactions.join("  ")) : null,
    );
  });
  for (const [clientMsgId, pending] of state.pending) {
    if (pending.conversation_id !== conversation.id) continue;
    rows.push(
      el(
        "li",
        { className: "message mine pending", "data-client-msg-id": clientMsgId },
        el("div", { className: "meta" }, el("span", {}, "sending…")),
        el("div", { className: "text" }, bodyText(pending.body)),
      ),
    );
  }
  list.replaceChildren(...rows);
  if (nearBottom) list.scrollTop = list.scrollHeight;
}

function renderTyping() {
  const now = Date.now();
  const users = state.typing.get(state.activeId);
  const active = users ? [...users].filter(([, expires]) => expires > now).map(([user]) => user) : [];
  $("typing").textContent = active.length ? `${active.join(", ")} ${active.length > 1 ? "are" : "is"} typing…` : "";
}

function renderActive() {
  const conversation = state.conversations.get(state.activeId);
  $("conversation-title").textContent = conversation ? titleOf(conversation) : "Pick a conversation";
  renderMembers();
  renderMessages();
  renderTyping();
}

// ---- Wiring --------------------------------------------------------------------------------------

function wire() {
  for (const button of document.querySelectorAll("#demo-users button")) {
    button.addEventListener("click", () => login(button.dataset.user).catch((error) => showError("login-error", error)));
  }
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = $("login-user").value.trim();
    if (user) login(user).catch((error) => showError("login-error", error));
  });
  $("logout").addEventListener("click", logout);
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("composer-text");
    sendText(input.value);
    input.value = "";
  });
  $("composer-text").addEventListener("input", onComposerInput);
  $("new-direct").addEventListener("submit", (event) => {
    event.preventDefault();
    const peer = $("new-direct-peer").value.trim();
    if (peer) createDirect(peer).catch((error) => showError("chat-error", error));
  });
  $("new-group").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("new-group-name").value.trim();
    const members = $("new-group-members")
      .value.split(",")
      .map((m) => m.trim())
      .filter(Boolean);
    if (name) createGroup(name, members).catch((error) => showError("chat-error", error));
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") markRead(state.conversations.get(state.activeId));
  });
}

async function boot() {
  wire();
  const wanted = new URLSearchParams(location.search).get("user");
  const saved = sessionStorage.getItem(SESSION_KEY);
  try {
    if (saved) {
      const session = JSON.parse(saved);
      if (!wanted || session.login_user === wanted) {
        state.session = session;
        await start();
        return;
      }
    }
    if (wanted) await login(wanted);
  } catch (error) {
    // A stale saved token (server data reset, expiry): back to the login screen.
    sessionStorage.removeItem(SESSION_KEY);
    state.session = null;
    $("login").hidden = false;
    $("chat").hidden = true;
    showError("login-error", error);
  }
}

// Read-only view for tests and curious developers (browser console: ccDemo.state).
window.ccDemo = { state, openConversation, sendText };

boot();
