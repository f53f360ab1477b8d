"""The YAML reader for robot profiles: safe tags only, no duplicate keys, bounded size, aliases and nesting.

Why not plain ``yaml.safe_load``: it keeps the last of two equal keys (a second ``limit:`` silently replaces the
first), and it expands aliases without bound, so a "billion laughs" file of a few hundred bytes took 1.6 GB and
never finished. A profile is a hand-written file of a few kilobytes with at most a handful of anchors; anything
far beyond that is a mistake or an attack, and is refused before it is built.
"""

from __future__ import annotations

from typing import Any

import yaml

#: Bytes of YAML text; the shipped profiles are about 3 KB.
MAX_PROFILE_BYTES = 1 << 20
#: Alias uses (``*name``) in one document.
MAX_ALIASES = 64
#: Nested mappings and sequences.
MAX_DEPTH = 32


class ProfileYamlError(ValueError):
    """The text is not a profile this reader accepts; the message says where and what to change."""


class _ProfileLoader(yaml.SafeLoader):
    """SafeLoader that counts alias uses and nesting while composing, and refuses duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 (PyYAML's own signature)
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise ProfileYamlError(f"line {mark.line + 1}: more than {MAX_ALIASES} aliases (*name) in one "
                                       "profile; write the values out instead")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ProfileYamlError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels; a profile "
                                       "needs a handful")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: let SafeLoader give its own error
                break
            if first != key_node.start_mark.line + 1:
                raise ProfileYamlError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first on line "
                                       f"{first}); keep one of them")
        return super().construct_mapping(node, deep=deep)


def read_profile_yaml(text: str) -> Any:  # noqa: ANN401 (whatever the document holds; the model checks it)
    """Parse one profile document; raises ProfileYamlError (limits, duplicates) or yaml.YAMLError (syntax)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PROFILE_BYTES:
        raise ProfileYamlError(f"the file is larger than {MAX_PROFILE_BYTES // 1024} KiB; a profile is a few KiB")
    loader = _ProfileLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
