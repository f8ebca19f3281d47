"""Import an ONNX CNN as a :class:`~scanfuse.network.layers.Network` (shapes only).

:func:`load_onnx` reads the graph's structure, never its weight values: weight shapes come
from the initializers' ``dims``, so a model whose external data files are missing still
imports. See ``docs/onnx.md`` for the supported operators and the block rule.

Layers
    ``Conv`` (2-D, dilation 1, symmetric pads) becomes POINTWISE (1x1, one group), DEPTHWISE
    (one group per channel, as many outputs as inputs) or CONV; ``Gemm`` and ``MatMul`` (one
    row by a constant matrix) become FC; ``MaxPool``, ``AveragePool`` and the global pools
    become POOL. ``Relu``, ``Clip`` and ``BatchNormalization`` are folded into the layer before
    them; ``Flatten``, ``Reshape``, ``Squeeze``, ``Identity``, ``Dropout`` and ``Constant`` pass
    data through. ``Add`` of a constant is a bias (folded); ``Add`` of two activations is a
    residual join (see blocks). Layers keep the graph's topological order.

Blocks (what fusion sees; every layer is in exactly one block)
    1. Residual ``Add``: the layers on either side of the join, i.e. those that are ancestors
       of exactly one of its two operands. They form a block when they are a simple chain
       (each layer feeds only the next) that starts at the value the other operand carries
       (identity skip), or such a chain plus one layer on the other operand that reads the
       chain's input (projection shortcut). The block is ``inverted_residual`` when its
       layers are ``[1x1] -> depthwise+ -> 1x1`` without a projection, else ``residual``;
       ``residual=True`` either way. An Add whose sides are anything else (branches inside
       a side, another Add inside a side) forms no block: its layers fall through to 2.
    2. Other ``[1x1] -> depthwise+ -> 1x1`` chains whose intermediate tensors each have a
       single consumer: ``inverted_residual`` blocks with ``residual=False``.
    3. Every other layer: a block of its own, of kind ``layer.kind.value``.
"""

from __future__ import annotations

import heapq
import math
import os
import stat
import re
from dataclasses import dataclass, replace


from ..errors import InvalidModelError, InvalidShapeError, ScanFuseError
from .layers import Block, Layer, LayerKind, Network

__all__ = ["load_onnx", "SUPPORTED_OPS"]

#: Ops that become layers.
LAYER_OPS = ("Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")
#: Elementwise ops folded into the previous layer (no layer, shape unchanged); ``Softmax`` is
#: a classifier's last op, computed on the host.
FOLDED_OPS = ("Relu", "Clip", "BatchNormalization", "Softmax")
#: Ops that only move or reshape data.
PASS_OPS = ("Flatten", "Reshape", "Squeeze", "Identity", "Dropout")
#: Everything :func:`load_onnx` accepts (``Add``, or ``Sum`` of two: bias or residual join;
#: ``Constant``: no data). Any other node whose inputs are all constants (e.g. the
#: ``ConstantOfShape`` weights of onnx's light model-zoo CNNs) is folded first.
SUPPORTED_OPS = LAYER_OPS + FOLDED_OPS + PASS_OPS + ("Add", "Sum", "Constant")

#: Largest constant subgraph output :func:`load_onnx` evaluates (elements), ~1 GiB of float32.
MAX_FOLDED_ELEMENTS = 1 << 28

#: Folded constants up to this many elements keep their data (reshape targets, clip bounds).
_KEEP_DATA_ELEMENTS = 1 << 16

_INPUT = -1   # producer id of a graph input


@dataclass
class _Value:
    """A tensor after folding: pass-through ops alias their input's value."""

    shape: tuple[int, ...]
    const: bool = False
    vid: int = -1            # canonical activation id (aliases share it)


@dataclass
class _Act:
    """A canonical activation: produced by a layer, an Add, or a graph input."""

    producer: str            # "layer" | "add" | "input"
    index: int               # layer index for "layer"
    ancestors: int           # bit mask of the layers it depends on (including its producer)
    consumers: list          # ("layer", i) | ("add", j) entries, in order


#: Largest ONNX file read (bytes): 2 GiB, protobuf's own limit for one message.
MAX_ONNX_BYTES = (1 << 31) - 1


def load_onnx(path_or_model, name: str | None = None) -> Network:
    """An ONNX model (a file path or an ``onnx.ModelProto``) as a :class:`Network`.

    Batch must be 1 and every activation shape static. Raises
    :class:`~scanfuse.errors.InvalidModelError` with a one-line message naming the node (or
    the file) for a malformed model or an unsupported operator or attribute.
    """
    try:
        import onnx
    except ImportError:  # an optional dependency: only this importer needs it
        raise ScanFuseError("importing ONNX models needs the 'onnx' package") from None

    model, label = _read(path_or_model, onnx)
    graph = model.graph
    if name is None:
        if graph.name:
            name = graph.name
        elif label != "model":
            name = os.path.splitext(os.path.basename(label))[0]
        else:
            name = "onnx"
    return _Importer(model, label, onnx).run(name)


def _read(source, onnx):
    if isinstance(source, onnx.ModelProto):
        model, label = source, "model"
    else:
        try:
            path = os.fspath(source)
        except TypeError:
            raise InvalidModelError(f"expected an ONNX file path or ModelProto, not {type(source).__name__}") from None
        label = path
        try:
            with open(path, "rb") as f:
                info = os.fstat(f.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise InvalidModelError(f"{path}: not a regular file (a device, pipe or "
                                            f"folder), not an ONNX model")
                # (read(n) would allocate n bytes up front: the size decides instead)
                data = f.read() if info.st_size <= MAX_ONNX_BYTES else b""
            if info.st_size > MAX_ONNX_BYTES:
                raise InvalidModelError(
                    f"{path}: larger than {MAX_ONNX_BYTES:,} bytes, the importer's limit "
                    f"(scanfuse.network.onnx_import.MAX_ONNX_BYTES; protobuf's own is 2 GiB)")
        except IsADirectoryError:
            raise InvalidModelError(f"{path}: a folder, not an ONNX model") from None
        except OSError as exc:
            raise InvalidModelError(f"cannot read ONNX file {path}: {exc.strerror or exc}") from None
        if not data:
            raise InvalidModelError(f"{path}: empty file, not an ONNX model")
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except Exception as exc:  # protobuf DecodeError and friends
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InvalidModelError(
                f"{path}: not a valid ONNX model (truncated or corrupt file: {detail})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise InvalidModelError(f"{label}: the model has no graph nodes (truncated or not an ONNX model?)")
    if not model.opset_import:
        raise InvalidModelError(f"{label}: the model has no opset_import (truncated file?)")
    return model, label


class _Importer:
    def __init__(self, model, label: str, onnx):
        self.onnx = onnx
        self.model = model
        self.graph = model.graph
        self.label = label
        self.values: dict[str, _Value] = {}
        self.acts: list[_Act] = []
        self.layers: list[Layer] = []
        self.layer_in: list[int] = []     # activation id each layer reads
        self.layer_out: list[int] = []    # activation id each layer writes
        self.joins: list[tuple[str, int, int, int]] = []   # (add node label, a, b, out)
        self.names: set[str] = set()
        self.inferred: dict[str, tuple[int, ...] | None] = {}
        self.const_data: dict[str, object] = {}

    # -- errors ------------------------------------------------------------------------------
    def _prefix(self) -> str:
        return "" if self.label == "model" else f"{self.label}: "

    def fail(self, node, message: str):
        who = f"node '{node.name}'" if node.name else f"unnamed node writing '{node.output[0] if node.output else '?'}'"
        raise InvalidModelError(f"{self._prefix()}{who} ({node.op_type}): {message}")

    def fail_input(self, name: str, message: str):
        readers = [n.name or n.op_type for n in self.graph.node if name in n.input]
        by = f" (read by node '{readers[0]}')" if readers else ""
        raise InvalidModelError(f"{self._prefix()}graph input '{name}'{by}: {message}")

    # -- driver ------------------------------------------------------------------------------
    def run(self, name: str) -> Network:
        self._infer_shapes()
        self._constants()
        input_hw = self._inputs()
        folded = self._fold_constants()
        for node in self._topological():
            if tuple(node.output) not in folded:
                self._node(node)
        if not self.layers:
            raise InvalidModelError(f"{self._prefix()}the graph has no Conv, Gemm, MatMul or pooling layers")
        blocks = self._blocks()
        owner = {layer: block.name for block in blocks for layer in block.layers}
        layers = tuple(replace(layer, block=owner[layer.name]) for layer in self.layers)
        return Network(name, input_hw, layers, tuple(blocks))

    def _infer_shapes(self):
        try:
            inferred = self.onnx.shape_inference.infer_shapes(self.model, strict_mode=False)
        except Exception:  # inference is a hint; our own propagation checks every shape
            return
        for info in list(inferred.graph.value_info) + list(inferred.graph.output):
            self.inferred[info.name] = _static_shape(info)

    def _constants(self):
        for init in self.graph.initializer:
            self.values[init.name] = _Value(tuple(int(d) for d in init.dims), const=True)
            if init.data_location != self.onnx.TensorProto.EXTERNAL:
                self.const_data[init.name] = init
        for sparse in getattr(self.graph, "sparse_initializer", ()):
            self.values[sparse.values.name] = _Value(tuple(int(d) for d in sparse.dims), const=True)

    def _fold_constants(self) -> set[tuple[str, ...]]:
        """Evaluate every node whose inputs are all constants (initializers with data, Constant
        nodes, other such nodes) with onnx's reference evaluator, and record its outputs as
        constants; return the folded nodes' output lists (protobuf hands out new node objects
        on every access, so nodes are known by their outputs).

        Layers, ``Constant`` nodes themselves and nodes fed by data missing from the file
        (external initializers) are left to the importer.
        """
        known = {name for name in self.const_data}
        order, folded = self._topological(), []
        for node in order:
            if node.op_type == "Constant":
                known.update(o for o in node.output if o)
                continue
            inputs = [i for i in node.input if i]
            if node.op_type in LAYER_OPS or not inputs or not all(i in known for i in inputs):
                continue
            folded.append(node)
            known.update(o for o in node.output if o)
        if not folded:
            return set()
        needed = {i for n in folded for i in n.input if i}
        consts = [n for n in order if n.op_type == "Constant" and set(n.output) & needed]
        inits = [t for name, t in self.const_data.items() if name in needed
                 and isinstance(t, self.onnx.TensorProto) and name not in
                 {o for n in consts for o in n.output}]
        self._check_fold_size(folded)
        outputs = [o for n in folded for o in n.output if o]
        helper = self.onnx.helper
        graph = helper.make_graph(consts + folded, "fold", [], [helper.make_empty_tensor_value_info(o)
                                                                for o in outputs], inits)
        sub = helper.make_model(graph, opset_imports=list(self.model.opset_import),
                                ir_version=self.model.ir_version)
        try:
            from onnx.reference import ReferenceEvaluator
            values = ReferenceEvaluator(sub).run(None, {})
        except Exception as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.fail(folded[0], f"cannot evaluate the constant subgraph it starts: {detail}")
        for name, value in zip(outputs, values):
            shape = tuple(int(d) for d in getattr(value, "shape", ()))
            self.values[name] = _Value(shape, const=True)
            if math.prod(shape) <= _KEEP_DATA_ELEMENTS:
                self.const_data[name] = self.onnx.numpy_helper.from_array(value, name)
        return {tuple(n.output) for n in folded}

    def _check_fold_size(self, folded) -> None:
        """Refuse, before evaluating, a ``ConstantOfShape`` asked for more than
        :data:`MAX_FOLDED_ELEMENTS` elements (a hostile or broken file)."""
        for node in folded:
            if node.op_type != "ConstantOfShape":
                continue
            dims = self._const_ints(node, 0)
            if dims is not None and (any(d < 0 for d in dims)
                                     or math.prod(dims) > MAX_FOLDED_ELEMENTS):
                self.fail(node, f"constant of shape {dims} is larger than {MAX_FOLDED_ELEMENTS:,} "
                                f"elements (or negative)")

    def _inputs(self):
        input_hw = None
        for info in self.graph.input:
            if info.name in self.values:      # an initializer listed as an input (IR < 4)
                continue
            if not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
                self.fail_input(info.name, "has no shape; static shapes are required")
            dims = []
            for axis, dim in enumerate(info.type.tensor_type.shape.dim):
                if not dim.HasField("dim_value"):
                    what = f"'{dim.dim_param}'" if dim.dim_param else "unknown"
                    self.fail_input(info.name, f"dimension {axis} is dynamic ({what}); static shapes are required")
                dims.append(int(dim.dim_value))
            if not dims:
                self.fail_input(info.name, "is a scalar, not an image or feature tensor")
            if dims[0] != 1:
                self.fail_input(info.name, f"has batch {dims[0]}; only batch 1 is supported")
            if any(d < 1 for d in dims):
                self.fail_input(info.name, f"has an empty dimension {dims}")
            shape = tuple(dims)
            vid = self._new_act("input", _INPUT, 0)
            self.values[info.name] = _Value(shape, vid=vid)
            if input_hw is None and len(shape) == 4:
                input_hw = (shape[2], shape[3])
        if not any(not v.const for v in self.values.values()):
            raise InvalidModelError(f"{self._prefix()}the graph has no activation input")
        return input_hw or (1, 1)

    def _topological(self):
        """Nodes in a topological order, keeping the file's order where it is one."""
        nodes = list(self.graph.node)
        producer = {}
        for i, node in enumerate(nodes):
            for out in node.output:
                if out:
                    producer[out] = i
        deps = [set() for _ in nodes]
        users = [[] for _ in nodes]
        for i, node in enumerate(nodes):
            for name in node.input:
                j = producer.get(name)
                if j is not None and j != i and j not in deps[i]:
                    deps[i].add(j)
                    users[j].append(i)
        ready = [i for i in range(len(nodes)) if not deps[i]]
        heapq.heapify(ready)
        order = []
        while ready:
            i = heapq.heappop(ready)
            order.append(nodes[i])
            for k in users[i]:
                deps[k].discard(i)
                if not deps[k]:
                    heapq.heappush(ready, k)
        if len(order) != len(nodes):
            stuck = next(n for i, n in enumerate(nodes) if deps[i])
            self.fail(stuck, "the graph has a cycle")
        return order

    # -- values ------------------------------------------------------------------------------
    def _new_act(self, producer: str, index: int, ancestors: int) -> int:
        self.acts.append(_Act(producer, index, ancestors, []))
        return len(self.acts) - 1

    def _get(self, node, position: int, what: str = "input") -> _Value:
        if position >= len(node.input) or not node.input[position]:
            self.fail(node, f"missing {what} {position}")
        name = node.input[position]
        value = self.values.get(name)
        if value is None:
            self.fail(node, f"input '{name}' is not a graph input, an initializer or an earlier node's output")
        return value

    def _act(self, node, position: int = 0) -> _Value:
        value = self._get(node, position)
        if value.const:
            self.fail(node, f"input '{node.input[position]}' is a constant, expected an activation")
        return value

    def _const(self, node, position: int, what: str) -> _Value:
        value = self._get(node, position, what)
        if not value.const:
            self.fail(node, f"{what} '{node.input[position]}' must be a constant (initializer), not an activation")
        return value

    def _set(self, node, shape, vid: int = -1, const: bool = False):
        if not node.output or not node.output[0]:
            self.fail(node, "has no output")
        self.values[node.output[0]] = _Value(tuple(int(d) for d in shape), const=const, vid=vid)

    def _consume(self, vid: int, who):
        self.acts[vid].consumers.append(who)

    def _const_ints(self, node, position: int):
        """Integer data of a constant input, or None when unavailable (e.g. external data)."""
        if position >= len(node.input) or not node.input[position]:
            return None
        tensor = self.const_data.get(node.input[position])
        if tensor is None:
            return None
        try:
            return [int(v) for v in self.onnx.numpy_helper.to_array(tensor).reshape(-1)]
        except Exception:
            return None

    # -- nodes -------------------------------------------------------------------------------
    def _node(self, node):
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            self.fail(node, f"unsupported operator {node.domain}.{op}")
        if op not in SUPPORTED_OPS:
            self.fail(node, f"unsupported operator {op}; supported: {', '.join(SUPPORTED_OPS)}")
        attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
        if op == "Constant":
            return self._constant(node, attrs)
        if op == "Conv":
            return self._conv(node, attrs)
        if op in ("Gemm", "MatMul"):
            return self._fc(node, attrs)
        if op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"):
            return self._pool(node, attrs)
        if op == "Add" or (op == "Sum" and len(node.input) == 2):
            return self._add(node)
        if op == "Sum":
            self.fail(node, f"Sum of {len(node.input)} inputs is not supported (only of two)")
        data = self._get(node, 0)
        if op in FOLDED_OPS or op in ("Identity", "Dropout"):
            shape = data.shape
        elif op == "Flatten":
            axis = int(attrs.get("axis", 1))
            axis = axis + len(data.shape) if axis < 0 else axis
            if not 0 <= axis <= len(data.shape):
                self.fail(node, f"axis {attrs.get('axis')} out of range for shape {list(data.shape)}")
            shape = (math.prod(data.shape[:axis]), math.prod(data.shape[axis:]))
        elif op == "Reshape":
            shape = self._reshape(node, data.shape)
        else:  # Squeeze
            shape = self._squeeze(node, attrs, data.shape)
        if math.prod(shape) != math.prod(data.shape):
            self.fail(node, f"changes the element count: {list(data.shape)} -> {list(shape)}")
        if not data.const and shape and shape[0] != 1:
            self.fail(node, f"output shape {list(shape)} has batch {shape[0]}; only batch 1 is supported")
        self._set(node, shape, vid=data.vid, const=data.const)

    def _constant(self, node, attrs):
        tensor = attrs.get("value")
        if not isinstance(tensor, self.onnx.TensorProto):
            self.fail(node, "only tensor-valued Constant nodes are supported")
        self._set(node, tuple(tensor.dims), const=True)
        self.const_data[node.output[0]] = tensor

    def _reshape(self, node, shape_in):
        inferred = self.inferred.get(node.output[0])
        if inferred:
            return inferred
        target = self._const_ints(node, 1)
        if target is None:   # target unknown (external data): flatten, which is what FC needs
            return (shape_in[0], math.prod(shape_in[1:]))
        out = [shape_in[i] if t == 0 and i < len(shape_in) else t for i, t in enumerate(target)]
        if out.count(-1) > 1:
            self.fail(node, f"shape {target} has more than one -1")
        if -1 in out:
            known = math.prod(d for d in out if d != -1)
            if known <= 0 or math.prod(shape_in) % known:
                self.fail(node, f"cannot reshape {list(shape_in)} to {target}")
            out[out.index(-1)] = math.prod(shape_in) // known
        return tuple(out)

    def _squeeze(self, node, attrs, shape_in):
        inferred = self.inferred.get(node.output[0])
        if inferred:
            return inferred
        axes = attrs.get("axes")
        if axes is None:
            axes = self._const_ints(node, 1)
        if axes is None:     # all size-1 axes but the batch
            return (shape_in[0],) + tuple(d for d in shape_in[1:] if d != 1)
        axes = {a + len(shape_in) if a < 0 else a for a in axes}
        for a in axes:
            if not 0 <= a < len(shape_in) or shape_in[a] != 1:
                self.fail(node, f"cannot squeeze axis {a} of shape {list(shape_in)}")
        return tuple(d for i, d in enumerate(shape_in) if i not in axes)

    def _layer_name(self, node, prefix: str) -> str:
        base = node.name or f"{prefix}{len(self.layers)}"
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def _add_layer(self, node, layer_args: dict, data: _Value, out_shape) -> None:
        name = self._layer_name(node, layer_args.pop("prefix"))
        try:
            layer = Layer(name=name, **layer_args)
        except InvalidShapeError as exc:
            self.fail(node, str(exc))
        index = len(self.layers)
        self.layers.append(layer)
        source = self.acts[data.vid]
        vid = self._new_act("layer", index, source.ancestors | (1 << index))
        self._consume(data.vid, ("layer", index))
        self.layer_in.append(data.vid)
        self.layer_out.append(vid)
        self._set(node, out_shape, vid=vid)

    def _spatial(self, node, attrs, kernel, h, w, allow_ceil=False):
        """Strides, symmetric pads and output size of a 2-D conv or pool window."""
        strides = tuple(int(s) for s in attrs.get("strides", (1, 1)))
        dilations = tuple(int(d) for d in attrs.get("dilations", (1, 1)))
        if len(strides) != 2 or min(strides) < 1:
            self.fail(node, f"strides {list(strides)} must be two positive integers")
        if any(d != 1 for d in dilations):
            self.fail(node, f"dilations {list(dilations)} are not supported (only 1)")
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
        if auto_pad in ("NOTSET", ""):
            pads = tuple(int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
            if len(pads) != 4 or min(pads) < 0:
                self.fail(node, f"pads {list(pads)} must be four non-negative integers")
        elif auto_pad == "VALID":
            pads = (0, 0, 0, 0)
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            total = [max((-(-size // s) - 1) * s + k - size, 0)
                     for size, s, k in zip((h, w), strides, kernel)]
            small = [t // 2 for t in total]
            big = [t - t // 2 for t in total]
            pads = tuple(small + big) if auto_pad == "SAME_UPPER" else tuple(big + small)
        else:
            self.fail(node, f"unknown auto_pad {auto_pad!r}")
        if pads[0] != pads[2] or pads[1] != pads[3]:
            self.fail(node, f"asymmetric pads {list(pads)} (begin != end) are not supported")
        ceil = allow_ceil and int(attrs.get("ceil_mode", 0)) == 1
        out = []
        for size, k, s, p in zip((h, w), kernel, strides, pads[:2]):
            span = size + 2 * p - k
            if span < 0:
                self.fail(node, f"kernel {list(kernel)} is larger than the padded input {h}x{w}")
            n = (-(-span // s) if ceil else span // s) + 1
            if ceil and (n - 1) * s >= size + p:
                n -= 1
            out.append(n)
        return strides, (pads[0], pads[1]), tuple(out)

    def _image(self, node, data: _Value):
        if len(data.shape) != 4:
            self.fail(node, f"input shape {list(data.shape)} is not NCHW (only 2-D convolutions and pools)")
        _, c, h, w = data.shape
        return c, h, w

    def _conv(self, node, attrs):
        data = self._act(node, 0)
        weight = self._const(node, 1, "weight")
        c, h, w = self._image(node, data)
        if len(weight.shape) != 4:
            self.fail(node, f"weight shape {list(weight.shape)} is not (M, C/group, kH, kW)")
        cout, cin_g, kh, kw = weight.shape
        kernel = tuple(int(k) for k in attrs.get("kernel_shape", (kh, kw)))
        if kernel != (kh, kw):
            self.fail(node, f"kernel_shape {list(kernel)} does not match the weight shape {list(weight.shape)}")
        groups = int(attrs.get("group", 1))
        if groups < 1 or cin_g * groups != c or cout % groups:
            self.fail(node, f"group {groups} with weight {list(weight.shape)} does not fit {c} input channels")
        stride, padding, (ho, wo) = self._spatial(node, attrs, kernel, h, w)
        if groups == c and groups > 1 and cout == c:
            kind = LayerKind.DEPTHWISE
        elif kernel == (1, 1) and groups == 1:
            kind = LayerKind.POINTWISE
        else:
            kind = LayerKind.CONV
        self._add_layer(node, dict(prefix="conv", kind=kind, cin=c, cout=cout, kernel=kernel, stride=stride,
                                   padding=padding, groups=groups, h_in=h, w_in=w, h_out=ho, w_out=wo),
                        data, (1, cout, ho, wo))

    def _fc(self, node, attrs):
        data = self._act(node, 0)
        weight = self._const(node, 1, "weight")
        shape = data.shape
        if node.op_type == "Gemm":
            if int(attrs.get("transA", 0)):
                self.fail(node, "transA=1 is not supported")
            if len(shape) != 2 or len(weight.shape) != 2:
                self.fail(node, f"expects 2-D operands, got {list(shape)} and {list(weight.shape)}")
            n, k = weight.shape if int(attrs.get("transB", 0)) else weight.shape[::-1]
            out = (1, n)
        else:
            if len(weight.shape) != 2:
                self.fail(node, f"only a 2-D constant right operand is supported, got {list(weight.shape)}")
            if len(shape) < 1 or math.prod(shape[:-1]) != 1:
                self.fail(node, f"left operand {list(shape)} must be a single row (batch 1)")
            k, n = weight.shape
            out = shape[:-1] + (n,)
        if shape[-1] != k:
            self.fail(node, f"inner dimensions do not match: {list(shape)} x weight {list(weight.shape)}")
        self._add_layer(node, dict(prefix="fc", kind=LayerKind.FC, cin=k, cout=n, kernel=(1, 1), stride=(1, 1),
                                   padding=(0, 0), groups=1, h_in=1, w_in=1, h_out=1, w_out=1),
                        data, out)

    def _pool(self, node, attrs):
        data = self._act(node, 0)
        c, h, w = self._image(node, data)
        if node.op_type.startswith("Global"):
            kernel, stride, padding, (ho, wo) = (h, w), (1, 1), (0, 0), (1, 1)
        else:
            if "kernel_shape" not in attrs:
                self.fail(node, "missing kernel_shape")
            kernel = tuple(int(k) for k in attrs["kernel_shape"])
            if len(kernel) != 2:
                self.fail(node, f"kernel_shape {list(kernel)} is not 2-D")
            stride, padding, (ho, wo) = self._spatial(node, attrs, kernel, h, w, allow_ceil=True)
        if len(node.output) > 1 and node.output[1]:
            self.fail(node, "the Indices output of MaxPool is not supported")
        self._add_layer(node, dict(prefix="pool", kind=LayerKind.POOL, cin=c, cout=c, kernel=kernel,
                                   stride=stride, padding=padding, groups=c, h_in=h, w_in=w, h_out=ho, w_out=wo),
                        data, (1, c, ho, wo))

    def _add(self, node):
        if len(node.input) != 2:
            self.fail(node, f"expects 2 inputs, got {len(node.input)}")
        a, b = self._get(node, 0), self._get(node, 1)
        if a.const and b.const:
            return self._set(node, a.shape, const=True)
        if a.const or b.const:          # a bias: folded
            act = b if a.const else a
            return self._set(node, act.shape, vid=act.vid)
        if a.shape != b.shape:
            self.fail(node, f"adds activations of different shapes {list(a.shape)} and {list(b.shape)} "
                            "(broadcasting is not supported)")
        join = len(self.joins)
        for v in {a.vid, b.vid}:
            self._consume(v, ("add", join))
        ancestors = self.acts[a.vid].ancestors | self.acts[b.vid].ancestors
        out = self._new_act("add", join, ancestors)
        self.joins.append((node.name or f"add{join}", a.vid, b.vid, out))
        self._set(node, a.shape, vid=out)

    # -- blocks ------------------------------------------------------------------------------
    def _single_consumer_layer(self, vid: int) -> int | None:
        users = self.acts[vid].consumers
        if len(users) == 1 and users[0][0] == "layer":
            return users[0][1]
        return None

    def _chain_from(self, start: int, end_vid: int, members: set[int]) -> list[int] | None:
        """Layers ``start -> ... -> producer of end_vid``, each feeding only the next, all in
        ``members`` and covering it; None if they are not such a chain."""
        chain, i = [start], start
        while self.layer_out[i] != end_vid:
            nxt = self._single_consumer_layer(self.layer_out[i])
            if nxt is None or nxt not in members:
                return None
            chain.append(nxt)
            i = nxt
        return chain if set(chain) == members else None

    def _residual_block(self, a: int, b: int) -> tuple[list[int], list[int]] | None:
        """(main chain, projection layers) of a residual Add, or None if it is not simple."""
        mask_a, mask_b = self.acts[a].ancestors, self.acts[b].ancestors
        side_a, side_b = mask_a & ~mask_b, mask_b & ~mask_a
        if not side_a and not side_b:
            return None
        if side_a and side_b:           # projection shortcut: one side a single layer
            for main, main_side, proj, proj_side in ((a, side_a, b, side_b), (b, side_b, a, side_a)):
                if bin(proj_side).count("1") != 1:
                    continue
                p = proj_side.bit_length() - 1
                if self.layer_out[p] != proj:
                    continue
                first = [i for i in _bits(main_side) if self.layer_in[i] == self.layer_in[p]]
                for start in first:
                    chain = self._chain_from(start, main, set(_bits(main_side)))
                    if chain:
                        return chain, [p]
            return None
        main, side, skip = (a, side_a, b) if side_a else (b, side_b, a)
        members = set(_bits(side))
        for start in members:
            if self.layer_in[start] == skip:
                chain = self._chain_from(start, main, members)
                if chain:
                    return chain, []
        return None

    def _blocks(self) -> list[Block]:
        claimed: dict[int, int] = {}
        found: list[tuple[list[int], str, bool, str | None]] = []   # (layers, kind, residual, hint)

        def add(layers, kind, residual, hint=None):
            for i in layers:
                claimed[i] = len(found)
            found.append((layers, kind, residual, hint))

        for label, a, b, _out in self.joins:
            parts = self._residual_block(a, b)
            if parts is None:
                continue
            chain, proj = parts
            if any(i in claimed for i in chain + proj):
                continue
            kind = "inverted_residual" if not proj and _inverted(self.layers, chain) else "residual"
            add(chain + proj, kind, True, label)

        for i, layer in enumerate(self.layers):
            if i in claimed or layer.kind is not LayerKind.DEPTHWISE:
                continue
            chain = [i]
            source = self.acts[self.layer_in[i]]
            if (source.producer == "layer" and source.index not in claimed
                    and self.layers[source.index].kind is LayerKind.POINTWISE
                    and self._single_consumer_layer(self.layer_in[i]) == i):
                chain.insert(0, source.index)
            cur = i
            while True:
                nxt = self._single_consumer_layer(self.layer_out[cur])
                if nxt is None or nxt in claimed:
                    break
                chain.append(nxt)
                cur = nxt
                if self.layers[nxt].kind is not LayerKind.DEPTHWISE:
                    break
            if self.layers[chain[-1]].kind is LayerKind.POINTWISE and chain[-1] != i:
                add(chain, "inverted_residual", False)

        for i in range(len(self.layers)):
            if i not in claimed:
                add([i], self.layers[i].kind.value, False)

        found.sort(key=lambda f: min(f[0]))
        blocks, used = [], set(self.names)
        for n, (layers, kind, residual, hint) in enumerate(found):
            names = [self.layers[i].name for i in layers]
            if len(layers) == 1:
                block_name = names[0]
            else:
                block_name = _common_prefix(names) or hint or f"block{n}"
                base, k = block_name, 1
                while block_name in used:
                    block_name, k = f"{base}_{k}", k + 1
                used.add(block_name)
            blocks.append(Block(block_name, kind, tuple(names), residual))
        return blocks


def _bits(mask: int):
    i = 0
    while mask:
        if mask & 1:
            yield i
        mask >>= 1
        i += 1


def _inverted(layers: list[Layer], chain: list[int]) -> bool:
    kinds = [layers[i].kind for i in chain]
    if kinds and kinds[0] is LayerKind.POINTWISE and len(kinds) > 2:
        kinds = kinds[1:]
    return (len(kinds) >= 2 and kinds[-1] is LayerKind.POINTWISE
            and all(k is LayerKind.DEPTHWISE for k in kinds[:-1]))


def _common_prefix(names: list[str]) -> str:
    """Shared leading path of node names split at '.' and '/': b1.expand, b1.dw -> b1."""
    parts = [[p for p in re.split(r"[./]", n) if p] for n in names]
    common = []
    for pieces in zip(*parts):
        if len(set(pieces)) != 1:
            break
        common.append(pieces[0])
    return ".".join(common)


def _static_shape(info) -> tuple[int, ...] | None:
    if not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
        return None
    dims = []
    for dim in info.type.tensor_type.shape.dim:
        if not dim.HasField("dim_value"):
            return None
        dims.append(int(dim.dim_value))
    return tuple(dims)
