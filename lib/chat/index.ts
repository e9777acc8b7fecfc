export type {
  ChatMessage,
  ChatRole,
  ContentPart,
  ImageContentPart,
  TextContentPart,
  ToolCall,
  ToolSchema,
} from "./types.js";
export {
  renderChat,
  templateMessages,
  strftime,
  ChatTemplateError,
  type RenderChatOptions,
} from "./template.js";
