"""Profile validation errors as the user wrote the profile: each error's location without pydantic's union tags."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def _user_location(loc: tuple[Any, ...], data: object) -> str:
    """``loc`` as the user wrote it: the union tags pydantic inserts (an action kind, a term's ``kind``) dropped.
    A part is a tag when it is not a key (or index) of the data at that point."""
    out = ""
    here: object = data
    for part in loc:
        if isinstance(here, dict) and part in here:
            out += f".{part}" if out else str(part)
            here = here[part]
        elif isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
            out += f".{part}" if out else str(part)
            here = here[part]
        elif isinstance(here, dict) and isinstance(part, str) and part in (here.get("kind"), here.get("source")):
            continue  # a discriminated union's tag: the kind (or model input source) the user wrote, in the data
        elif isinstance(part, str) and loc and loc[0] == "action" and part in ("twist", "joint"):
            continue  # the action union's tag (twist / joint), pydantic's bookkeeping
        else:
            out += f".{part}" if out else str(part)  # a field the user left out (missing) lives here
            here = None
    return out or "(top level)"


def format_validation_error(err: ValidationError, source: str, data: object = None) -> str:
    lines = [f"invalid robot profile {source}:"]
    for e in err.errors():
        loc = _user_location(tuple(e["loc"]), data)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] in ("extra_forbidden",):
            msg = "unknown field; check its spelling against the documented fields"
        if loc == "action.output" and e["type"] == "literal_error":
            msg = "Input should be 'twist', 'twist_stamped', 'joint_positions' or 'joint_torques'"
        value = e.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"  {loc}: {msg}{shown}")
    return "\n".join(lines)
