// GGUF metadata values with their stored type (gguf.h `enum gguf_type`), so that a value read from a file
// is written back in exactly the same bytes, and builders that make such values from plain JS values.
import { TunekitError } from "../util/errors.js";

/** GGUF metadata value types, as stored in the file (int32). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

type T = typeof GgufValueType;
/** Value types held as a JS number. */
export type GgufNumberType = T[
  "UINT8" | "INT8" | "UINT16" | "INT16" | "UINT32" | "INT32" | "FLOAT32" | "FLOAT64"];
/** 64-bit integer value types, held as bigint. */
export type GgufBigIntType = T["UINT64" | "INT64"];

/** What each array element type is held as (numeric arrays are typed arrays: compact, and exact). */
export interface GgufArrayItems {
  0: Uint8Array;
  1: Int8Array;
  2: Uint16Array;
  3: Int16Array;
  4: Uint32Array;
  5: Int32Array;
  6: Float32Array;
  7: boolean[];
  8: string[];
  9: GgufArray[];
  10: BigUint64Array;
  11: BigInt64Array;
  12: Float64Array;
}

/** A GGUF array: its element type and its items (nested arrays each carry their own element type). */
export type GgufArray = { [K in GgufValueType]: { elementType: K; items: GgufArrayItems[K] } }[GgufValueType];

/** One metadata value with its GGUF type. */
export type GgufMetadataValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint }
  | { type: T["BOOL"]; value: boolean }
  | { type: T["STRING"]; value: string }
  | { type: T["ARRAY"]; value: GgufArray };

/** A metadata value as plain JS: numbers, bigint for 64-bit integers, typed arrays for numeric arrays. */
export type GgufPlainValue =
  number | bigint | boolean | string | GgufArrayItems[Exclude<GgufValueType, 9>] | GgufPlainValue[];

/** Short names of the value types, used in messages and the CLI. */
export const GGUF_TYPE_SHORT_NAMES = [
  "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64",
] as const; // prettier-ignore
export type GgufTypeShortName = (typeof GGUF_TYPE_SHORT_NAMES)[number];

export function isGgufValueType(t: number): t is GgufValueType {
  return Number.isInteger(t) && t >= 0 && t < GGUF_TYPE_SHORT_NAMES.length;
}

/** "u32", "str", … for a value type id ("type 99" when unknown). */
export function ggufTypeName(t: number): string {
  return isGgufValueType(t) ? GGUF_TYPE_SHORT_NAMES[t] : `type ${t}`;
}

/** Bytes of one fixed-size element, or 0 for strings and arrays. */
export function fixedSize(t: GgufValueType): number {
  return [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8][t];
}

/** Typed-array constructor of each numeric type (undefined for bool, string, array). */
export const TYPED_ARRAYS = {
  0: Uint8Array,
  1: Int8Array,
  2: Uint16Array,
  3: Int16Array,
  4: Uint32Array,
  5: Int32Array,
  6: Float32Array,
  10: BigUint64Array,
  11: BigInt64Array,
  12: Float64Array,
} as const;

const INT_RANGES: Partial<Record<GgufValueType, [number, number]>> = {
  0: [0, 0xff],
  1: [-0x80, 0x7f],
  2: [0, 0xffff],
  3: [-0x8000, 0x7fff],
  4: [0, 0xffffffff],
  5: [-0x80000000, 0x7fffffff],
};
const BIG_RANGES: Partial<Record<GgufValueType, [bigint, bigint]>> = {
  10: [0n, 2n ** 64n - 1n],
  11: [-(2n ** 63n), 2n ** 63n - 1n],
};

/**
 * Checks that `v` is a well-formed value of its declared type (integer ranges, string/boolean kinds,
 * array items of the declared element type, nesting depth). `where` names the key in the message.
 */
export function validateValue(v: GgufMetadataValue, where: string, depth = 0): void {
  const bad = (msg: string) => new TunekitError(`metadata "${where}": ${msg}`);
  if (!v || typeof v !== "object" || !isGgufValueType(v.type)) throw bad(`unknown value type ${v?.type}`);
  if (v.type === GgufValueType.ARRAY) return validateArray(v.value, where, depth);
  checkScalar(v.type, v.value, bad);
}

function checkScalar(t: GgufValueType, x: unknown, bad: (m: string) => Error): void {
  const name = ggufTypeName(t);
  if (t === GgufValueType.STRING) {
    if (typeof x !== "string") throw bad(`expected a string, got ${typeof x}`);
  } else if (t === GgufValueType.BOOL) {
    if (typeof x !== "boolean") throw bad(`expected a boolean, got ${typeof x}`);
  } else if (t === GgufValueType.UINT64 || t === GgufValueType.INT64) {
    const [lo, hi] = BIG_RANGES[t]!;
    if (typeof x !== "bigint" || x < lo || x > hi) throw bad(`expected a ${name} bigint, got ${String(x)}`);
  } else if (t === GgufValueType.FLOAT32 || t === GgufValueType.FLOAT64) {
    if (typeof x !== "number") throw bad(`expected a ${name} number, got ${typeof x}`);
  } else {
    const [lo, hi] = INT_RANGES[t]!;
    if (typeof x !== "number" || !Number.isInteger(x) || x < lo || x > hi) {
      throw bad(`expected a ${name} integer in [${lo}, ${hi}], got ${String(x)}`);
    }
  }
}

/** Deepest array nesting accepted (GGUF files in the wild nest at most once; llama.cpp not at all). */
export const MAX_ARRAY_DEPTH = 8;

function validateArray(a: GgufArray, where: string, depth: number): void {
  const bad = (msg: string) => new TunekitError(`metadata "${where}": ${msg}`);
  if (depth >= MAX_ARRAY_DEPTH) throw bad(`arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
  if (!a || typeof a !== "object" || !isGgufValueType(a.elementType)) {
    throw bad(`unknown array element type ${a?.elementType}`);
  }
  const t = a.elementType;
  if (t === GgufValueType.ARRAY) {
    if (!Array.isArray(a.items)) throw bad("nested array items must be an array");
    a.items.forEach((inner, i) => validateArray(inner, `${where}[${i}]`, depth + 1));
  } else if (t === GgufValueType.STRING || t === GgufValueType.BOOL) {
    if (!Array.isArray(a.items)) throw bad(`${ggufTypeName(t)} array items must be an array`);
    for (const x of a.items as unknown[]) checkScalar(t, x, bad);
  } else if (!(a.items instanceof TYPED_ARRAYS[t])) {
    throw bad(`${ggufTypeName(t)} array items must be a ${TYPED_ARRAYS[t].name}`);
  }
}

/** The plain JS form of a value (see {@link GgufPlainValue}). */
export function toPlain(v: GgufMetadataValue): GgufPlainValue {
  return v.type === GgufValueType.ARRAY ? arrayToPlain(v.value) : v.value;
}

function arrayToPlain(a: GgufArray): GgufPlainValue {
  return a.elementType === GgufValueType.ARRAY ? a.items.map(arrayToPlain) : a.items;
}

/** Array element types a builder accepts, by short name. */
type ElementName = Exclude<GgufTypeShortName, "arr">;
type ItemsOf<N extends ElementName> = N extends "str"
  ? readonly string[]
  : N extends "bool"
    ? readonly boolean[]
    : N extends "u64" | "i64"
      ? ArrayLike<bigint | number>
      : ArrayLike<number>;

function scalar<V extends GgufMetadataValue>(v: V, what: string): V {
  validateValue(v, what);
  return v;
}

function makeArray(elementType: GgufValueType, items: ArrayLike<unknown>): GgufArray {
  if (elementType === GgufValueType.STRING || elementType === GgufValueType.BOOL) {
    return { elementType, items: Array.from(items) } as GgufArray;
  }
  if (elementType === GgufValueType.ARRAY) return { elementType, items: Array.from(items) as GgufArray[] };
  const Ctor = TYPED_ARRAYS[elementType];
  const big = elementType === GgufValueType.UINT64 || elementType === GgufValueType.INT64;
  const arr = Array.from(items, (x) => (big && typeof x === "number" ? BigInt(x) : x));
  // Range-check integers before the typed array would silently wrap them.
  arr.forEach((x) => checkScalar(elementType, x, (m) => new TunekitError(`array item: ${m}`)));
  return { elementType, items: new (Ctor as new (a: unknown[]) => ArrayLike<unknown>)(arr) } as GgufArray;
}

/**
 * Builders of typed metadata values: `gguf.u32(4096)`, `gguf.str("llama")`, `gguf.arr("f32", scores)`,
 * `gguf.arr("str", tokens)`. Each checks its value (integer ranges, kinds) and throws a TunekitError.
 */
export const gguf = {
  u8: (value: number) => scalar({ type: GgufValueType.UINT8, value }, "u8"),
  i8: (value: number) => scalar({ type: GgufValueType.INT8, value }, "i8"),
  u16: (value: number) => scalar({ type: GgufValueType.UINT16, value }, "u16"),
  i16: (value: number) => scalar({ type: GgufValueType.INT16, value }, "i16"),
  u32: (value: number) => scalar({ type: GgufValueType.UINT32, value }, "u32"),
  i32: (value: number) => scalar({ type: GgufValueType.INT32, value }, "i32"),
  /** Rounded to float32 when written (gguf.f32(0.1) reads back as 0.10000000149…). */
  f32: (value: number) => scalar({ type: GgufValueType.FLOAT32, value }, "f32"),
  f64: (value: number) => scalar({ type: GgufValueType.FLOAT64, value }, "f64"),
  u64: (value: bigint | number) => scalar({ type: GgufValueType.UINT64, value: BigInt(value) }, "u64"),
  i64: (value: bigint | number) => scalar({ type: GgufValueType.INT64, value: BigInt(value) }, "i64"),
  bool: (value: boolean) => scalar({ type: GgufValueType.BOOL, value }, "bool"),
  str: (value: string) => scalar({ type: GgufValueType.STRING, value }, "str"),
  /** An array of `element` items ("f32", "str", …); numeric items are copied into a typed array. */
  arr<N extends ElementName>(element: N, items: ItemsOf<N>): GgufMetadataValue {
    const t = GGUF_TYPE_SHORT_NAMES.indexOf(element) as GgufValueType;
    if (t < 0) throw new TunekitError(`unknown array element type "${element}"`);
    return scalar({ type: GgufValueType.ARRAY, value: makeArray(t, items) }, `arr<${element}>`);
  },
  /** An array of arrays (each made with `gguf.arr(...)`); llama.cpp itself does not read these. */
  nested(arrays: GgufMetadataValue[]): GgufMetadataValue {
    const items = arrays.map((a) => {
      if (a.type !== GgufValueType.ARRAY) throw new TunekitError("gguf.nested takes values made by gguf.arr");
      return a.value;
    });
    return scalar(
      { type: GgufValueType.ARRAY, value: { elementType: GgufValueType.ARRAY, items } },
      "nested",
    );
  },
};
