/**
 * Chat records in the OpenAI shape — the one canonical form the data layer, the trainer and the
 * chat-template renderer share.
 */

/** A text part of a multi-part message content. */
export interface TextContentPart {
  type: "text";
  /** The text. */
  text: string;
}

/** An image part of a multi-part message content (OpenAI `image_url` shape). */
export interface ImageContentPart {
  type: "image_url";
  image_url: {
    /** `data:` URL, `http(s)` URL or a local file path. */
    url: string;
    /** OpenAI detail hint; ignored by templates. */
    detail?: "auto" | "low" | "high";
  };
}

/** One part of a multi-part message content. Templates see images as `{type: "image"}`. */
export type ContentPart = TextContentPart | ImageContentPart;

/** A function call requested by the assistant. */
export interface ToolCall {
  /** Call id (OpenAI `call_…`); tool results refer to it with `tool_call_id`. */
  id?: string;
  /** Always "function" in OpenAI's format. */
  type?: "function";
  function: {
    /** Name of the called tool. */
    name: string;
    /**
     * Arguments: OpenAI sends a JSON string, many chat templates expect an object.
     * Both are accepted; the renderer normalises them (see lib/chat/template.ts).
     */
    arguments: string | Record<string, unknown>;
  };
}

/** A JSON-schema description of a callable tool (OpenAI `tools[]` entry). */
export interface ToolSchema {
  type: "function";
  function: {
    /** Tool name. */
    name: string;
    /** What the tool does. */
    description?: string;
    /** JSON schema of the arguments object. */
    parameters?: Record<string, unknown>;
  };
}

/** Role of a chat message. */
export type ChatRole = "system" | "user" | "assistant" | "tool";

/** One chat message in the OpenAI shape. */
export interface ChatMessage {
  /** Who speaks. */
  role: ChatRole;
  /** Text, or a list of parts (text/image); may be null/absent on an assistant turn that only calls tools. */
  content?: string | ContentPart[] | null;
  /** Tool calls requested by an assistant turn. */
  tool_calls?: ToolCall[];
  /** On a `tool` message: id of the call it answers. */
  tool_call_id?: string;
  /** Optional speaker name (OpenAI `name`); on a `tool` message some templates use it as the tool name. */
  name?: string;
  /** Reasoning text of an assistant turn (Qwen3/DeepSeek `reasoning_content`), if any. */
  reasoning_content?: string;
}
