//! The handshake data of the `open` packet (Engine.IO v4 "Handshake").
//!
//! ```text
//! 0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}
//! ```
//!
//! The server builds it ([`OpenParams::to_json`], keys in the reference server's order); a
//! client reads it ([`OpenParams::from_json`]).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::Value;

/// The fields of the open packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenParams {
    /// The session id the client sends back as `sid` in every later request.
    pub sid: String,
    /// Transports the client may upgrade to (`["websocket"]` on polling, `[]` on WebSocket).
    pub upgrades: Vec<String>,
    /// Milliseconds between two server pings.
    pub ping_interval: u64,
    /// Milliseconds the client has to answer a ping.
    pub ping_timeout: u64,
    /// Largest polling body, in bytes, either side may send.
    pub max_payload: u64,
}

impl OpenParams {
    /// The JSON text of the open packet's data.
    pub fn to_json(&self) -> String {
        let upgrades: Vec<Value> = self
            .upgrades
            .iter()
            .map(|u| Value::String(u.clone()))
            .collect();
        alloc::format!(
            r#"{{"sid":{},"upgrades":{},"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
            Value::String(self.sid.clone()),
            Value::Array(upgrades),
            self.ping_interval,
            self.ping_timeout,
            self.max_payload,
        )
    }

    /// Reads the open packet's data; `None` if a field is missing or has the wrong type.
    pub fn from_json(json: &str) -> Option<OpenParams> {
        let value: Value = serde_json::from_str(json).ok()?;
        let upgrades = value.get("upgrades")?.as_array()?;
        Some(OpenParams {
            sid: value.get("sid")?.as_str()?.to_string(),
            upgrades: upgrades
                .iter()
                .map(|u| u.as_str().map(ToString::to_string))
                .collect::<Option<_>>()?,
            ping_interval: value.get("pingInterval")?.as_u64()?,
            ping_timeout: value.get("pingTimeout")?.as_u64()?,
            max_payload: value.get("maxPayload")?.as_u64()?,
        })
    }
}
