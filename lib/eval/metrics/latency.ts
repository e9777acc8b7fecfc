// Latency percentiles and generation throughput.
import { percentile } from "./kl.js";

/** One timed request. */
export interface TimedRequest {
  /** Wall time from sending the request to the last token, ms. */
  latencyMs: number;
  /** Tokens generated. */
  completionTokens: number;
  /** Time spent generating (after the prompt was processed), ms; when unknown, latencyMs is used. */
  generationMs?: number;
  /** Time to the first generated token, ms, when known. */
  firstTokenMs?: number;
}

/** Latency and throughput summary. */
export interface LatencySummary {
  requests: number;
  /** Median latency, ms. */
  p50Ms: number;
  /** 95th percentile latency, ms. */
  p95Ms: number;
  /** Mean latency, ms. */
  meanMs: number;
  /** Median time to first token, ms (NaN when unknown). */
  firstTokenP50Ms: number;
  /** Generated tokens per second of generation time, over all requests. */
  tokensPerSecond: number;
}

/** Summarises timed requests (percentiles use linear interpolation, as numpy). */
export function latencySummary(requests: readonly TimedRequest[]): LatencySummary {
  const lat = requests.map((r) => r.latencyMs).sort((a, b) => a - b);
  const ftt = requests
    .map((r) => r.firstTokenMs)
    .filter((v): v is number => typeof v === "number")
    .sort((a, b) => a - b);
  const tokens = requests.reduce((s, r) => s + r.completionTokens, 0);
  const genMs = requests.reduce((s, r) => s + (r.generationMs ?? r.latencyMs), 0);
  return {
    requests: requests.length,
    p50Ms: percentile(lat, 50),
    p95Ms: percentile(lat, 95),
    meanMs: lat.length ? lat.reduce((s, v) => s + v, 0) / lat.length : NaN,
    firstTokenP50Ms: percentile(ftt, 50),
    tokensPerSecond: genMs > 0 ? tokens / (genMs / 1000) : NaN,
  };
}
