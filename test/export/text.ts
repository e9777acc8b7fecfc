// Held-out text for quantization checks: TinyStories-like sentences written for these tests.
export const HELD_OUT = [
  "Once upon a time, there was a little girl named Mia who loved to paint. Every morning she took her brushes to the garden and painted the flowers.",
  "One day, a big gray cat came into the garden. The cat sat on the grass and looked at Mia with round yellow eyes.",
  'Mia said, "Hello, cat! Do you want to see my picture?" The cat did not answer, but it walked closer and sniffed the paper.',
  "Then the wind blew hard and the paper flew up into the tree. Mia was sad. She did not know how to get it back.",
  "The cat jumped onto the first branch, then the second one. It pushed the paper with its paw until it fell down softly.",
  'Mia laughed and hugged the cat. "Thank you, my friend," she said. From that day on, the cat came to the garden every morning.',
  "Tom had a red ball that he liked very much. He played with it in the park with his dog, Max, who ran fast and barked loudly.",
  "When the sun went down, Tom and Max walked home. Mom made warm soup and bread, and they all ate together at the little table.",
  "Before bed, Tom looked out of the window at the moon. He said good night to the stars and fell asleep with a smile.",
  "The next day it rained. Lily put on her yellow boots and jumped in every puddle she could find on the way to school.",
  "Her friend Ben was afraid of the thunder. Lily held his hand and told him a funny story about a frog who wanted to fly.",
  "Ben laughed so much that he forgot about the storm. When the rain stopped, they saw a big rainbow over the hill.",
].join(" ");
