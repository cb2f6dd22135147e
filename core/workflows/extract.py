"""Every model reference of a workflow: ``extract_references(workflow, loaders)``.

UI format: the top-level nodes, then each subgraph instance's definition (``definitions.subgraphs``, a
node whose ``type`` is a subgraph id), recursively, its nodes qualified by the instance (``"12:5"``). A
loader widget fed from a subgraph input takes the instance's value for that input (its
``widgets_values_named``, else its ``widgets_values`` in the order of the subgraph's widget inputs when
they line up one to one); that is what runs. Definitions no instance uses are read too, qualified by
their id, since a later instance will need the same files. API format: each node's ``inputs`` by name
(lists are links and are skipped). Top-level ``models`` are merged last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInput
from .document import Workflow, WorkflowFormat
from .library_nodes import LIBRARY_NODES, LibraryNode, library_choice
from .loaders import CORE_LOADERS, WIDGET_TYPES, LoaderMap
from .references import Collector, Extraction, RefSource, file_name, new_draft

SUBGRAPH_INPUT_NODE = -10  # the origin id of links that come from a subgraph's inputs
MAX_SUBGRAPH_DEPTH = 32
MAX_NODES_WALKED = 200_000  # instances of instances multiply: a bound on the whole walk


def extract_references(workflow: Workflow, loaders: LoaderMap = CORE_LOADERS) -> Extraction:
    collector = Collector()
    if workflow.format is WorkflowFormat.API:
        _api(workflow.data, loaders, collector)
    else:
        _UiWalk(workflow, loaders, collector).run()
        collector.workflow_models(workflow.data.get("models"))
    return collector.result(workflow.format)


def _api(data: Mapping[str, Any], loaders: LoaderMap, collector: Collector) -> None:
    for node_id, node in data.items():
        node_type = node["class_type"]
        inputs = node.get("inputs") or {}
        for entry in loaders.get(node_type, ()):
            name = file_name(inputs.get(entry.name))
            if name is not None:
                draft = new_draft(str(node_id), node_type, entry.category, name, input_name=entry.name)
                collector.add(draft, RefSource.WIDGET)
        ours = LIBRARY_NODES.get(node_type)
        if ours is not None:
            _library(
                collector, str(node_id), node_type, ours, inputs.get(ours.choice), inputs.get("model_ref")
            )


def _library(
    collector: Collector, node_id: str, node_type: str, ours: LibraryNode, label: object, ref: object
) -> None:
    choice = library_choice(ours, label, ref)
    if choice is not None:
        draft = new_draft(
            node_id,
            node_type,
            choice.category,
            choice.name,
            input_name=ours.choice,
            library_id=choice.library_id,
            digest=choice.hash,
        )
        collector.add(draft, RefSource.LIBRARY_NODE)


def _link_origins(links: object) -> dict[object, tuple[object, object]]:
    """link id -> (origin node id, origin slot); top-level links are arrays, subgraph links objects."""
    origins: dict[object, tuple[object, object]] = {}
    if not isinstance(links, list):
        return origins
    for link in links:
        if isinstance(link, list) and len(link) >= 3:
            origins[link[0]] = (link[1], link[2])
        elif isinstance(link, dict):
            origins[link.get("id")] = (link.get("origin_id"), link.get("origin_slot"))
    return origins


class _Graph:
    """One graph being walked: its nodes, where its links come from, its subgraph inputs and their values."""

    def __init__(self, body: Mapping[str, Any], values: Mapping[str, object]) -> None:
        nodes = body.get("nodes")
        self.nodes: list[Any] = nodes if isinstance(nodes, list) else []
        self.origins = _link_origins(body.get("links"))
        inputs = body.get("inputs")
        self.inputs: list[Any] = inputs if isinstance(inputs, list) else []
        self.values = values

    def fed_value(self, node: Mapping[str, Any], input_name: str) -> tuple[bool, object]:
        """(True, value) when the node's input is linked to one of this subgraph's inputs with a value."""
        for slot in node.get("inputs") or ():
            if not isinstance(slot, dict) or slot.get("name") != input_name or slot.get("link") is None:
                continue
            origin = self.origins.get(slot.get("link"))
            if origin is None or origin[0] != SUBGRAPH_INPUT_NODE or not isinstance(origin[1], int):
                continue
            if 0 <= origin[1] < len(self.inputs) and isinstance(self.inputs[origin[1]], dict):
                name = self.inputs[origin[1]].get("name")
                if isinstance(name, str) and name in self.values:
                    return True, self.values[name]
        return False, None


def _widget_inputs(definition: Mapping[str, Any]) -> list[str]:
    names = []
    for entry in definition.get("inputs") or ():
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and entry.get("type") in WIDGET_TYPES
        ):
            names.append(entry["name"])
    return names


class _UiWalk:
    def __init__(self, workflow: Workflow, loaders: LoaderMap, collector: Collector) -> None:
        self.label = workflow.label
        self.data = workflow.data
        self.loaders = loaders
        self.out = collector
        self.walked = 0
        self.definitions: dict[str, Mapping[str, Any]] = {}
        definitions = self.data.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
        for definition in subgraphs if isinstance(subgraphs, list) else ():
            if isinstance(definition, dict) and isinstance(definition.get("id"), str):
                self.definitions[definition["id"]] = definition
        self.reached: set[str] = set()

    def run(self) -> None:
        self.graph(_Graph(self.data, {}), "", ())
        for sg_id, definition in self.definitions.items():
            if sg_id not in self.reached:
                self.graph(_Graph(definition, {}), f"{sg_id}:", (sg_id,))

    def graph(self, graph: _Graph, prefix: str, chain: tuple[str, ...]) -> None:
        for node in graph.nodes:
            self.walked += 1
            if self.walked > MAX_NODES_WALKED:
                raise InvalidInput(
                    f"{self.label}: more than {MAX_NODES_WALKED} nodes once subgraphs are expanded; "
                    "not a workflow ComfyUI can run"
                )
            if not isinstance(node, dict):
                self.out.problems.append(f"{prefix or 'workflow'}: a node that is not an object; skipped")
                continue
            node_type, node_id = node.get("type"), f"{prefix}{node.get('id')}"
            if not isinstance(node_type, str):
                self.out.problems.append(f"node {node_id}: no 'type'; skipped")
                continue
            if node_type in self.definitions:
                self.instance(graph, node, node_id, node_type, chain)
            self.widgets(graph, node, node_id, node_type)
            properties = node.get("properties")
            if isinstance(properties, dict) and properties.get("models") is not None:
                self.out.node_models(
                    node_id, node_type, properties["models"], f"node {node_id} ({node_type})"
                )

    def instance(
        self, outer: _Graph, node: Mapping[str, Any], node_id: str, sg_id: str, chain: tuple[str, ...]
    ) -> None:
        if sg_id in chain:
            self.out.problems.append(f"node {node_id}: subgraph {sg_id} contains itself; not expanded")
            return
        if len(chain) >= MAX_SUBGRAPH_DEPTH:
            raise InvalidInput(f"{self.label}: subgraphs nested deeper than {MAX_SUBGRAPH_DEPTH}")
        self.reached.add(sg_id)
        definition = self.definitions[sg_id]
        values: dict[str, object] = {}
        named = node.get("widgets_values_named")
        stored = node.get("widgets_values")
        widget_names = _widget_inputs(definition)
        if isinstance(named, dict):
            values.update((k, v) for k, v in named.items() if k in widget_names)
        elif isinstance(stored, list) and len(stored) == len(widget_names):
            values.update(zip(widget_names, stored))
        for name in widget_names:  # the instance's own input may in turn come from the outer subgraph
            fed, value = outer.fed_value(node, name)
            if fed:
                values[name] = value
        self.graph(_Graph(definition, values), f"{node_id}:", (*chain, sg_id))

    def widgets(self, graph: _Graph, node: Mapping[str, Any], node_id: str, node_type: str) -> None:
        stored = node.get("widgets_values")
        for entry in self.loaders.get(node_type, ()):
            value = self.value(graph, node, stored, entry.name, entry.index)
            name = file_name(value)
            if name is None:
                if value is not None and not isinstance(value, str):
                    self.out.problems.append(
                        f"node {node_id} ({node_type}): {entry.name} is {type(value).__name__}, "
                        "not a file name"
                    )
                continue
            draft = new_draft(node_id, node_type, entry.category, name, input_name=entry.name)
            self.out.add(draft, RefSource.WIDGET)
        ours = LIBRARY_NODES.get(node_type)
        if ours is not None:
            label = self.value(graph, node, stored, ours.choice, ours.index)
            ref = self.value(graph, node, stored, "model_ref", ours.ref_index)
            _library(self.out, node_id, node_type, ours, label, ref)

    @staticmethod
    def value(graph: _Graph, node: Mapping[str, Any], stored: object, name: str, index: int) -> object:
        fed, value = graph.fed_value(node, name)
        if fed:
            return value
        if isinstance(stored, list):
            return stored[index] if 0 <= index < len(stored) else None
        if isinstance(stored, dict):
            return stored.get(name)
        return None
