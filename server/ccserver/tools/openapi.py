#!/usr/bin/env python3
"""Writes docs/openapi.json (OpenAPI 3.1) for the ccserver REST API.

The route list mirrors `api_routes()` and `common_routes()` in server/ccserver/src/api/mod.rs;
`server/ccserver/tests/openapi.rs` fails when the router and this document disagree.
Run from the repository root: python3 server/ccserver/tools/openapi.py
"""
import json
import pathlib

def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}

def obj(required, **props):
    return {"type": "object", "required": list(required), "properties": props, "additionalProperties": False}

S = {"type": "string"}
I = {"type": "integer", "format": "int64"}
B = {"type": "boolean"}
ANY = {}
META = {"type": "object"}
OPT_S = {"type": ["string", "null"]}
OPT_I = {"type": ["integer", "null"], "format": "int64"}

def page(item):
    return {"type": "object", "required": ["items", "next_cursor"], "properties": {"items": {"type": "array", "items": ref(item)}, "next_cursor": OPT_S}}

schemas = {
    "Error": obj(["code", "message", "details"], code={"type": "string", "enum": [
        "invalid_json", "unknown_op", "missing_field", "invalid_field", "text_too_long", "unauthorized", "token_expired",
        "forbidden", "origin_not_allowed", "not_found", "conflict", "idempotency_conflict", "rate_limited", "internal", "unavailable"]},
        message=S, details={"type": "object"}),
    "CreateApp": obj(["name"], name=S),
    "AppCreated": obj(["app_id", "name", "api_key"], app_id=S, name=S, api_key=ref("ApiKeyCreated")),
    "CreateApiKey": obj([], label=S),
    "ApiKeyView": obj(["key_id", "label", "created_at_ms", "revoked_at_ms"], key_id=S, label=S, created_at_ms=I, revoked_at_ms=OPT_I),
    "ApiKeyCreated": obj(["key_id", "label", "api_key", "created_at_ms"], key_id=S, label=S, api_key=S, created_at_ms=I),
    "CreateUser": obj(["user_id"], user_id={"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$"}, name=S, metadata=META),
    "UpdateUser": obj([], name=S, metadata=META),
    "UserView": obj(["user_id", "name", "metadata", "active", "created_at_ms"], user_id=S, name=S, metadata=META, active=B, created_at_ms=I),
    "MintToken": obj([], ttl_secs={"type": "integer", "minimum": 1, "maximum": 86400}),
    "TokenMinted": obj(["token", "expires_at_ms", "kid"], token=S, expires_at_ms=I, kid=S),
    "SessionView": obj(["session_id", "user_id", "device", "connected_at_ms"], session_id=S, user_id=S, device=S, connected_at_ms=I),
    "Visibility": {"type": "string", "enum": ["public", "private", "password"]},
    "CreateConversation": {"oneOf": [
        obj(["type", "peer_id"], type={"const": "direct"}, peer_id=S),
        obj(["type", "name", "visibility"], type={"const": "group"}, name=S, visibility=ref("Visibility"), password=OPT_S,
            members={"type": "array", "items": S}, metadata=META)]},
    "UpdateConversation": obj([], name=S, metadata=META, visibility=ref("Visibility"), password=OPT_S),
    "ConversationView": obj(["conversation_id", "type", "name", "visibility", "metadata", "member_count", "last_seq", "created_at_ms"],
        conversation_id=S, type={"type": "string", "enum": ["direct", "group"]}, name=S, visibility=ref("Visibility"), metadata=META,
        member_count=I, last_seq=I, created_at_ms=I, role=OPT_S, read_seq=OPT_I, unread_count=OPT_I),
    "MemberView": obj(["user_id", "role", "joined_at_ms"], user_id=S, role={"type": "string", "enum": ["owner", "admin", "moderator", "member"]}, joined_at_ms=I),
    "AddMember": obj(["user_id"], user_id=S, role=S),
    "ChangeRole": obj(["role"], role=S),
    "BanMember": obj(["user_id"], user_id=S),
    "JoinConversation": obj([], password=OPT_S),
    "MessageBody": {"oneOf": [
        obj(["type", "text"], type={"const": "text"}, text=S),
        obj(["type", "data"], type={"const": "custom"}, data=ANY),
        obj(["type", "url", "mime_type", "size"], type={"const": "media"}, url=S, mime_type=S, size=I, caption=S),
        obj(["type"], type={"const": "deleted"})]},
    # Fields at their default are left out of a message (docs/protocol.md §2.3); `default` says what a
    # missing one means.
    "Message": obj(["id", "conversation_id", "seq", "sender_id", "client_msg_id", "body", "created_at_ms"],
        id=S, conversation_id=S, seq=I, sender_id=S, client_msg_id=S, body=ref("MessageBody"),
        parent_id={**OPT_S, "default": None}, reply_count={**I, "default": 0},
        mentions={"type": "array", "items": S, "default": []},
        reactions={"type": "object", "additionalProperties": I, "default": {}}, created_at_ms=I,
        edited_at_ms={**OPT_I, "default": None}, deleted={**B, "default": False}),
    "SendMessage": obj(["client_msg_id", "body"], client_msg_id=S, body=ref("MessageBody"), parent_id=OPT_S, mentions={"type": "array", "items": S}),
    "MessageSent": obj(["message", "duplicate"], message=ref("Message"), duplicate=B),
    "EditMessage": obj(["body"], body=ref("MessageBody")),
    "AddReaction": obj(["emoji"], emoji=S),
    "UpdateReceipts": obj([], delivered_seq=OPT_I, read_seq=OPT_I),
    "ReceiptView": obj(["user_id", "delivered_seq", "read_seq"], user_id=S, delivered_seq=I, read_seq=I),
    "DemoLogin": obj(["user_id"], user_id=S),
    "PresenceView": obj(["user_id", "status", "last_seen_ms"], user_id=S, status={"type": "string", "enum": ["online", "offline"]}, last_seen_ms=OPT_I),
    "DemoToken": obj(["token", "app_id", "user_id"], token=S, app_id=S, user_id=S),
}
for name in ["ApiKeyView", "UserView", "SessionView", "PresenceView", "ConversationView", "MemberView", "Message", "ReceiptView"]:
    schemas[f"Page{name}"] = page(name)

ERRORS = {str(code): {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
          for code, text in [(400, "invalid input"), (401, "missing or invalid credential"), (403, "not allowed"),
                             (404, "not found in this app"), (409, "conflict"), (413, "text too long"), (429, "rate limited"),
                             (500, "internal error"), (503, "unavailable")]}

def json_response(status, schema, description="ok"):
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}}

def no_content():
    return {"204": {"description": "done"}}

def op(summary, security, responses, body=None, params=(), tag="chat"):
    operation = {"summary": summary, "tags": [tag], "responses": {**responses, **ERRORS}}
    operation["security"] = [{s: []} for s in security]
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    if params:
        operation["parameters"] = list(params)
    return operation

def path_param(name):
    return {"name": name, "in": "path", "required": True, "schema": S}

def query(name, schema=S, description=""):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

PAGE = [query("limit", {"type": "integer", "minimum": 1, "maximum": 200}), query("cursor")]
K, U, A = "apiKey", "userToken", "adminToken"
C = path_param("conversation_id")
M = path_param("message_id")

paths = {
    "/v1/apps": {"post": op("Create an app and its first API key", [A], json_response("201", ref("AppCreated"), "created"), "CreateApp", tag="apps")},
    "/v1/api-keys": {
        "get": op("List the app's API keys (no secrets)", [K], json_response("200", ref("PageApiKeyView")), tag="apps"),
        "post": op("Create an API key; the secret is shown once", [K], json_response("201", ref("ApiKeyCreated"), "created"), "CreateApiKey", tag="apps")},
    "/v1/api-keys/{key_id}": {"delete": op("Revoke an API key", [K], no_content(), params=[path_param("key_id")], tag="apps")},
    "/v1/users": {
        "get": op("List users", [K], json_response("200", ref("PageUserView")), params=PAGE, tag="users"),
        "post": op("Create a user", [K], json_response("201", ref("UserView"), "created"), "CreateUser", tag="users")},
    "/v1/users/{user_id}": {
        "get": op("Get a user", [K, U], json_response("200", ref("UserView")), params=[path_param("user_id")], tag="users"),
        "patch": op("Update a user (a user may update themselves)", [K, U], json_response("200", ref("UserView")), "UpdateUser", [path_param("user_id")], tag="users")},
    "/v1/users/{user_id}/deactivate": {"post": op("Deactivate a user and close their sessions", [K], no_content(), params=[path_param("user_id")], tag="users")},
    "/v1/users/{user_id}/tokens": {"post": op("Mint a user token (EdDSA JWT); body optional", [K], json_response("201", ref("TokenMinted"), "created"), params=[path_param("user_id")], tag="users")},
    "/v1/users/{user_id}/sessions": {"get": op("A user's live sessions", [K], json_response("200", ref("PageSessionView")), params=[path_param("user_id")], tag="sessions")},
    "/v1/users/{user_id}/presence": {"get": op("A user's status, aggregated over their devices", [K], json_response("200", ref("PresenceView")), params=[path_param("user_id")], tag="sessions")},
    "/v1/me": {"get": op("The calling user", [U], json_response("200", ref("UserView")), tag="users")},
    "/v1/contacts/presence": {"get": op("The status of everyone sharing a conversation with the caller (at most 1,000): the snapshot that presence frames then keep current", [U], json_response("200", ref("PagePresenceView")), tag="sessions")},
    "/v1/sessions": {"get": op("The caller's live sessions", [U], json_response("200", ref("PageSessionView")), tag="sessions")},
    "/v1/sessions/{session_id}": {"delete": op("Revoke a session; its connection closes with 4001", [K, U], no_content(), params=[path_param("session_id")], tag="sessions")},
    "/v1/conversations": {
        "get": op("The caller's conversations with unread counts", [U], json_response("200", ref("PageConversationView")), params=PAGE),
        "post": op("Create a direct (one per pair) or group conversation", [U], json_response("201", ref("ConversationView"), "created"), "CreateConversation")},
    "/v1/conversations/{conversation_id}": {
        "get": op("Get a conversation (members)", [U], json_response("200", ref("ConversationView")), params=[C]),
        "patch": op("Update a group (admin+)", [U], json_response("200", ref("ConversationView")), "UpdateConversation", [C])},
    "/v1/conversations/{conversation_id}/members": {
        "get": op("Members, paged by user id", [U], json_response("200", ref("PageMemberView")), params=[C, *PAGE]),
        "post": op("Add a member (admin+)", [U], no_content(), "AddMember", [C])},
    "/v1/conversations/{conversation_id}/members/{user_id}": {
        "patch": op("Change a member's role (admin+; owner hands over ownership)", [U], no_content(), "ChangeRole", [C, path_param("user_id")]),
        "delete": op("Kick a member of a lower role (moderator+)", [U], no_content(), params=[C, path_param("user_id")])},
    "/v1/conversations/{conversation_id}/bans": {"post": op("Ban a user (moderator+)", [U], no_content(), "BanMember", [C])},
    "/v1/conversations/{conversation_id}/bans/{user_id}": {"delete": op("Unban (moderator+)", [U], no_content(), params=[C, path_param("user_id")])},
    "/v1/conversations/{conversation_id}/join": {"post": op("Join a public group, or a password group with its password; body optional", [U], no_content(), params=[C])},
    "/v1/conversations/{conversation_id}/leave": {"post": op("Leave a group", [U], no_content(), params=[C])},
    "/v1/conversations/{conversation_id}/messages": {
        "get": op("History by seq: after_seq ascending, or before_seq descending (default: latest)", [U], json_response("200", ref("PageMessage")),
                  params=[C, query("after_seq", I), query("before_seq", I), query("limit", {"type": "integer", "minimum": 1, "maximum": 200})]),
        "post": op("Send (idempotent by client_msg_id)", [U], {**json_response("201", ref("MessageSent"), "created"), **json_response("200", ref("MessageSent"), "duplicate of an earlier send")}, "SendMessage", [C])},
    "/v1/conversations/{conversation_id}/messages/{message_id}": {
        "patch": op("Edit (author)", [U], json_response("200", ref("Message")), "EditMessage", [C, M]),
        "delete": op("Delete as tombstone (author or moderator+)", [U], json_response("200", ref("Message")), params=[C, M])},
    "/v1/conversations/{conversation_id}/messages/{message_id}/replies": {
        "get": op("Thread replies by seq", [U], json_response("200", ref("PageMessage")), params=[C, M, query("after_seq", I), query("limit", {"type": "integer"})])},
    "/v1/conversations/{conversation_id}/messages/{message_id}/reactions": {"post": op("Add the caller's reaction", [U], no_content(), "AddReaction", [C, M])},
    "/v1/conversations/{conversation_id}/messages/{message_id}/reactions/{emoji}": {"delete": op("Remove the caller's reaction", [U], no_content(), params=[C, M, path_param("emoji")])},
    "/v1/conversations/{conversation_id}/receipts": {
        "get": op("Every member's delivered and read cursors", [U], json_response("200", ref("PageReceiptView")), params=[C]),
        "post": op("Move the caller's cursors forward", [U], json_response("200", ref("ReceiptView")), "UpdateReceipts", [C])},
    "/v1/ws": {"get": {"summary": "WebSocket upgrade (protocol in docs/protocol.md); token as ?token= or Authorization", "tags": ["realtime"],
                       "parameters": [query("token"), query("device")],
                       "responses": {"101": {"description": "switching protocols"}, **ERRORS}}},
    "/healthz": {"get": {"summary": "Liveness", "tags": ["ops"], "responses": {"200": {"description": "ok"}}}},
    "/readyz": {"get": {"summary": "Readiness (503 while starting or draining)", "tags": ["ops"], "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["ops"], "responses": {"200": {"description": "text exposition format"}}}},
    "/v1/openapi.json": {"get": {"summary": "This document", "tags": ["ops"], "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    "/demo/login": {"post": {"summary": "Demo mode only: a token for a demo user", "tags": ["demo"],
                             "requestBody": {"required": True, "content": {"application/json": {"schema": ref("DemoLogin")}}},
                             "responses": {**json_response("200", ref("DemoToken")), **ERRORS}}},
}

doc = {
    "openapi": "3.1.0",
    "info": {"title": "ccserver", "version": "1", "description": "REST API of the chat platform. Concepts, the WebSocket protocol and the delivery contract: docs/protocol.md."},
    "servers": [{"url": "/"}],
    "paths": paths,
    "components": {
        "schemas": schemas,
        "securitySchemes": {
            K: {"type": "http", "scheme": "bearer", "description": "cck_<key_id>_<secret>: the app's backend"},
            U: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "EdDSA user token minted by the app's backend"},
            A: {"type": "http", "scheme": "bearer", "description": "cca_<secret>: the operator"},
        },
    },
}

root = pathlib.Path(__file__).resolve().parents[3]
(root / "docs" / "openapi.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
