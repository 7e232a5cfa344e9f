//! Wire types of the chat platform: WebSocket frames, REST bodies, error codes.
