// Errors the server answers with an OpenAI-style JSON body: {"error": {message, type, param, code}}.

/** An error with an HTTP status that the client caused (or that the server reports on purpose). */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  /** OpenAI's error type for this status. */
  get type(): string {
    if (this.status === 401) return "authentication_error";
    if (this.status === 404) return "not_found_error";
    if (this.status === 429 || this.status === 503) return "server_busy_error";
    if (this.status >= 500) return "server_error";
    return "invalid_request_error";
  }

  toJSON() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Shorthand for a 400 about one request field. */
export function badRequest(message: string, param: string | null = null): HttpError {
  return new HttpError(400, message, param, "invalid_value");
}
