//! Tool calls: `response.function_call_arguments.*`, `response.mcp_call_arguments.*`,
//! `response.mcp_call.*` and `mcp_list_tools.*` (all server).

super::server_event! {
    /// `response.function_call_arguments.delta` (server): more of a call's JSON arguments.
    pub struct ResponseFunctionCallArgumentsDelta {
        /// The response.
        pub response_id: String,
        /// The function call item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The id to answer with a `function_call_output` item.
        pub call_id: String,
        /// The new arguments text.
        pub delta: String,
    }
}

super::server_event! {
    /// `response.function_call_arguments.done` (server): a call's arguments are complete.
    pub struct ResponseFunctionCallArgumentsDone {
        /// The response.
        pub response_id: String,
        /// The function call item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The id to answer with a `function_call_output` item.
        pub call_id: String,
        /// The function's name.
        pub name: Option<String>,
        /// The whole arguments, a JSON string.
        pub arguments: String,
    }
}

super::server_event! {
    /// `response.mcp_call_arguments.delta` (server): more of an MCP call's arguments.
    pub struct ResponseMcpCallArgumentsDelta {
        /// The response.
        pub response_id: String,
        /// The MCP call item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The new arguments text.
        pub delta: String,
        /// Padding the server may add to obscure payload sizes.
        pub obfuscation: Option<String>,
    }
}

super::server_event! {
    /// `response.mcp_call_arguments.done` (server): an MCP call's arguments are complete.
    pub struct ResponseMcpCallArgumentsDone {
        /// The response.
        pub response_id: String,
        /// The MCP call item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The whole arguments, a JSON string.
        pub arguments: String,
    }
}

super::server_event! {
    /// `response.mcp_call.in_progress` (server): an MCP tool call started.
    pub struct ResponseMcpCallInProgress {
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The MCP call item.
        pub item_id: String,
    }
}

super::server_event! {
    /// `response.mcp_call.completed` (server): an MCP tool call succeeded.
    pub struct ResponseMcpCallCompleted {
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The MCP call item.
        pub item_id: String,
    }
}

super::server_event! {
    /// `response.mcp_call.failed` (server): an MCP tool call failed.
    pub struct ResponseMcpCallFailed {
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The MCP call item.
        pub item_id: String,
    }
}

super::server_event! {
    /// `mcp_list_tools.in_progress` (server): listing an MCP server's tools.
    pub struct McpListToolsInProgress {
        /// The `mcp_list_tools` item.
        pub item_id: String,
    }
}

super::server_event! {
    /// `mcp_list_tools.completed` (server): an MCP server's tools were listed.
    pub struct McpListToolsCompleted {
        /// The `mcp_list_tools` item.
        pub item_id: String,
    }
}

super::server_event! {
    /// `mcp_list_tools.failed` (server): listing an MCP server's tools failed.
    pub struct McpListToolsFailed {
        /// The `mcp_list_tools` item.
        pub item_id: String,
    }
}
