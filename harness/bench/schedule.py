"""Which rounds the benchmark times, and when it stops: decisions from numbers and samples
(no clients, servers or clock: `now` and deadlines are passed in).

- **Budget** (`Budget`). `--bench-budget` B (seeding and warming the servers come on top; each
  part gets its minimum rounds whatever the budget): every operation but the 64 MB transfers
  gets `min_fast_rounds` rounds; then, until `1 - client_share` of B (the share the gate was
  calibrated with), rounds go only to the operations still inconclusive (the gate ends early
  when every operation is decided). The client side follows, for `client_share` of B at most
  and until `1 - large_share` of B from the start at the latest; then the re-timing on new
  connections and the remedies (`diagnosis_share` of B); the 64 MB transfers come last, in
  `large_share` of B.
- **Adaptive rounds** (`Rounds`, `undecided`): cheap operations get many rounds and expensive
  ones (log_model) few; a change seen in few rounds gets more before it counts as decided.
- **Conditions** (`condition`): rounds rotate over the client processes and over which server
  goes first, so a per-process state lands on both sides alike and the interval carries its
  variance.
- **Large rounds** (`another_fits`): up to `large_rounds` of each 64 MB transfer, the first
  always, a further one only when it fits in the transfer's part of what is left; downloads
  are timed in a block per server (`DOWNLOAD_ROOM`).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.bench.analysis import NEW, OLD, REUSED, Samples
from harness.bench.operations import BY_NAME
from harness.bench.stats import Verdict
from harness.bench.tuning import TUNING, BenchSettings, Tuning

# Rounds a further download must leave room for before its deadline, per block: a further
# old download must leave room for its new partner too.
DOWNLOAD_ROOM = {OLD: 2, NEW: 1}


@dataclass(frozen=True)
class Condition:
    """What a round holds fixed for both servers: the client process, the connection every
    timed call starts on, and which server goes first."""

    process: int
    connection: str
    first: str

    @property
    def order(self) -> tuple[str, str]:
        """Both sides, the one that goes first first."""
        return (OLD, NEW) if self.first == OLD else (NEW, OLD)


def condition(index: int, processes: int = TUNING.client_processes,
              connection: str = REUSED) -> Condition:
    """Round `index`'s condition: processes rotate every round, the server that goes first
    every `processes` rounds, so every 2 × processes rounds hold each (process, first) pair
    once. Gate rounds run on kept-alive connections (how MLflow's clients call a server);
    the diagnosis re-times regressed operations on new connections."""
    return Condition(process=index % processes, connection=connection,
                     first=(OLD, NEW)[(index // processes) % 2])


def undecided(samples: Samples, ops: list[str], threshold: float,
              index: int | None = None, tuning: Tuning = TUNING) -> list[str]:
    """The operations whose comparison is still inconclusive: further rounds go to them.
    With the round's `index`, an expensive one (a round of it costs more than `cheap_s`, e.g.
    log_model at ~8 s on 3.4.0) only every `expensive_every` rounds while cheap ones are
    still undecided, so the budget buys many rounds of the operations a round costs little."""
    open_ops = [op for op in ops if len(samples.old.get(op, [])) < 2
                or _open(samples, op, threshold, tuning)]
    if index is None or index % tuning.expensive_every == 0:
        return open_ops
    cheap = [op for op in open_ops if samples.round_cost(op) < tuning.cheap_s]
    return cheap or open_ops


def _open(samples: Samples, op: str, threshold: float, tuning: Tuning = TUNING) -> bool:
    """Still worth a round: inconclusive, or a change (regression, improvement) seen in fewer
    than `confirm_rounds` rounds. Stopping an operation at the first lucky streak would turn
    the adaptive schedule's many looks into false alarms."""
    comparison = samples.compare(op, threshold)[0]
    if comparison.verdict is Verdict.INCONCLUSIVE:
        return True
    changed = comparison.verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT)
    return changed and comparison.rounds < tuning.confirm_rounds


def straddlers(samples: Samples, ops: list[str], threshold: float, index: int, left_s: float,
               tuning: Tuning = TUNING) -> list[str]:
    """The undecided operations worth rounds past the deadline: their interval straddles the
    threshold and the rounds that would likely settle it (`Comparison.more_rounds`) fit in
    `straddler_rounds` and in the `left_s` seconds of the extension."""
    chosen = []
    for op in undecided(samples, ops, threshold, tuning=tuning):
        comparison = samples.compare(op, threshold)[0]
        needed = comparison.more_rounds
        if comparison.verdict is not Verdict.INCONCLUSIVE or needed is None:
            continue  # a change to confirm is settled by the rounds it already has
        if index + needed <= tuning.straddler_rounds \
                and samples.round_cost(op) * needed <= left_s:
            chosen.append(op)
    return chosen


@dataclass(frozen=True)
class Rounds:
    """A loop of rounds: `minimum` rounds of every operation whatever the clock, then rounds
    of the undecided ones until `deadline` (`max_fast_rounds` at most), then, until
    `extended` (None: no extension), rounds of the straddlers more rounds would settle."""

    minimum: int
    deadline: float
    threshold: float
    tuning: Tuning = TUNING
    extended: float | None = None

    def next(self, samples: Samples, ops: list[str], index: int, now: float) -> list[str]:
        """The operations round `index` times when it starts at `now`; none: the loop ends."""
        if not ops:
            return []
        if index < min(self.minimum, self.tuning.max_fast_rounds):
            return list(ops)
        if index < self.tuning.max_fast_rounds and now < self.deadline:
            return undecided(samples, ops, self.threshold, index, self.tuning)
        if self.extended is not None and now < self.extended:
            return straddlers(samples, ops, self.threshold, index, self.extended - now,
                              self.tuning)
        return []


def extension_until(started: float, deadline: float, tuning: Tuning = TUNING) -> float:
    """Until when straddlers get rounds past a loop's `deadline`: a share of its own time."""
    return deadline + max(0.0, deadline - started) * tuning.straddler_extension


@dataclass(frozen=True)
class Budget:
    """How `--bench-budget` is shared among the phase's parts: each part's deadline."""

    seconds: float
    client_side: bool = True
    large: bool = True  # the large transfers are among the operations
    tuning: Tuning = TUNING

    @classmethod
    def of(cls, settings: BenchSettings) -> Budget:
        return cls(settings.budget_s, settings.client_side,
                   any(BY_NAME[op].large for op in settings.operations), settings.tuning)

    @property
    def large_share(self) -> float:
        """Of the budget, what the large transfers' rounds may take (none without them)."""
        return self.tuning.large_share if self.large else 0.0

    def gate_until(self, started: float) -> float:
        """The server-side gate's deadline, the rounds having `started`: the share the gate
        was calibrated with (all of it without the client side)."""
        share = 1 - self.tuning.client_share if self.client_side else 1.0
        return started + self.seconds * share

    def client_until(self, now: float, started: float) -> float:
        """The client side's deadline: its share from `now`, and no later than the large
        rounds' share before the end of the budget."""
        return min(now + self.seconds * self.tuning.client_share,
                   started + self.seconds * (1 - self.large_share))

    def diagnosis_until(self, now: float) -> float:
        """The re-timing's and the remedies' deadline."""
        return now + self.seconds * self.tuning.diagnosis_share

    def large_until(self, now: float) -> float:
        """The large transfers' deadline."""
        return now + self.seconds * self.large_share


def large_order(large: list[str]) -> list[str]:
    """The large transfers in the order they are timed: uploads first."""
    return sorted(large, key=lambda op: op.startswith("download_"))


def part_until(now: float, deadline: float, parts_left: int) -> float:
    """The deadline of the next of `parts_left` parts sharing what is left before
    `deadline` alike."""
    return now + (deadline - now) / parts_left


def another_fits(done: int, now: float, last_s: float, until: float, room: int = 1) -> bool:
    """Whether a further large round starts: the first always; after `done` rounds, one that
    ends with `room` times the last one's `last_s` seconds by `until`."""
    return not done or now + room * last_s <= until
