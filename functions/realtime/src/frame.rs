//! A client's frame, parsed before anything is read or written: `{"type": "subscribe" |
//! "unsubscribe" | "message", "channel": "<kind>:<id>", "data": …}`. Whatever is wrong
//! with it is the `error` event to answer with (`INVALID_JSON`, `UNKNOWN_TYPE`,
//! `INVALID_CHANNEL`); whether the caller may use the channel is decided afterwards.

use aloft_realtime::event;
use serde_json::Value;

/// What a frame asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Subscribe,
    Unsubscribe,
    Message,
}

/// The kinds of channel docs/api.md names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelKind {
    User,
    Tenant,
    Project,
}

/// A well-formed channel name, `<kind>:<id>` with an id of 1 to [`MAX_ID_BYTES`] bytes
/// and no whitespace; not yet authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Channel {
    pub name: String,
    pub kind: ChannelKind,
}

/// Longest channel id: ids end up in table keys.
const MAX_ID_BYTES: usize = 128;

impl Channel {
    /// The part after the kind.
    pub(crate) fn id(&self) -> &str {
        self.name.split_once(':').map_or("", |(_, id)| id)
    }

    fn parse(name: &str) -> Option<Self> {
        let (kind, id) = name.split_once(':')?;
        if id.is_empty() || id.len() > MAX_ID_BYTES || id.contains(char::is_whitespace) {
            return None;
        }
        let kind = match kind {
            "user" => ChannelKind::User,
            "tenant" => ChannelKind::Tenant,
            "project" => ChannelKind::Project,
            _ => return None,
        };
        Some(Self {
            name: name.to_owned(),
            kind,
        })
    }
}

/// A frame that parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    pub action: Action,
    pub channel: Channel,
    /// `data` of a message (`null` when absent).
    pub data: Value,
}

impl Frame {
    /// The frame in `body`, or the `error` event that says what is wrong with it.
    pub(crate) fn parse(body: &str) -> Result<Self, Value> {
        let mut frame: Value = serde_json::from_str(body)
            .map_err(|_| event::error("INVALID_JSON", "Message must be a JSON object"))?;
        let action = match frame["type"].as_str() {
            Some("subscribe") => Action::Subscribe,
            Some("unsubscribe") => Action::Unsubscribe,
            Some("message") => Action::Message,
            _ => {
                return Err(event::error(
                    "UNKNOWN_TYPE",
                    "type must be subscribe, unsubscribe or message",
                ));
            }
        };
        let channel = frame["channel"]
            .as_str()
            .and_then(Channel::parse)
            .ok_or_else(|| event::error("INVALID_CHANNEL", "Invalid channel format"))?;
        Ok(Self {
            action,
            channel,
            data: frame.get_mut("data").map(Value::take).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod properties;
