// images: labelled image folders (COCO JSON, CSV labels, one folder per class — Roboflow exports and
// the like) → one record per image: the user shows the image and asks the question, the assistant
// answers with the class (or the text given for it in `labelText`). Image paths in the records are
// absolute here; `data prepare` copies the images into the output folder and makes them relative.
import { findLabeledImages } from "../images/labeled.js";
import { withSystem } from "../record.js";
import type { ConvertedRecord, Converter } from "./types.js";

/** The question asked when none is given. */
export const DEFAULT_IMAGE_QUESTION = "What does this image show?";

export const imagesConverter: Converter = {
  name: "images",
  description: "labelled images (COCO JSON, CSV labels, folder per class) → image + question → label answer",
  async convert(input, options) {
    const { images } = findLabeledImages(input, options.issues);
    const question = options.imageQuestion ?? DEFAULT_IMAGE_QUESTION;
    return images.map((img): ConvertedRecord => {
      const answer = img.label
        .split(", ")
        .map((l) => options.labelText?.[l] ?? l)
        .join(", ");
      const messages = withSystem(
        [
          { role: "user", content: [{ type: "image", path: img.path }, { type: "text", text: question }] },
          { role: "assistant", content: answer },
        ],
        options.system,
      );
      return { record: { messages }, origin: { file: img.file, line: img.line }, label: img.label };
    });
  },
};
