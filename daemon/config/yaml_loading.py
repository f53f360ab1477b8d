"""Reading a profile's YAML text into plain data, refusing what PyYAML's safe_load lets through.

safe_load already refuses python tags. It silently keeps the last of duplicate keys (a limit written twice: the
one the user did not mean may win), expands aliases without bound ("billion laughs": 1.6 GB and a hang from a
few hundred bytes), and recurses on deep nesting until RecursionError. Each is refused here with one line.
"""

from __future__ import annotations

import yaml

MAX_TEXT_BYTES = 1 << 20  # a robot profile is a few KiB
MAX_NODES = 100_000  # after alias expansion
MAX_DEPTH = 32


class YamlProfileError(ValueError):
    """The text is not an acceptable profile document; the message says where and why."""


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def, override]
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise YamlProfileError(f"duplicate key {key!r} on line {line} (first on line {seen[key]}): "
                                       "keep one of them")
            if isinstance(key, (str, int, float, bool)):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, depth: int, sizes: dict[int, int]) -> int:
    """Nodes after alias expansion; memoised so a bomb is measured without being expanded."""
    if depth > MAX_DEPTH:
        raise YamlProfileError(f"nested deeper than {MAX_DEPTH} levels (line {node.start_mark.line + 1}): "
                               "a profile needs a handful")
    known = sizes.get(id(node))
    if known is not None:
        return known
    n = 1
    if isinstance(node, yaml.SequenceNode):
        n += sum(_expanded_size(child, depth + 1, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        n += sum(_expanded_size(k, depth + 1, sizes) + _expanded_size(v, depth + 1, sizes) for k, v in node.value)
    if n > MAX_NODES:
        raise YamlProfileError(f"expands to more than {MAX_NODES} values (aliases repeated within aliases?): "
                               "write the profile out without nested aliases")
    sizes[id(node)] = n
    return n


def load_yaml_text(text: str) -> object:
    """The document as plain data; raises YamlProfileError (or yaml.YAMLError for a syntax error)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise YamlProfileError(f"larger than {MAX_TEXT_BYTES // 1024} KiB: a robot profile is a few KiB")
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except RecursionError:
            raise YamlProfileError(f"nested too deeply: a profile needs a handful of levels, at most {MAX_DEPTH}") from None
        if root is None:
            return None
        _expanded_size(root, 0, {})
        return loader.construct_document(root)
    finally:
        loader.dispose()
