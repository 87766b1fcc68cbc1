"""The function's two ways of reading its input and writing its output, interchangeable under one flow.

:class:`~r2k8s.krm.function.Processor` runs the same steps on either path
(read, function config, plan, apply or explain, agent ConfigMaps, results);
a path only says how the text becomes items and how changed items become
text again:

* :class:`SplicePath`, the fast path (:mod:`.splice`): libyaml reads the
  input, unchanged items are copied as text and only changed ones are
  rewritten. It answers an input that holds no formula reference with the
  input itself, byte for byte. It raises :class:`Fallback` wherever it cannot
  answer: an input libyaml or the splicer does not take, and every problem
  (only the round trip reports problems, in the words and ``results`` users
  see);
* :class:`RoundTripPath`, the full path (:mod:`.yamlio`, ruamel.yaml): reads
  and writes every item, keeping comments and scalars as written, and writes
  problems as ``results`` into a ResourceList. It never falls back.

Before a path reads, the processor checks the input's shape (:mod:`.limits`).
A path factory with ``libyaml_only = True`` (the splice) reads the input with
libyaml alone, so the cheap check, sound for libyaml, may decide whether the
exact one runs; any other path gets the exact check.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from r2k8s.krm.patch import Operation
from r2k8s.krm.resource_list import FunctionInput, read_input, stream_sources, write_output
from r2k8s.krm.results import Results

if TYPE_CHECKING:
    from r2k8s.krm.splice import Layout  # imports PyYAML: only the splice path, once it reads, needs it

__all__ = ["Fallback", "IOPath", "IOPathFactory", "Patches", "RoundTripPath", "SplicePath"]

Patches = Sequence[tuple[int, Sequence[Operation]]]
"""Item index and the JSON-patch operations planned for that item, in item order."""


class Fallback(Exception):
    """This path cannot answer this input: the next one will."""


class IOPath(Protocol):
    """How one input is read and its answer written; made per input by an :data:`IOPathFactory`."""

    @property
    def name(self) -> str:
        """Which path answered (``splice`` or ``round-trip``), as :class:`~r2k8s.krm.function.Outcome` tells."""
        ...

    def read(self) -> FunctionInput:
        """The items and function config; raises ``R2k8sError`` for input to refuse (or :class:`Fallback`)."""
        ...

    def plain(self, config: Any) -> Any:
        """The function config as plain data, for validation."""
        ...

    def as_given(self, explaining: bool) -> bool:
        """True when the input itself is the answer, without planning (the text can change nothing)."""
        ...

    def write(
        self,
        given: FunctionInput,
        patches: Patches,
        added: Sequence[Any],
        results: Results,
        removed: Collection[int] = (),
    ) -> str:
        """The output: ``given`` with ``patches`` applied, the items at ``removed`` left out, ``added`` items
        appended and non-error ``results``."""
        ...

    def failed(self, given: FunctionInput | None, results: Results) -> str:
        """The output of a failed run: the unchanged ResourceList with the error ``results``, or nothing."""
        ...


class IOPathFactory(Protocol):
    def __call__(self, text: str, origin: str) -> IOPath: ...


class SplicePath:
    """libyaml in, spliced text out; falls back on anything unusual and on every problem."""

    name = "splice"
    libyaml_only = True
    """Reads the whole input with libyaml alone (ruamel.yaml only re-reads items libyaml read), so the cheap
    shape check (:func:`~r2k8s.krm.limits.might_be_hostile`, sound for libyaml) may gate the exact one."""

    def __init__(self, text: str, origin: str) -> None:
        self.text = text
        self._layout: Layout | None = None

    def read(self) -> FunctionInput:
        from r2k8s.krm import scan, splice

        text = self.text
        if not text.strip():
            raise Fallback("no input: the round trip says what is wrong")
        layout = scan.layout(text) or splice.layout(text)
        if layout is None or not layout.documents:
            raise Fallback("not plain block YAML")
        if layout.mode == "list":
            document = layout.documents[0]
            items = document.get("items")
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise Fallback("the ResourceList's items are not a list of resources")
            function_config = document.get("functionConfig")
            sources: list[str | None] = []
        else:
            items = layout.documents
            if not all(isinstance(i, dict) for i in items):
                raise Fallback("a document is not a resource")
            function_config = None
            sources = [source for _, source in stream_sources(text)]
            sources = sources if len(sources) == len(items) else []
        self._layout = layout
        return FunctionInput(layout.mode, items, function_config, None, sources, layout.partial, self._complete)

    def _complete(self, index: int) -> Any:
        """A partial item's whole data, read from its own text (:mod:`.scan`)."""
        from r2k8s.krm import scan

        assert self._layout is not None  # partial items come from a layout
        start, end, column = self._layout.spans[index]
        whole = scan.build_mapping(" " * column + self.text[start:end])
        if whole is None:
            raise Fallback("an item that reads otherwise on its own")
        return whole

    def plain(self, config: Any) -> Any:
        return config  # libyaml's data is plain already (and so is a --config document, or it is used as given)

    def as_given(self, explaining: bool) -> bool:
        from r2k8s.krm.formula_items import is_formula_item
        from r2k8s.krm.quick import maybe_formula_reference

        layout = self._layout
        if layout is not None and layout.mode == "stream" and any(map(is_formula_item, layout.documents)):
            return False  # a plain stream goes to a cluster: its Formula items are left out
        return not maybe_formula_reference(self.text) and not explaining

    def write(
        self,
        given: FunctionInput,
        patches: Patches,
        added: Sequence[Any],
        results: Results,
        removed: Collection[int] = (),
    ) -> str:
        from r2k8s.krm import splice

        if not patches and not added and not len(results) and not removed:
            return self.text
        if self._layout is None:
            raise Fallback("nothing was read")
        if any(index in self._layout.crossing for index, _ in patches):
            raise Fallback("an alias crosses from a changed item into another part: the round trip writes all")
        encoded = results.encode() if given.mode == "list" else []  # a plain stream has nowhere for results
        changes = {index: list(ops) for index, ops in patches}
        output = splice.splice(self.text, self._layout, changes, list(added), encoded, removed=removed)
        if output is None:
            raise Fallback("an item's text cannot be re-read (or left out) on its own")
        return output

    def failed(self, given: FunctionInput | None, results: Results) -> str:
        raise Fallback("the round trip reports problems")


class RoundTripPath:
    """ruamel.yaml in and out: every item read and written, results written into a ResourceList."""

    name = "round-trip"

    def __init__(self, text: str, origin: str) -> None:
        self.text = text
        self.origin = origin

    def read(self) -> FunctionInput:
        return read_input(self.text, self.origin)

    def plain(self, config: Any) -> Any:
        from r2k8s.krm import yamlio

        return yamlio.to_plain(config)

    def as_given(self, explaining: bool) -> bool:
        return False  # the round trip always writes its own output (aliases expanded, dash comments dropped)

    def write(
        self,
        given: FunctionInput,
        patches: Patches,
        added: Sequence[Any],
        results: Results,
        removed: Collection[int] = (),
    ) -> str:
        from r2k8s.krm.patch import apply_round_trip

        if given.mode == "stream" and given.items and not patches and not added and not len(results) and not removed:
            return self.text  # nothing changed: a plain stream (helm, a resolver) gets its own bytes back
        spliced = self._spliced(given, patches, added, results, removed)
        if spliced is not None:
            return spliced
        for index, operations in patches:
            apply_round_trip(given.items[index], operations)
        for index in sorted(removed, reverse=True):
            del given.items[index]
        from r2k8s.krm import yamlio

        given.items.extend(yamlio.block(item) for item in added)  # plain data from the planner: written block style
        return write_output(given, results.encode())

    def failed(self, given: FunctionInput | None, results: Results) -> str:
        if given is not None and given.mode == "list":
            spliced = self._spliced(given, (), (), results)
            return spliced if spliced is not None else write_output(given, results.encode())
        return ""

    def _spliced(
        self,
        given: FunctionInput,
        patches: Patches,
        added: Sequence[Any],
        results: Results,
        removed: Collection[int] = (),
    ) -> str | None:
        """The answer with only the changed items re-written (by ruamel.yaml, as this path reads them) and the
        rest of the text as it came; ``None`` where that cannot be done (libyaml cannot parse the text, an item
        cannot be read on its own, a changed item's anchor or alias reaches into another part of the
        ResourceList): then every item is written, every alias expanded.

        The last is the one limit: the changed item is written with its aliases expanded and its anchors dropped,
        so an alias elsewhere naming one of its anchors would name nothing, and its own alias naming an anchor
        elsewhere cannot be read on its own. PyYAML writes such lists when one object is in two items; kpt (an
        item per document) and kustomize (it expands aliases) do not."""
        from r2k8s.krm import splice, yamlio

        if not given.items and given.mode == "stream":
            return None  # no resources: the answer is empty, and the processor says so
        layout = splice.spans(self.text, given.mode)
        if layout is None or len(layout.spans) != len(given.items):
            return None
        if any(index in layout.crossing for index, _ in patches):
            return None
        before = {index: yamlio.to_plain(given.items[index]) for index, _ in patches}

        def rewrite(index: int, alone: str, operations: Sequence[Operation]) -> str | None:
            return splice.rewrite_round_trip(alone, before[index], operations)

        changes = {index: list(ops) for index, ops in patches}
        encoded = results.encode() if given.mode == "list" else []
        return splice.splice(self.text, layout, changes, list(added), encoded, rewrite, removed=removed)
