"""The values the edges scenario writes, and how a value read back is compared with them.

Stdlib only: the client modules import it inside each MLflow environment (`edges.py`,
`seed.py`), and the harness imports it for the scenario's checks and their unit tests, so both
sides derive the same expected values from the same code.

A value read back is *shown* verbatim when it is short and as `{"chars", "bytes", "sha256"}`
when it is long, so observations stay small and any change to a long value still shows.
"""

import hashlib
import json
from typing import Any

MetricPoint = tuple[str, float, int, int]  # key, value, timestamp (ms), step
Batch = dict[str, list[Any]]  # "metrics": [MetricPoint], "params"/"tags": [(key, value)]

# Each limited field → the constant of `mlflow.utils.validation` documenting its maximum, and
# the SQLAlchemy column (module, class, column) that stores it. A field without a constant
# (descriptions) is limited by its column alone.
LIMITED_FIELDS = {
    "param_key": ("MAX_ENTITY_KEY_LENGTH", ("tracking", "SqlParam", "key")),
    "param_value": ("MAX_PARAM_VAL_LENGTH", ("tracking", "SqlParam", "value")),
    "metric_key": ("MAX_ENTITY_KEY_LENGTH", ("tracking", "SqlMetric", "key")),
    "run_tag_key": ("MAX_ENTITY_KEY_LENGTH", ("tracking", "SqlTag", "key")),
    "run_tag_value": ("MAX_TAG_VAL_LENGTH", ("tracking", "SqlTag", "value")),
    "experiment_tag_key": ("MAX_EXPERIMENT_TAG_KEY_LENGTH",
                           ("tracking", "SqlExperimentTag", "key")),
    "experiment_tag_value": ("MAX_EXPERIMENT_TAG_VAL_LENGTH",
                             ("tracking", "SqlExperimentTag", "value")),
    "registered_model_tag_key": ("MAX_MODEL_REGISTRY_TAG_KEY_LENGTH",
                                 ("model_registry", "SqlRegisteredModelTag", "key")),
    "registered_model_tag_value": ("MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH",
                                   ("model_registry", "SqlRegisteredModelTag", "value")),
    "model_version_tag_key": ("MAX_MODEL_REGISTRY_TAG_KEY_LENGTH",
                              ("model_registry", "SqlModelVersionTag", "key")),
    "model_version_tag_value": ("MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH",
                                ("model_registry", "SqlModelVersionTag", "value")),
    "registered_model_description": (None, ("model_registry", "SqlRegisteredModel",
                                            "description")),
    "model_version_description": (None, ("model_registry", "SqlModelVersion", "description")),
}
KEY_FIELDS = {name for name in LIMITED_FIELDS if name.endswith("_key")}
VIAS = ("client", "rest")

# Long values mix 1-, 2-, 3- and 4-byte UTF-8 characters: a store that counts bytes, or
# UTF-16 units, instead of characters shows at the limit. Keys allow only word characters.
VALUE_PATTERN = "edge-é漢😀 "
KEY_PATTERN = "ké漢_"
SHOWN_MAX = 256  # longer values are shown by length and digest
UNLIMITED_PROBE = 100_000

# Odd text every version must store and serve byte for byte.
ODD_TEXT = {
    "multibyte": "naïve café – 日本語 – Ελληνικά – русский",
    "emoji": "🚀 ok 👍🏽 family 👨\u200d👩\u200d👧\u200d👦 flag 🇩🇪",
    "combining": "e\u0301 (decomposed) vs \u00e9 (composed)",
    "newlines": "line1\nline2\r\nline3\ttabbed\n",
    "quotes": "it's \"quoted\" `ticked` \\backslash\\ %s {0}",
    "markup": "<b>bold</b> &amp; <script>alert(1)</script>",
    "sql": "x'; DROP TABLE params; --",
    "json": '{"a": [1, 2.5, null], "b": "\\u00e9"}',
    "spaces": "  leading and trailing  ",
    "rtl": "שלום مرحبا",
    "invisible": "a\u200bb\u200dc\ufeffd",
    "empty": "",
}
ODD_MEDLEY = "\n".join(f"{name}: {value}" for name, value in ODD_TEXT.items())
# Keys with characters MLflow allows in names: `/`, `.`, `-`, space and non-ASCII letters.
ODD_KEYS = {
    "slash": "edge/loss/val",
    "dot": "edge.loss.v2",
    "mixed": "val/top-1 acc.best",
    "unicode": "température_μ",
}
# Keys some versions refuse: each version's answer is recorded and compared.
CONTESTED_KEYS = {
    "colon": "epoch:1",
    "dotdot": "../escape",
    "double_slash": "a//b",
    "emoji": "🚀",
}

FLOATS = {  # metric values, by a name usable in a metric key
    "nan": float("nan"),
    "inf": float("inf"),
    "neg_inf": float("-inf"),
    "neg_zero": -0.0,
    "max": 1.7976931348623157e308,
    "neg_max": -1.7976931348623157e308,
    "min_normal": 2.2250738585072014e-308,
    "min_subnormal": 5e-324,
    "tiny": 1e-300,
    "huge": 1e300,
    "sum_0.1_0.2": 0.1 + 0.2,
    "2_pow_53_plus_1": float(2**53 + 1),
}
# SQL stores cannot hold ±inf: SqlAlchemyStore writes ±max float instead (a comment in its
# _get_metric_value_details / sanitize_metric_value, every version since 1.x).
SQL_STORED_AS = {"inf": 1.7976931348623157e308, "neg_inf": -1.7976931348623157e308}
# (step, timestamp in ms) pairs at the ends of int64 and of what JSON/JS numbers hold exactly.
STEPS_AND_TIMESTAMPS = [
    (0, 0),
    (-1, 1),
    (2**31, 2**31),
    (2**53 + 1, 2**53 + 1),
    (2**63 - 1, 2**63 - 1),
    (-(2**63), 2**62),
]

T0 = 1_700_000_000_000  # a fixed timestamp (ms) for values whose time does not matter
PAGE_SIZES = {"runs": 10, "experiments": 5, "registered_models": 5, "model_versions": 10}
PAGED = {"runs": 23, "experiments": 12, "registered_models": 12, "model_versions": 23}
HISTORY_POINTS = 2500
HISTORY_PAGE = 1000


def text(length: int, pattern: str = VALUE_PATTERN, mark: str = "") -> str:
    """A deterministic text of exactly `length` characters, starting with `mark`."""
    body = (pattern * (length // len(pattern) + 1))
    return (mark + body)[:length]


def key_text(length: int, mark: str) -> str:
    return text(length, KEY_PATTERN, mark)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def shown(value: Any) -> Any:
    """What an observation records of a value read back: itself, or its length and digest."""
    if not isinstance(value, str) or len(value) <= SHOWN_MAX:
        return value
    return {"chars": len(value), "bytes": len(value.encode("utf-8", "surrogatepass")),
            "sha256": digest(value)}


def size(observed: Any) -> tuple[int, int] | None:
    """(characters, UTF-8 bytes) of a shown value, or None when it is not text."""
    if isinstance(observed, str):
        return len(observed), len(observed.encode("utf-8", "surrogatepass"))
    if isinstance(observed, dict) and "chars" in observed:
        return observed["chars"], observed["bytes"]
    return None


def float_text(value: float) -> str:
    """A float as exact text (repr round-trips; -0.0 and nan stay distinct)."""
    return repr(float(value))


def change(expected: str, observed: Any) -> str | None:
    """How an observed (shown) value differs from the expected text: None when identical,
    else 'missing', 'truncated' (a prefix), or 'changed'."""
    if observed == shown(expected):
        return None
    if observed is None or observed == "<absent>":
        return "missing"
    measured = size(observed)
    if measured is not None and measured[0] < len(expected) \
            and observed == shown(expected[:measured[0]]):
        return "truncated"
    return "changed"


def lost(field: str, expected: str, observed: Any) -> str | None:
    """A sentence naming the field and the length before and after, or None if identical."""
    kind = change(expected, observed)
    if kind is None:
        return None
    before = f"{len(expected)} chars/{len(expected.encode('utf-8', 'surrogatepass'))} bytes"
    measured = size(observed)
    after = f"{measured[0]} chars/{measured[1]} bytes" if measured else repr(observed)
    return f"{field}: {kind}, written {before}, read back {after}"


def probe_lengths(documented: int | None, column: int | None) -> dict[str, int]:
    """The lengths a limit probe writes: at the limit (the narrower of what the version
    documents and its column holds) and one past it; and at the documented maximum when the
    column is narrower. A field with neither limit gets one large value."""
    known = [n for n in (documented, column) if n]
    if not known:
        return {"large": UNLIMITED_PROBE}
    limit = min(known)
    lengths = {"at_limit": limit, "past_limit": limit + 1}
    if documented and documented > limit:
        lengths["at_documented"] = documented
    return lengths


def probe_mark(role: str, via: str) -> str:
    return f"{role}-{via}-"


def probe_text(field: str, role: str, via: str, length: int) -> tuple[str, str]:
    """(key, value) a limit probe writes: the long text is the key or the value."""
    if field in KEY_FIELDS:
        return key_text(length, probe_mark(role, via)), "v"
    key = "" if field.endswith("description") else f"{role}.{via}"
    return key, text(length, mark=f"{role}/{via}:")


def odd_key(name: str, via: str, table: dict[str, str] | None = None) -> str:
    """The key an odd value is written under (`table` None), or the odd key itself."""
    if table is None:
        return f"odd.{name}.{via}"
    return table[name] if via == "client" else f"rest/{table[name]}"


def batches() -> dict[str, Batch]:
    """log_batch requests at its documented maxima and one item over each."""
    def metrics(key: str, count: int) -> list[MetricPoint]:
        return [(key, i * 0.5, T0 + i, i) for i in range(count)]

    def pairs(key: str, count: int) -> list[tuple[str, str]]:
        return [(f"{key}.{i:03d}", f"value {i} é") for i in range(count)]

    return {
        "metrics_at_max": {"metrics": metrics("bm", 1000), "params": [], "tags": []},
        "entities_at_max": {"metrics": metrics("be", 800), "params": pairs("p", 100),
                            "tags": pairs("t", 100)},
        "metrics_over": {"metrics": metrics("om", 1001), "params": [], "tags": []},
        "params_over": {"metrics": [], "params": pairs("op", 101), "tags": []},
        "tags_over": {"metrics": [], "params": [], "tags": pairs("ot", 101)},
        "entities_over": {"metrics": metrics("oe", 900), "params": pairs("oep", 100),
                          "tags": pairs("oet", 1)},
    }


def batch_summary(metrics: list[list[str]], params: list[list[str]],
                  tags: list[list[str]]) -> dict[str, Any]:
    """Counts and one digest of a batch's items: [key, step, timestamp, value] per metric
    point and [key, value] per param and tag, as texts."""
    items = sorted(json.dumps(item, ensure_ascii=False) for item in [*metrics, *params, *tags])
    return {"metrics": len(metrics), "params": len(params), "tags": len(tags),
            "digest": digest("\n".join(items))}


def expected_batch(batch: Batch) -> dict[str, Any]:
    return batch_summary(
        [[k, str(step), str(ts), float_text(v)] for k, v, ts, step in batch["metrics"]],
        [list(p) for p in batch["params"]], [list(t) for t in batch["tags"]])


def history_points() -> list[tuple[float, int, int]]:
    """(value, timestamp, step) of the paged metric history."""
    return [(i / 4, T0 + i, i) for i in range(HISTORY_POINTS)]


def history_summary(points: list[list[str]]) -> dict[str, Any]:
    """Points, distinct steps and a digest of a history read as [step, timestamp, value]."""
    return {"points": len(points), "steps": len({p[0] for p in points}),
            "digest": digest(json.dumps(sorted(points)))}


def expected_history() -> dict[str, Any]:
    return history_summary([[str(step), str(ts), float_text(v)]
                            for v, ts, step in history_points()])


def paged(kind: str) -> list[str]:
    """The names a paging collection holds, in the order its search returns them."""
    count = PAGED[kind]
    if kind == "runs":  # created with rising start times, searched newest first
        return [f"page-{i:02d}" for i in reversed(range(count))]
    if kind == "model_versions":
        return [str(i) for i in range(1, count + 1)]
    return [f"page-{i:02d}" for i in range(count)]
