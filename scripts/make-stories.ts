// Writes data/stories.txt: simple, original children's stories (TinyStories-like prose) composed from
// templates and word lists with a seeded random generator, so the same seed gives the same file.
// They are the pretraining text of the embedded default model: short sentences, a small vocabulary,
// and a beginning, a problem and an ending in every story. Stories are separated by one blank line.
// Usage: npx tsx scripts/make-stories.ts [--seed 42] [--count 420] [--out data/stories.txt]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

/** mulberry32: a tiny, well-mixed 32-bit PRNG; enough for picking words deterministically. */
function makeRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Character {
  name: string;
  /** "a little girl", "a small dog" … (without the name). */
  kind: string;
  he: string;
  him: string;
  his: string;
}

const PEOPLE: Array<[string, "f" | "m"]> = [
  ["Lily", "f"],
  ["Tom", "m"],
  ["Mia", "f"],
  ["Ben", "m"],
  ["Sara", "f"],
  ["Max", "m"],
  ["Anna", "f"],
  ["Leo", "m"],
  ["Rosa", "f"],
  ["Sam", "m"],
  ["Nina", "f"],
  ["Jack", "m"],
  ["Lucy", "f"],
  ["Tim", "m"],
  ["Ella", "f"],
  ["Finn", "m"],
  ["Zoe", "f"],
  ["Omar", "m"],
  ["Ava", "f"],
  ["Luis", "m"],
];
const ANIMALS: Array<[string, string, "f" | "m"]> = [
  ["Spot", "dog", "m"],
  ["Tiny", "mouse", "f"],
  ["Fluffy", "cat", "f"],
  ["Hop", "bunny", "m"],
  ["Quack", "duck", "m"],
  ["Bella", "cow", "f"],
  ["Pip", "bird", "m"],
  ["Shelly", "turtle", "f"],
  ["Rusty", "fox", "m"],
  ["Daisy", "lamb", "f"],
  ["Buzz", "bee", "m"],
  ["Goldie", "fish", "f"],
];
const TRAITS = ["little", "happy", "curious", "kind", "shy", "brave", "funny", "small", "busy", "friendly"];
// `sights` read after "to see" / "with"; `spots` read after "under", "near", "behind".
const PLACES = [
  {
    name: "the park",
    sights: ["the tall trees", "the big slide", "the ducks"],
    spots: ["the slide", "a bench", "a bush"],
  },
  {
    name: "the garden",
    sights: ["the red flowers", "the little pond", "the sunflowers"],
    spots: ["the roses", "a flower pot", "the old fence"],
  },
  {
    name: "the forest",
    sights: ["the big trees", "the soft moss", "the mushrooms"],
    spots: ["a log", "a pile of leaves", "a big tree"],
  },
  {
    name: "the beach",
    sights: ["the waves", "the pretty shells", "the boats"],
    spots: ["a sand hill", "a big shell", "a beach towel"],
  },
  {
    name: "the farm",
    sights: ["the red barn", "the pigs", "the big haystack"],
    spots: ["the haystack", "the barn door", "a water trough"],
  },
  {
    name: "the river",
    sights: ["the wooden bridge", "the fish", "the smooth stones"],
    spots: ["the bridge", "a smooth stone", "the tall reeds"],
  },
  {
    name: "the hill",
    sights: ["the yellow flowers", "the tall old tree", "the clouds"],
    spots: ["the old tree", "a rock", "a patch of flowers"],
  },
  {
    name: "the meadow",
    sights: ["the white daisies", "the busy bees", "the butterflies"],
    spots: ["the tall grass", "a daisy patch", "a little rock"],
  },
];
const OBJECTS = [
  "red ball",
  "blue kite",
  "toy boat",
  "yellow hat",
  "shiny stone",
  "picture book",
  "little drum",
  "green car",
  "soft teddy bear",
  "wooden train",
  "pink bucket",
  "silver bell",
];
const FOODS = [
  "apples",
  "cookies",
  "a sandwich",
  "cherries",
  "a big cake",
  "carrots",
  "warm bread",
  "berries",
];
const FEARS = [
  { thing: "the dark", scary: "the room was very dark", try: "turned on a small lamp and looked around" },
  {
    thing: "the water",
    scary: "the water looked deep and cold",
    try: "put one foot in the water, then the other",
  },
  { thing: "the big slide", scary: "the slide was very tall", try: "climbed up slowly and sat at the top" },
  {
    thing: "thunder",
    scary: "the thunder was loud",
    try: "counted the seconds between the light and the sound",
  },
  { thing: "the big dog next door", scary: "the dog barked loudly", try: "held out a hand very slowly" },
];
const GOALS = [
  {
    want: "bake a cake",
    fail: "the cake came out flat",
    fix: "they added more eggs and waited longer",
    end: "the cake was tall and sweet",
  },
  {
    want: "fly a kite",
    fail: "the kite fell down into the grass",
    fix: "they ran faster and held the string tight",
    end: "the kite went high into the sky",
  },
  {
    want: "build a sand castle",
    fail: "a wave knocked the castle down",
    fix: "they built it farther from the water",
    end: "the castle stood tall with a flag on top",
  },
  {
    want: "grow a flower",
    fail: "nothing came up for many days",
    fix: "they gave the seed water every morning",
    end: "a little green stem came up, and then a bright flower",
  },
  {
    want: "build a tower of blocks",
    fail: "the tower fell over",
    fix: "they put the big blocks at the bottom",
    end: "the tower was taller than the chair",
  },
  {
    want: "paint a picture",
    fail: "the colors ran together",
    fix: "they waited for each color to dry",
    end: "the picture showed a bright sun over a green hill",
  },
];
const FEELINGS_GOOD = ["happy", "glad", "proud", "excited"];
const LESSONS = [
  "Sharing makes fun bigger.",
  "Friends help each other.",
  "Trying again is how we learn.",
  "Being kind is always a good idea.",
  "It is okay to be scared, and it is good to be brave.",
  "Saying sorry can fix a sad day.",
  "A good friend listens.",
];

function main(): void {
  const { values } = parseArgs({
    options: {
      seed: { type: "string", default: "42" },
      count: { type: "string", default: "420" },
      out: { type: "string", default: "data/stories.txt" },
    },
  });
  const rand = makeRandom(Number(values.seed));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number) => rand() < p;
  const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);

  const character = (): Character => {
    const trait = pick(TRAITS);
    if (chance(0.6)) {
      const [name, g] = pick(PEOPLE);
      const kind = `${trait} ${g === "f" ? "girl" : "boy"}`;
      return g === "f"
        ? { name, kind, he: "she", him: "her", his: "her" }
        : { name, kind, he: "he", him: "him", his: "his" };
    }
    const [name, animal, g] = pick(ANIMALS);
    const kind = `${trait} ${animal}`;
    return g === "f"
      ? { name, kind, he: "she", him: "her", his: "her" }
      : { name, kind, he: "he", him: "him", his: "his" };
  };
  const friendOf = (a: Character): Character => {
    for (;;) {
      const b = character();
      if (b.name !== a.name) return b;
    }
  };
  const article = (w: string) => (/^[aeiou]/.test(w) ? "an" : "a");
  const opening = (c: Character) =>
    pick([
      `Once upon a time, there was ${article(c.kind)} ${c.kind} named ${c.name}.`,
      `One day, ${article(c.kind)} ${c.kind} named ${c.name} woke up early.`,
      `There was once ${article(c.kind)} ${c.kind} called ${c.name}.`,
      `${c.name} was ${article(c.kind)} ${c.kind}.`,
    ]);
  const ending = (a: Character, b: Character) =>
    pick([
      `From that day on, ${a.name} and ${b.name} were the best of friends.`,
      `That night, ${a.name} smiled and fell asleep, ${pick(FEELINGS_GOOD)} and warm.`,
      `They laughed and played until the sun went down.`,
      `${a.name} knew it had been a very good day.`,
    ]);

  const lostThing = (): string => {
    const a = character();
    const b = friendOf(a);
    const obj = pick(OBJECTS);
    const place = pick(PLACES);
    const s = [
      opening(a),
      `${cap(a.he)} had a ${obj}. ${cap(a.he)} loved the ${obj} very much.`,
      `One sunny morning, ${a.name} took the ${obj} to ${place.name} to see ${pick(place.sights)}.`,
      `${a.name} played and played. But when ${a.he} looked down, the ${obj} was gone!`,
      pick([
        `${a.name} felt sad. ${cap(a.he)} began to cry.`,
        `"Oh no!" said ${a.name}. "Where is my ${obj}?"`,
      ]),
      `Just then, ${b.name} the ${b.kind} came by. "Why are you sad?" asked ${b.name}.`,
      `"I lost my ${obj}," said ${a.name}. "I will help you look," said ${b.name}.`,
      `They looked under ${place.spots[0]}. They looked behind ${place.spots[1]}. At last, ${b.name} saw something ${pick(["bright", "small", "round"])} near ${place.spots[2]}.`,
      `It was the ${obj}! ${a.name} was so ${pick(FEELINGS_GOOD)}. "Thank you, ${b.name}!" ${a.he} said, and ${a.he} gave ${b.name} a big hug.`,
      chance(0.5) ? pick(LESSONS.slice(0, 2)) : ending(a, b),
    ];
    return s.join(" ");
  };

  const sharing = (): string => {
    const a = character();
    const b = friendOf(a);
    const food = pick(FOODS);
    const obj = pick(OBJECTS);
    const thing = chance(0.5) ? food : `new ${obj}`;
    const s = [
      opening(a),
      `One day, ${a.name} had ${thing.startsWith("new") ? `a ${thing}` : thing}. ${cap(a.he)} did not want to share.`,
      `${b.name} the ${b.kind} came to play. "Can I have some too?" asked ${b.name}.`,
      `"No, it is mine," said ${a.name}. ${b.name} looked sad and walked away slowly.`,
      `${a.name} sat alone. The ${thing.replace(/^new /, "")} was nice, but it was not much fun alone.`,
      `${cap(a.he)} thought about ${b.name}. Then ${a.he} ran after ${b.him} and said, "I am sorry. Let's share!"`,
      `${b.name} smiled a big smile. They ${thing.startsWith("new") ? "took turns and played together" : "sat under a tree and ate together"}.`,
      `${a.name} felt ${pick(FEELINGS_GOOD)} inside.`,
      chance(0.6) ? pick([LESSONS[0]!, LESSONS[5]!]) : ending(a, b),
    ];
    return s.join(" ");
  };

  const fear = (): string => {
    const a = character();
    const helper = pick(["Mom", "Dad", "Grandma", "Grandpa", "a wise old owl", "a big sister"]);
    const f = pick(FEARS);
    const s = [
      opening(a),
      `${a.name} was afraid of ${f.thing}. Every time, ${f.scary}, and ${a.name} wanted to run away.`,
      `One day, ${helper} saw that ${a.name} was scared. "What is wrong?" ${helper === "Mom" || helper === "Grandma" || helper === "a big sister" ? "she" : "he"} asked.`,
      `"I am scared of ${f.thing}," said ${a.name} in a small voice.`,
      `"It is okay to be scared," said ${helper}. "Let's try together, one small step at a time."`,
      `So ${a.name} took a deep breath. ${cap(a.he)} ${f.try}.`,
      `It was not so bad! ${cap(a.he)} tried again, and then again.`,
      `Soon ${a.name} was not afraid anymore. ${cap(a.he)} felt brave and ${pick(FEELINGS_GOOD)}.`,
      chance(0.5) ? LESSONS[4]! : `"I did it!" said ${a.name}, and ${helper} gave ${a.him} a big hug.`,
    ];
    return s.join(" ");
  };

  const tryAgain = (): string => {
    const a = character();
    const b = friendOf(a);
    const g = pick(GOALS);
    const s = [
      opening(a),
      `${a.name} wanted to ${g.want}. ${cap(a.he)} asked ${b.name} the ${b.kind} to help.`,
      `They worked hard together. But ${g.fail}.`,
      pick([
        `${a.name} was sad. "Maybe we can not do it," ${a.he} said.`,
        `"Oh no," said ${a.name}. ${cap(a.he)} wanted to give up.`,
      ]),
      `"Let's try one more time," said ${b.name}. "We can learn from what went wrong."`,
      `This time ${g.fix}. They waited and watched.`,
      `At last, ${g.end}! ${a.name} and ${b.name} jumped and clapped.`,
      chance(0.6) ? LESSONS[2]! : ending(a, b),
    ];
    return s.join(" ");
  };

  const rainyDay = (): string => {
    const a = character();
    const b = friendOf(a);
    const place = pick(PLACES);
    const inside = pick([
      "built a fort with blankets and pillows",
      "made a puppet show with old socks",
      "drew a map of a magic island",
      "baked little cookies with Mom",
      "played a game of hide and seek in the house",
    ]);
    const s = [
      opening(a),
      `${a.name} and ${b.name} wanted to go to ${place.name} to see ${pick(place.sights)}.`,
      `But when they looked out of the window, it was raining. Drip, drop, drip went the rain.`,
      `"Now we can not go out," said ${a.name}, and ${a.he} felt grumpy.`,
      `${b.name} had an idea. "We can play inside!" So they ${inside}.`,
      `It was so much fun that they forgot about the rain.`,
      `When the sun came out, they saw a big rainbow over ${place.name}. "Look!" said ${b.name}. "The rain gave us a rainbow."`,
      ending(a, b),
    ];
    return s.join(" ");
  };

  const helpAnimal = (): string => {
    const a = character();
    const [animalName, animal] = pick(ANIMALS.filter(([n]) => n !== a.name));
    const place = pick(PLACES);
    const s = [
      opening(a),
      `One day, ${a.name} went to ${place.name}. Near ${pick(place.spots)}, ${a.he} found a little ${animal} that could not move well.`,
      `The ${animal} had a hurt ${pick(["leg", "wing", "paw"])}. It looked cold and scared.`,
      `${a.name} was gentle. ${cap(a.he)} picked up the ${animal} very slowly and took it home in a soft box.`,
      `${cap(a.he)} gave it water and a warm blanket. ${cap(a.he)} called it ${animalName}.`,
      `Every day ${a.name} took care of ${animalName}, and every day ${animalName} got a little stronger.`,
      `After a week, ${animalName} was well again. ${a.name} took it back to ${place.name} and let it go.`,
      `${animalName} looked back once, as if to say thank you. ${a.name} waved and felt ${pick(FEELINGS_GOOD)}.`,
      chance(0.5) ? LESSONS[3]! : `${a.name} knew it had been a very good thing to do.`,
    ];
    return s.join(" ");
  };

  const kinds = [lostThing, sharing, fear, tryAgain, rainyDay, helpAnimal];
  const stories: string[] = [];
  const seen = new Set<string>();
  const count = Number(values.count);
  while (stories.length < count) {
    const story = pick(kinds)();
    if (seen.has(story)) continue; // keep every story distinct
    seen.add(story);
    stories.push(story);
  }
  writeFileSync(values.out!, stories.join("\n\n") + "\n");
  process.stdout.write(`wrote ${stories.length} stories to ${values.out}\n`);
}

main();
