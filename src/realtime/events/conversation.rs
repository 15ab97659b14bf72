//! Conversation items, their content parts, and the item events:
//! `conversation.item.create/retrieve/delete/truncate` (client) and
//! `conversation.created`, `conversation.item.*` (server).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use super::common::string_enum;

string_enum! {
    /// Who a message is from.
    pub enum Role {
        /// System instructions.
        System = "system",
        /// The user.
        User = "user",
        /// The model.
        Assistant = "assistant",
    }
}

string_enum! {
    /// The state of an item or of a response's output.
    pub enum ItemStatus {
        /// Finished.
        Completed = "completed",
        /// Ended early (interrupted, truncated or limited).
        Incomplete = "incomplete",
        /// Still being produced.
        InProgress = "in_progress",
    }
}

/// An item of the conversation: a message, a function call, its output, or an MCP item.
///
/// ```
/// use vivavoce::realtime::Item;
/// let item = Item::user_text("What's the weather like?");
/// let json = serde_json::to_value(&item).unwrap();
/// assert_eq!(json["type"], "message");
/// assert_eq!(json["content"][0]["type"], "input_text");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum Item {
    /// A message from the system, the user or the assistant.
    #[serde(rename = "message")]
    Message(MessageItem),
    /// A call of a function tool by the model.
    #[serde(rename = "function_call")]
    FunctionCall(FunctionCallItem),
    /// The application's answer to a function call.
    #[serde(rename = "function_call_output")]
    FunctionCallOutput(FunctionCallOutputItem),
    /// A reference to an existing item (in `response.create` input).
    #[serde(rename = "item_reference")]
    Reference(ItemReference),
    /// A call of an MCP tool.
    #[serde(rename = "mcp_call")]
    McpCall(Map<String, Value>),
    /// The tools an MCP server offers.
    #[serde(rename = "mcp_list_tools")]
    McpListTools(Map<String, Value>),
    /// A request for approval of an MCP tool call.
    #[serde(rename = "mcp_approval_request")]
    McpApprovalRequest(Map<String, Value>),
    /// The application's answer to an approval request.
    #[serde(rename = "mcp_approval_response")]
    McpApprovalResponse(Map<String, Value>),
    /// An item type this version does not model.
    #[serde(untagged)]
    Other(Value),
}

impl Item {
    /// A user message with one text part.
    pub fn user_text(text: impl Into<String>) -> Self {
        Item::message(
            Role::User,
            vec![ContentPart::InputText { text: text.into() }],
        )
    }

    /// A system message with one text part.
    pub fn system_text(text: impl Into<String>) -> Self {
        Item::message(
            Role::System,
            vec![ContentPart::InputText { text: text.into() }],
        )
    }

    /// A user message carrying base64 audio in the session's input format.
    pub fn user_audio(base64_audio: impl Into<String>) -> Self {
        let part = ContentPart::InputAudio {
            audio: Some(base64_audio.into()),
            transcript: None,
        };
        Item::message(Role::User, vec![part])
    }

    /// A message with the given role and content.
    pub fn message(role: Role, content: Vec<ContentPart>) -> Self {
        Item::Message(MessageItem {
            role,
            content,
            ..Default::default()
        })
    }

    /// The output of a function call, answering the call with `call_id`.
    pub fn function_output(call_id: impl Into<String>, output: impl Into<String>) -> Self {
        Item::FunctionCallOutput(FunctionCallOutputItem {
            call_id: call_id.into(),
            output: output.into(),
            ..Default::default()
        })
    }

    /// The item's id, when it has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Item::Message(m) => m.id.as_deref(),
            Item::FunctionCall(f) => f.id.as_deref(),
            Item::FunctionCallOutput(f) => f.id.as_deref(),
            Item::Reference(r) => Some(&r.id),
            Item::McpCall(m)
            | Item::McpListTools(m)
            | Item::McpApprovalRequest(m)
            | Item::McpApprovalResponse(m) => m.get("id").and_then(Value::as_str),
            Item::Other(v) => v.get("id").and_then(Value::as_str),
        }
    }
}

/// A message item.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageItem {
    /// The item's id; the server assigns one when left out.
    pub id: Option<String>,
    /// Always `realtime.item` (server events only).
    pub object: Option<String>,
    /// The item's state (server events only).
    pub status: Option<ItemStatus>,
    /// Who the message is from.
    pub role: Role,
    /// The message's content parts.
    #[serde(default)]
    pub content: Vec<ContentPart>,
}

// The enum comes from `string_enum!`, which cannot take `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for Role {
    fn default() -> Self {
        Role::User
    }
}

/// A function call item.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallItem {
    /// The item's id.
    pub id: Option<String>,
    /// Always `realtime.item` (server events only).
    pub object: Option<String>,
    /// The item's state.
    pub status: Option<ItemStatus>,
    /// The id to answer with a `function_call_output` item.
    pub call_id: Option<String>,
    /// The function's name.
    pub name: String,
    /// The arguments, a JSON string.
    pub arguments: String,
}

/// A function call output item.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOutputItem {
    /// The item's id.
    pub id: Option<String>,
    /// Always `realtime.item` (server events only).
    pub object: Option<String>,
    /// The item's state.
    pub status: Option<ItemStatus>,
    /// The `call_id` of the function call this answers.
    pub call_id: String,
    /// The output, usually a JSON string.
    pub output: String,
}

/// A reference to an existing item by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemReference {
    /// The referenced item's id.
    pub id: String,
}

/// A content part of a message.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum ContentPart {
    /// Text from the user or system.
    #[serde(rename = "input_text")]
    InputText {
        /// The text.
        text: String,
    },
    /// Audio from the user.
    #[serde(rename = "input_audio")]
    InputAudio {
        /// Base64 audio in the session's input format.
        audio: Option<String>,
        /// The transcript, when known.
        transcript: Option<String>,
    },
    /// An image from the user.
    #[serde(rename = "input_image")]
    InputImage {
        /// A data URI of a PNG or JPEG image.
        image_url: String,
        /// `auto`, `low` or `high`.
        detail: Option<String>,
    },
    /// Text from the model.
    #[serde(rename = "output_text")]
    OutputText {
        /// The text.
        text: Option<String>,
    },
    /// Audio from the model.
    #[serde(rename = "output_audio")]
    OutputAudio {
        /// Base64 audio, when included.
        audio: Option<String>,
        /// The transcript of the audio.
        transcript: Option<String>,
        /// The audio's format, when the server names it.
        format: Option<String>,
    },
    /// Text, as `response.content_part.*` events name it.
    #[serde(rename = "text")]
    Text {
        /// The text.
        text: Option<String>,
    },
    /// Audio, as `response.content_part.*` events name it.
    #[serde(rename = "audio")]
    Audio {
        /// Base64 audio, when included.
        audio: Option<String>,
        /// The transcript of the audio.
        transcript: Option<String>,
        /// The audio's format, when the server names it.
        format: Option<String>,
    },
    /// A part type this version does not model.
    #[serde(untagged)]
    Other(Value),
}

/// `conversation.item.create` (client): add an item to the conversation.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationItemCreate {
    /// Optional client-chosen id, echoed in any `error` this event causes.
    pub event_id: Option<String>,
    /// Insert after this item; `root` for the start; left out: at the end.
    pub previous_item_id: Option<String>,
    /// The item to add.
    pub item: Item,
}

impl ConversationItemCreate {
    /// Append `item` to the end of the conversation.
    pub fn new(item: Item) -> Self {
        ConversationItemCreate {
            event_id: None,
            previous_item_id: None,
            item,
        }
    }
}

/// `conversation.item.retrieve` (client): ask for an item's full content.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationItemRetrieve {
    /// Optional client-chosen id.
    pub event_id: Option<String>,
    /// The item to retrieve.
    pub item_id: String,
}

/// `conversation.item.delete` (client): remove an item.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationItemDelete {
    /// Optional client-chosen id.
    pub event_id: Option<String>,
    /// The item to delete.
    pub item_id: String,
}

/// `conversation.item.truncate` (client): cut an assistant audio item at the point the
/// user actually heard, so the model's memory matches what was played.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationItemTruncate {
    /// Optional client-chosen id.
    pub event_id: Option<String>,
    /// The assistant message item to truncate.
    pub item_id: String,
    /// The content part to truncate (0 for audio).
    pub content_index: u32,
    /// Keep audio up to here, in ms; must not exceed the audio's length.
    pub audio_end_ms: u32,
}

impl ConversationItemTruncate {
    /// Truncates `item_id`'s content part `content_index` at `audio_end_ms`.
    pub fn new(item_id: impl Into<String>, content_index: u32, audio_end_ms: u32) -> Self {
        ConversationItemTruncate {
            event_id: None,
            item_id: item_id.into(),
            content_index,
            audio_end_ms,
        }
    }
}

/// The conversation a session writes to.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Conversation {
    /// The conversation's id.
    pub id: Option<String>,
    /// Always `realtime.conversation`.
    pub object: Option<String>,
}

super::server_event! {
    /// `conversation.created` (server): a conversation was created with the session.
    pub struct ConversationCreated {
        /// The conversation.
        pub conversation: Conversation,
    }
}

super::server_event! {
    /// `conversation.item.created` (server): an item was created (kept in the GA union
    /// for compatibility; GA servers send `conversation.item.added` and `.done`).
    pub struct ConversationItemCreated {
        /// The preceding item, `None` at the start.
        pub previous_item_id: Option<String>,
        /// The item.
        pub item: Item,
    }
}

super::server_event! {
    /// `conversation.item.added` (server): an item was added; its content may still be streaming.
    pub struct ConversationItemAdded {
        /// The preceding item, `None` at the start.
        pub previous_item_id: Option<String>,
        /// The item.
        pub item: Item,
    }
}

super::server_event! {
    /// `conversation.item.done` (server): an item is complete.
    pub struct ConversationItemDone {
        /// The preceding item, `None` at the start.
        pub previous_item_id: Option<String>,
        /// The item.
        pub item: Item,
    }
}

super::server_event! {
    /// `conversation.item.retrieved` (server): the answer to `conversation.item.retrieve`.
    pub struct ConversationItemRetrieved {
        /// The item.
        pub item: Item,
    }
}

super::server_event! {
    /// `conversation.item.deleted` (server): an item was removed.
    pub struct ConversationItemDeleted {
        /// The removed item.
        pub item_id: String,
    }
}

super::server_event! {
    /// `conversation.item.truncated` (server): an assistant audio item was cut.
    pub struct ConversationItemTruncated {
        /// The truncated item.
        pub item_id: String,
        /// The truncated content part.
        pub content_index: u32,
        /// Where the audio now ends, in ms.
        pub audio_end_ms: u32,
    }
}
