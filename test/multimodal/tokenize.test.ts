// Image records → token ids with image slots (llama.cpp mtmd's layout) and assistant-only loss masks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadModelText } from "../../lib/data/model-text.js";
import { tokenizeRecord } from "../../lib/data/tokenize.js";
import type { ChatRecord } from "../../lib/data/record.js";
import { DEFAULT_MODEL } from "../../lib/pipeline/default-model.js";
import { MEDIA_MARKER, tokenizeImageRecord, withMediaMarkers } from "../../lib/multimodal/tokenize.js";

const text = loadModelText(DEFAULT_MODEL);
const tokenizer = text.tokenizer;
const render = text.render!;
const record: ChatRecord = {
  messages: [
    { role: "system", content: "You name coffee leaf diseases." },
    {
      role: "user",
      content: [
        { type: "image", path: "images/a.jpg" },
        { type: "text", text: "What does this leaf show?" },
      ],
    },
    { role: "assistant", content: "rust" },
  ],
};
const spec = { begin: "<start_of_image>", end: "<end_of_image>", tokensPerImage: 5, slotId: 0 };

test("image parts become the media marker before the template runs; images keep their order", () => {
  const two: ChatRecord = {
    messages: [
      {
        role: "user",
        content: [
          { type: "image", path: "x.png" },
          { type: "text", text: "and" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AA" } },
        ],
      },
    ],
  };
  const { record: r, images } = withMediaMarkers(two);
  assert.deepEqual(images, [{ path: "x.png", url: undefined }, { url: "data:image/png;base64,AA" }]);
  assert.deepEqual(r.messages[0]!.content, [
    { type: "text", text: MEDIA_MARKER },
    { type: "text", text: "and" },
    { type: "text", text: MEDIA_MARKER },
  ]);
});

test("layout: text pieces tokenized alone, begin text, one slot per soft token, end text; only the answer is trained", () => {
  const t = tokenizeImageRecord(record, { tokenizer, render, image: spec });
  assert.ok(!("dropped" in t));
  const [before, after] = t.text.split(MEDIA_MARKER);
  const enc = (s: string) => tokenizer.encode(s, { parseSpecial: true });
  const expected = [...enc(before!), ...enc(spec.begin), 0, 0, 0, 0, 0, ...enc(spec.end), ...enc(after!)];
  assert.deepEqual(t.ids, expected);
  assert.equal(t.images.length, 1);
  const img = t.images[0]!;
  assert.equal(img.column, enc(before!).length + enc(spec.begin).length);
  assert.equal(img.count, 5);
  assert.deepEqual(img.ref, { path: "images/a.jpg", url: undefined });
  const trained = t.ids.filter((_, i) => t.mask[i] === 1);
  // as lib/data/tokenize.ts: the turn as the template renders it, end-of-turn marker and newline included
  assert.equal(tokenizer.decode(trained), "rust<|im_end|>\n");
  for (let i = img.column; i < img.column + img.count; i++) assert.equal(t.mask[i], 0);
});

test("without images the ids and mask equal the text tokenizer's", () => {
  const plain: ChatRecord = {
    messages: [
      { role: "user", content: "Which disease has orange powder?" },
      { role: "assistant", content: "Rust, caused by Hemileia vastatrix." },
      { role: "user", content: "And white tunnels?" },
      { role: "assistant", content: "Leaf miner." },
    ],
  };
  const a = tokenizeImageRecord(plain, { tokenizer, render, image: spec });
  const b = tokenizeRecord(plain, { tokenizer, render });
  assert.ok(!("dropped" in a) && !("dropped" in b));
  assert.deepEqual(a.ids, b.ids);
  assert.deepEqual(a.mask, b.mask);
});

test("a record longer than max-seq is dropped, not cut through its image", () => {
  const t = tokenizeImageRecord(record, {
    tokenizer,
    render,
    image: { ...spec, tokensPerImage: 300 },
    maxSeq: 256,
  });
  assert.ok("dropped" in t && /max-seq/.test(t.reason));
});
