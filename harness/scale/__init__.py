"""The store a run works on at production size (`--scale`): its size, its bulk seed into the
old version's schema, the samples that check it, and its copies for the sides and the drill."""
