"""rnnx.torch: drop-in torch.nn.LSTM, GRU and RNN layers that run on rnnx's engines.

    import torch, rnnx.torch
    lstm = rnnx.torch.LSTM(28, 128, num_layers=2, batch_first=True)
    lstm.load_state_dict(torch.nn.LSTM(28, 128, num_layers=2, batch_first=True).state_dict())
    y, (h_n, c_n) = lstm(torch.randn(64, 28, 28))   # padded tensor or PackedSequence

The parameters have torch's names, shapes and registration order (weight_ih_l{k},
weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, `_reverse` for the backward direction), so
state_dicts move both ways. torch's gate orders (LSTM i, f, g, o; GRU r, z, n with the reset
after the matmul) are rnnx's canonical ones, so each parameter is a view of one block of rnnx's
flat weight buffer (as cuDNN's flatten_parameters does): a call passes that buffer to rnnx as
is, and backward writes the gradients of all parameters into one flat buffer whose views become
the parameters' grads. A parameter replaced by another tensor (not a view of the buffer) is
copied into a fresh buffer for that call. rnnx's state buffer (h of every layer and direction,
then c) is torch's (h_n, c_n) [num_layers * num_directions, B, H] one after the other.

Autograd runs rnnx's forward_train and backward (the reserve kept in the autograd context);
without grad (torch.no_grad(), or nothing requiring grad) the layer calls the plain forward.
CPU tensors run on the cpu engine (engine="auto") or the one named; CUDA tensors on a GPU
engine, on the tensor's device and torch's current stream. Stack runs any rnnx model (mixed
stacks, TF's GRU, forget_bias) on the same machinery; under torch.compile the call goes
through the torch.library ops rnnx::forward/forward_train/backward. docs/PYTHON.md describes it.
"""

import math

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from torch.utils.dlpack import to_dlpack

import rnnx

__all__ = ["LSTM", "GRU", "RNN", "RNNBase", "Stack"]

_DTYPES = {torch.float32: "float32", torch.float64: "float64"}
_PARAMS = ("Wx", "Wh", "bx", "bh")


def _capsule(tensor):
    """A CPU tensor as a DLPack capsule for the binding (detached: no gradient flows here)."""
    return to_dlpack(tensor.detach())


def _refuse(message):
    raise rnnx.InvalidArgumentError(message)


_DOUBLE = "rnnx.torch: double backward (a gradient of rnnx's gradients) is not supported"


class _NoDoubleBackward(torch.autograd.Function):
    """The identity on rnnx's gradients, whose own backward refuses: with create_graph=True the
    gradients come out of it, so differentiating them again raises rnnx's message."""

    @staticmethod
    def forward(ctx, *grads):
        return tuple(g.clone() for g in grads)

    @staticmethod
    def backward(ctx, *_):
        raise RuntimeError(_DOUBLE)


def _refuse_double_backward(backward):
    """Runs backward without building a graph; where the caller asked for one (create_graph),
    the gradients it returns lead to _NoDoubleBackward."""

    def wrapper(ctx, *grads):
        with torch.no_grad():
            outputs = backward(ctx, *grads)
        if not torch.is_grad_enabled():
            return outputs
        at = [i for i, t in enumerate(outputs) if isinstance(t, torch.Tensor)]
        guarded = _NoDoubleBackward.apply(*[outputs[i].detach().requires_grad_() for i in at])
        outputs = list(outputs)
        for i, g in zip(at, guarded):
            outputs[i] = g
        return tuple(outputs)

    return wrapper


class _RnnxFunction(torch.autograd.Function):
    """y, final_state = f(x, init, *params): rnnx forward_train, then backward."""

    @staticmethod
    def forward(ctx, layer, plan, x, init, lengths, stream, *params):
        weights = layer._flat_weights(params)
        y, final, reserve = plan.forward_train(
            x, weights, lengths=lengths, init=init, stream=stream
        )
        ctx.layer, ctx.plan, ctx.lengths, ctx.stream = layer, plan, lengths, stream
        ctx.weights, ctx.reserve = weights, reserve
        ctx.has_init = init is not None
        ctx.save_for_backward(x, init if init is not None else x, y, *params)
        return y, final

    @staticmethod
    @_refuse_double_backward
    def backward(ctx, dy, dfinal):
        x, init, y, *params = ctx.saved_tensors
        init = init if ctx.has_init else None
        need = ctx.needs_input_grad
        need_params = any(need[6:])
        dx, dweights, dinit = ctx.plan.backward(
            x,
            ctx.weights,
            y,
            dy.contiguous(),
            ctx.reserve,
            lengths=ctx.lengths,
            init=init,
            dfinal=dfinal.contiguous(),
            dx=None if need[2] else False,
            dinit=None if (need[3] and init is not None) else False,
            stream=ctx.stream,
        )
        grads = ctx.layer._split_gradients(dweights) if need_params else [None] * len(params)
        return (None, None, dx, dinit, None, None, *grads)


class _FlatRnn(torch.nn.Module):
    """What the drop-ins and Stack share: parameters that are views of one flat rnnx weight
    buffer (self._slots: (name, offset, shape) in registration order), the plans, and the call
    (padded or packed input, lengths, autograd through _RnnxFunction or, under torch.compile,
    the torch.library ops)."""

    mode = None

    @property
    def _name(self):
        return f"rnnx.torch.{self.mode}"

    def _register_flat(self, slots, size, device, dtype):
        self._slots, self._flat_size, self._flat = slots, size, None
        self._op_keys = {t: f"{self.engine}|{self._model(t).to_json()}" for t in _DTYPES}
        flat = torch.zeros(size, device=device, dtype=dtype)
        for name_, offset, shape in slots:
            n = math.prod(shape)
            self.register_parameter(
                name_, torch.nn.Parameter(flat[offset : offset + n].view(shape))
            )
        self._flat = flat

    def flatten_parameters(self):
        """Makes every parameter a view of one flat rnnx weight buffer again (after a parameter
        was replaced); .to(), .cuda(), .double() and load_state_dict keep it so themselves."""
        params = [getattr(self, name) for name, _, _ in self._slots]
        first = params[0]
        flat = torch.zeros(self._flat_size, device=first.device, dtype=first.dtype)
        with torch.no_grad():
            for p, (_, offset, shape) in zip(params, self._slots):
                n = math.prod(shape)
                flat[offset : offset + n].copy_(p.reshape(-1))
                p.data = flat[offset : offset + n].view(shape)
        self._flat = flat

    def _apply(self, fn, *args, **kwargs):
        result = super()._apply(fn, *args, **kwargs)
        self.flatten_parameters()
        return result

    def __setstate__(self, state):
        super().__setstate__(state)
        self._models, self._plans = {}, {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_models"], state["_plans"] = {}, {}
        return state

    # --- weights --------------------------------------------------------------------------------

    def _model(self, dtype):
        model = self._models.get(dtype)
        if model is None:
            model = self._models[dtype] = rnnx.Model(self._spec, dtype=_DTYPES[dtype])
        return model

    def _flat_is_current(self, params):
        flat = self._flat
        if flat is None:
            return False
        base, size = flat.data_ptr(), flat.element_size()
        for p, (_, offset, _) in zip(params, self._slots):
            if p.data_ptr() != base + offset * size or p.dtype != flat.dtype:
                return False
        return True

    def _flat_weights(self, params):
        """The flat rnnx weights of the parameters: the buffer they are views of, else a copy."""
        if self._flat_is_current(params):
            return self._flat
        first = params[0]
        flat = torch.zeros(self._flat_size, device=first.device, dtype=first.dtype)
        for p, (name, offset, shape) in zip(params, self._slots):
            if p.shape != shape or p.dtype != first.dtype or p.device != first.device:
                _refuse(
                    f"{self._name}: parameter {name}: expected {list(shape)} "
                    f"{first.dtype} on {first.device}, found {list(p.shape)} {p.dtype} on "
                    f"{p.device}"
                )
            flat[offset : offset + p.numel()].copy_(p.detach().reshape(-1))
        return flat

    def _traced_flat_weights(self, params):
        """The flat weights as a differentiable function of the parameters (torch.compile traces
        it: a concatenation, zeros where no parameter is registered)."""
        pieces, at = [], 0
        first = params[0]
        for p, (_, offset, shape) in sorted(zip(params, self._slots), key=lambda s: s[1][1]):
            if offset > at:
                pieces.append(first.new_zeros(offset - at))
            pieces.append(p.reshape(-1))
            at = offset + math.prod(shape)
        if at < self._flat_size:
            pieces.append(first.new_zeros(self._flat_size - at))
        return torch.cat(pieces)

    def _split_gradients(self, dweights):
        return [
            dweights[offset : offset + math.prod(shape)].view(shape)
            for _, offset, shape in self._slots
        ]

    # --- plans ----------------------------------------------------------------------------------

    def _plan(self, device, dtype, training):
        key = (device, dtype, training)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _make_plan(
                self._model(dtype), self.engine, device, training, self._name
            )
        return plan

    def _op_key(self, dtype):
        """The string naming engine and model to the torch.library ops (made eagerly: dynamo
        cannot trace into the binding)."""
        return self._op_keys[dtype]

    # --- the call -------------------------------------------------------------------------------

    def _init(self, hx, batch, x, unbatched):
        raise NotImplementedError

    def _forward_cpu(self, plan, x, weights, lengths, init):
        """Inference on CPU tensors, handing the binding DLPack capsules (torch.utils.dlpack)
        rather than the tensors: a tensor's own __dlpack__ costs about 2.5 us in Python, a
        capsule about 0.3, which is most of a tiny model's call. The outputs are allocated here,
        so the binding writes into tensors this layer owns."""
        model = self._model(x.dtype)
        steps, batch = (x.shape[1], x.shape[0]) if self.batch_first else (x.shape[0], x.shape[1])
        y_shape = (batch, steps) if self.batch_first else (steps, batch)
        y = x.new_empty(y_shape + (model.output_size,))
        final = x.new_empty((rnnx.StateLayout(model, batch).size,))
        plan.forward(
            _capsule(x),
            _capsule(weights),
            lengths=lengths,
            init=None if init is None else _capsule(init),
            y=_capsule(y),
            final_state=_capsule(final),
        )
        return y, final

    def _run(self, input, hx, lengths):
        """(y, final_state, batch, unbatched): y packed again for a PackedSequence input."""
        name = self._name
        packed = isinstance(input, PackedSequence)
        unbatched = False
        if packed:
            if lengths is not None:
                _refuse(f"{name}: lengths: a PackedSequence carries its own")
            x, seq_lengths = pad_packed_sequence(input, batch_first=self.batch_first)
            lengths = seq_lengths.to(torch.int32)
        else:
            x = input
            if not isinstance(x, torch.Tensor):
                _refuse(f"{name}: input: expected a tensor or a PackedSequence")
            if x.dim() == 2:  # unbatched [T, I], as torch.nn's layers take it
                unbatched = True
                x = x.unsqueeze(0 if self.batch_first else 1)
            elif x.dim() != 3:
                _refuse(f"{name}: input: expected 2 or 3 dimensions, found {x.dim()}")
            if isinstance(lengths, torch.Tensor):
                if lengths.device.type != "cpu":
                    _refuse(f"{name}: lengths: expected a cpu tensor or a list")
                lengths = lengths.to(torch.int32)
        batch = x.shape[0] if self.batch_first else x.shape[1]
        init = self._init(hx, batch, x, unbatched)
        params = list(self._parameters.values())  # registration order: self._slots
        if x.dtype not in _DTYPES:
            _refuse(f"{name}: input: expected torch.float32 or torch.float64, found {x.dtype}")
        if params[0].dtype != x.dtype or params[0].device != x.device:
            _refuse(
                f"{name}: input: expected {params[0].dtype} on {params[0].device} as the "
                f"parameters, found {x.dtype} on {x.device}"
            )
        grad = torch.is_grad_enabled() and (
            x.requires_grad
            or (init is not None and init.requires_grad)
            or any(p.requires_grad for p in params)
        )
        if _OPS and torch.compiler.is_compiling():
            if lengths is not None and not isinstance(lengths, torch.Tensor):
                lengths = torch.tensor(lengths, dtype=torch.int32)
            weights = self._traced_flat_weights(params)
            key = self._op_key(x.dtype)
            if grad:
                y, final, _ = torch.ops.rnnx.forward_train(key, weights, x, init, lengths)
            else:
                y, final = torch.ops.rnnx.forward(key, weights, x, init, lengths)
        else:
            stream = torch.cuda.current_stream(x.device) if x.device.type == "cuda" else None
            if grad:
                plan = self._plan(x.device, x.dtype, True)
                y, final = _RnnxFunction.apply(self, plan, x, init, lengths, stream, *params)
            elif x.device.type == "cpu":
                plan = self._plan(x.device, x.dtype, False)
                y, final = self._forward_cpu(plan, x, self._flat_weights(params), lengths, init)
            else:
                plan = self._plan(x.device, x.dtype, False)
                y, final = plan.forward(
                    x, self._flat_weights(params), lengths=lengths, init=init, stream=stream
                )
        if packed:
            order = input.sorted_indices
            if order is not None:
                y = y.index_select(0 if self.batch_first else 1, order)
                seq_lengths = seq_lengths.index_select(0, order.cpu())
            data = pack_padded_sequence(y, seq_lengths, batch_first=self.batch_first).data
            y = PackedSequence(
                data, input.batch_sizes, input.sorted_indices, input.unsorted_indices
            )
        elif unbatched:
            y = y.squeeze(0 if self.batch_first else 1)
        return y, final, batch, unbatched


def _make_plan(model, engine, device, training, name):
    if device.type == "cpu":
        return rnnx.Rnn(model, "cpu" if engine == "auto" else engine)
    if device.type == "cuda":
        with torch.cuda.device(device):
            return rnnx.Rnn(model, engine, inference_only=not training and engine == "auto")
    _refuse(f"{name}: device: expected a cpu or cuda tensor, found {device}")


def _check_state(name, label, t, shape, x):
    if not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(shape):
        found = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        _refuse(f"{name}: hx: {label}: expected {list(shape)}, found {found}")
    if t.dtype != x.dtype or t.device != x.device:
        _refuse(
            f"{name}: hx: {label}: expected {x.dtype} on {x.device} as the input, found "
            f"{t.dtype} on {t.device}"
        )


class RNNBase(_FlatRnn):
    """torch.nn.RNNBase's interface on rnnx (LSTM, GRU and RNN are its subclasses)."""

    _cell = None

    def __init__(
        self,
        mode,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        proj_size=0,
        device=None,
        dtype=None,
        engine="auto",
        nonlinearity="tanh",
    ):
        super().__init__()
        name = f"rnnx.torch.{mode}"
        if dropout:
            _refuse(
                f"{name}: dropout={dropout} is not supported: rnnx runs a stack without dropout "
                "between its layers; use dropout=0, or single-layer modules with torch.nn.Dropout "
                "between them"
            )
        if proj_size:
            _refuse(
                f"{name}: proj_size={proj_size} is not supported: rnnx has no LSTM projection "
                "(weight_hr); use proj_size=0"
            )
        if nonlinearity not in ("tanh", "relu"):
            _refuse(f"{name}: nonlinearity: expected 'tanh' or 'relu', found {nonlinearity!r}")
        if engine not in rnnx.ENGINES:
            _refuse(f"{name}: engine: expected one of {', '.join(rnnx.ENGINES)}, found {engine!r}")
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        if dtype not in _DTYPES:
            _refuse(f"{name}: dtype: expected torch.float32 or torch.float64, found {dtype}")
        for key, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or value < 1:
                _refuse(f"{name}: {key}: expected a positive integer, found {value!r}")
        if not isinstance(num_layers, int) or num_layers < 1:
            _refuse(f"{name}: num_layers: expected a positive integer, found {num_layers!r}")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size, self.engine = bool(bidirectional), 0, engine
        self.nonlinearity = nonlinearity
        layer = {"cell": self._cell, "hidden": hidden_size, "bidirectional": self.bidirectional}
        if self._cell == "gru":
            layer["gru_reset"] = "after"
        if self._cell == "rnn":
            layer["activation"] = nonlinearity
        self._spec = {
            "input_size": input_size,
            "layout": "batch_major" if batch_first else "time_major",
            "layers": [dict(layer) for _ in range(num_layers)],
        }
        self._models, self._plans = {}, {}
        model = self._model(dtype)
        layout = rnnx.WeightLayout(model)
        dirs = ("fw", "bw") if self.bidirectional else ("fw",)
        names = ["weight_ih_l{}{}", "weight_hh_l{}{}"] + (
            ["bias_ih_l{}{}", "bias_hh_l{}{}"] if bias else []
        )
        # (name, offset, shape) of every parameter in torch's registration order.
        slots = []
        for k in range(num_layers):
            for d in dirs:
                suffix = "_reverse" if d == "bw" else ""
                for fmt, param in zip(names, _PARAMS):
                    shape = tuple(layout.shape(k, param))
                    slots.append((fmt.format(k, suffix), layout.offset(k, d, param), shape))
        self._register_flat(slots, layout.size, device, dtype)
        self.reset_parameters()

    # --- torch.nn.RNNBase's helpers -------------------------------------------------------------

    @property
    def _flat_weights_names(self):
        return [slot[0] for slot in self._slots]

    @property
    def all_weights(self):
        per = 4 if self.bias else 2
        params = [getattr(self, name) for name in self._flat_weights_names]
        return [params[i : i + per] for i in range(0, len(params), per)]

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        with torch.no_grad():
            for weight in self.parameters():
                weight.uniform_(-stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self._cell == "rnn" and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if self.engine != "auto":
            s += f", engine={self.engine!r}"
        return s

    # --- the call -------------------------------------------------------------------------------

    def _state_shape(self, batch):
        return (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)

    def _init(self, hx, batch, x, unbatched):
        """rnnx's init buffer from torch's hx (None: zeros)."""
        if hx is None:
            return None
        if unbatched:
            hx = tuple(h.unsqueeze(1) for h in hx) if isinstance(hx, tuple) else hx
            hx = hx.unsqueeze(1) if isinstance(hx, torch.Tensor) else hx
        parts = hx if isinstance(hx, (tuple, list)) else (hx,)
        expected = 2 if self._cell == "lstm" else 1
        if len(parts) != expected:
            _refuse(f"{self._name}: hx: expected {'(h_0, c_0)' if expected == 2 else 'h_0'}")
        shape = self._state_shape(batch)
        for label, t in zip(("h_0", "c_0"), parts):
            _check_state(self._name, label, t, shape, x)
        if expected == 1:
            return parts[0].reshape(-1)
        return torch.cat([parts[0].reshape(-1), parts[1].reshape(-1)])

    def _final(self, final, batch):
        shape = self._state_shape(batch)
        n = math.prod(shape)
        h_n = final[:n].view(shape)
        if self._cell == "lstm":
            return h_n, final[n : 2 * n].view(shape)
        return h_n

    def forward(self, input, hx=None, lengths=None):
        """(output, h_n) or, for LSTM, (output, (h_n, c_n)), as torch.nn's layers. `lengths`
        (an extension; a padded input only): the sequences' lengths, as TF's dynamic_rnn."""
        y, final, batch, unbatched = self._run(input, hx, lengths)
        state = self._final(final, batch)
        if unbatched:
            if isinstance(state, tuple):
                state = tuple(s.squeeze(1) for s in state)
            else:
                state = state.squeeze(1)
        return y, state


class LSTM(RNNBase):
    """torch.nn.LSTM on rnnx: (output, (h_n, c_n)) = lstm(input, (h_0, c_0))."""

    _cell = "lstm"

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """torch.nn.GRU (reset after the matmul) on rnnx: (output, h_n) = gru(input, h_0)."""

    _cell = "gru"

    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)


class RNN(RNNBase):
    """torch.nn.RNN on rnnx, nonlinearity "tanh" or "relu": (output, h_n) = rnn(input, h_0)."""

    _cell = "rnn"

    def __init__(self, *args, nonlinearity="tanh", **kwargs):
        super().__init__("RNN", *args, nonlinearity=nonlinearity, **kwargs)



class Stack(_FlatRnn):
    """Any rnnx model as a torch module: a mixed stack torch.nn cannot express (LSTM(128) ->
    GRU(256), TF's reset-before GRU, LSTM forget_bias, vanilla RNN layers, bidirectional
    layers), on the drop-ins' autograd Function.

        stack = rnnx.torch.Stack({"input_size": 28, "layers": [
            {"cell": "lstm", "hidden": 128, "forget_bias": 1.0},
            {"cell": "gru", "hidden": 256, "gru_reset": "before"}]}, batch_first=True)
        stack.load_weights("tf", tf_tensors)
        y, states = stack(x, lengths=lengths)   # states: per layer h [dirs, B, H] or (h, c)

    Parameters `l{k}_{fw|bw}_{Wx|Wh|bx|bh}` (rnnx's canonical blocks, docs/API.md) are views of
    one flat rnnx weight buffer."""

    mode = "Stack"

    def __init__(self, model, *, batch_first=None, device=None, dtype=None, engine="auto"):
        super().__init__()
        name = self._name
        if engine not in rnnx.ENGINES:
            _refuse(f"{name}: engine: expected one of {', '.join(rnnx.ENGINES)}, found {engine!r}")
        if not isinstance(model, rnnx.Model):
            model = rnnx.Model(model)
        spec = model.to_dict()
        if dtype is None:
            dtype = {v: k for k, v in _DTYPES.items()}.get(spec["dtype"])
            if dtype is None:
                _refuse(
                    f"{name}: dtype: expected a float32 or float64 model (or dtype=), found "
                    f"{spec['dtype']}"
                )
        if dtype not in _DTYPES:
            _refuse(f"{name}: dtype: expected torch.float32 or torch.float64, found {dtype}")
        if batch_first is None:
            batch_first = spec["layout"] == "batch_major"
        spec.pop("dtype")
        spec["layout"] = "batch_major" if batch_first else "time_major"
        self._spec, self.batch_first, self.engine = spec, bool(batch_first), engine
        self._models, self._plans = {}, {}
        self.input_size = spec["input_size"]
        self.layers = [dict(layer) for layer in spec["layers"]]
        model = self._model(dtype)
        self.output_size = model.output_size
        layout = rnnx.WeightLayout(model)
        slots = []
        for k, layer in enumerate(self.layers):
            for d in ("fw", "bw") if layer["bidirectional"] else ("fw",):
                for param in _PARAMS:
                    shape = tuple(layout.shape(k, param))
                    slots.append((f"l{k}_{d}_{param}", layout.offset(k, d, param), shape))
        self._register_flat(slots, layout.size, device, dtype)
        self.reset_parameters()

    @property
    def model(self):
        """The rnnx.Model the stack runs (in its parameters' dtype)."""
        return self._model(self._flat.dtype)

    def reset_parameters(self):
        """torch's initialisation per layer: uniform(-1/sqrt(H), 1/sqrt(H)), biases too."""
        with torch.no_grad():
            for name_, _, _ in self._slots:
                stdv = 1.0 / math.sqrt(self.layers[int(name_[1 : name_.index("_")])]["hidden"])
                getattr(self, name_).uniform_(-stdv, stdv)

    def _params(self):
        return [getattr(self, name_) for name_, _, _ in self._slots]

    def load_weights(self, format, tensors):
        """Sets the parameters from a framework's tensors: `format` "rnnx", "tf", "torch" or
        "onnx" (rnnx.import_weights; docs/INTEROP.md has the names), `tensors` a dict of arrays
        or tensors. A format that cannot hold the model raises rnnx's error."""
        model = self.model
        arrays = {
            k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v)
            for k, v in tensors.items()
        }
        flat = torch.from_numpy(rnnx.import_weights(model, format, arrays))
        with torch.no_grad():
            for p, (_, offset, shape) in zip(self._params(), self._slots):
                p.copy_(flat[offset : offset + math.prod(shape)].view(shape))

    def export_weights(self, format):
        """The parameters as a framework's tensors ({name: numpy array}, rnnx.export_weights)."""
        flat = self._flat_weights(self._params()).detach().cpu().numpy()
        return rnnx.export_weights(self.model, format, flat)

    def extra_repr(self):
        parts = []
        for layer in self.layers:
            s = f"{layer['cell']}({layer['hidden']}"
            if layer.get("forget_bias"):
                s += f", forget_bias={layer['forget_bias']}"
            if layer["cell"] == "gru":
                s += f", reset {layer['gru_reset']}"
            if layer["cell"] == "rnn":
                s += f", {layer['activation']}"
            if layer["bidirectional"]:
                s += ", bidirectional"
            parts.append(s + ")")
        s = f"{self.input_size}, {' -> '.join(parts)}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.engine != "auto":
            s += f", engine={self.engine!r}"
        return s

    # --- states ---------------------------------------------------------------------------------

    def _state_shapes(self, batch):
        """Per layer [dirs, B, H] and whether it has c."""
        return [
            ((2 if layer["bidirectional"] else 1, batch, layer["hidden"]), layer["cell"] == "lstm")
            for layer in self.layers
        ]

    def state_size(self, batch):
        """The number of elements of rnnx's flat state for a batch (rnnx.StateLayout's size)."""
        return sum(math.prod(shape) * (2 if c else 1) for shape, c in self._state_shapes(batch))

    def split_state(self, state, batch=None):
        """Per layer h [dirs, B, H] or, for LSTM layers, (h, c): views of rnnx's flat state
        (h of every layer and direction, then c of every LSTM layer)."""
        if batch is None:
            per = self.state_size(1)
            batch = state.numel() // per
        shapes = self._state_shapes(batch)
        at, hs = 0, []
        for shape, _ in shapes:
            hs.append(state[at : at + math.prod(shape)].view(shape))
            at += math.prod(shape)
        out = []
        for h, (shape, has_c) in zip(hs, shapes):
            if has_c:
                out.append((h, state[at : at + math.prod(shape)].view(shape)))
                at += math.prod(shape)
            else:
                out.append(h)
        return out

    def _init(self, hx, batch, x, unbatched):
        """rnnx's init buffer from hx: None (zeros), the flat state, or per layer h / (h, c)."""
        name = self._name
        if hx is None:
            return None
        if isinstance(hx, torch.Tensor):
            _check_state(name, "flat state", hx.reshape(-1), (self.state_size(batch),), x)
            return hx.reshape(-1)
        if not isinstance(hx, (tuple, list)) or len(hx) != len(self.layers):
            _refuse(
                f"{name}: hx: expected the flat state or one entry per layer "
                f"({len(self.layers)}: h, or (h, c) for an LSTM layer)"
            )
        hs, cs = [], []
        for k, (part, (shape, has_c)) in enumerate(zip(hx, self._state_shapes(batch))):
            parts = part if isinstance(part, (tuple, list)) else (part,)
            if len(parts) != (2 if has_c else 1):
                _refuse(f"{name}: hx[{k}]: expected {'(h, c)' if has_c else 'h'}")
            if unbatched:
                parts = [t.unsqueeze(1) if isinstance(t, torch.Tensor) else t for t in parts]
            for label, t in zip(("h", "c"), parts):
                _check_state(name, f"[{k}] {label}", t, shape, x)
            hs.append(parts[0].reshape(-1))
            if has_c:
                cs.append(parts[1].reshape(-1))
        return torch.cat(hs + cs)

    def forward(self, input, hx=None, lengths=None):
        """(output, state): output [T, B, D] ([B, T, D] batch_first) or a PackedSequence; state
        the flat final state where hx is the flat state, else per layer h [dirs, B, H] or
        (h, c) for LSTM layers (split_state). `lengths` (a padded input): the sequences'
        lengths, as TF's dynamic_rnn."""
        y, final, batch, unbatched = self._run(input, hx, lengths)
        if isinstance(hx, torch.Tensor):
            return y, final
        state = self.split_state(final, batch)
        if unbatched:
            state = [
                tuple(t.squeeze(1) for t in s) if isinstance(s, tuple) else s.squeeze(1)
                for s in state
            ]
        return y, state


# --- torch.compile: the call as torch.library custom ops ---------------------------------------
#
# Under torch.compile (torch >= 2.4) a layer calls torch.ops.rnnx.forward / forward_train, whose
# arguments are tensors and a key string naming the engine and the model JSON; the plans are
# cached by key, device and training. The flat weights are the parameters' concatenation (one
# copy, traced), the reserve is forward_train's third output, saved for torch.ops.rnnx.backward.
# The eager path stays direct (_RnnxFunction), with no op dispatch added.

_OP_PLANS, _OP_MODELS = {}, {}


def _op_model(key):
    """(model, per-batch state size, output size, batch-major) of an op key."""
    entry = _OP_MODELS.get(key)
    if entry is None:
        model = rnnx.Model(key.split("|", 1)[1])
        per = sum(
            (2 if layer["bidirectional"] else 1)
            * layer["hidden"]
            * (2 if layer["cell"] == "lstm" else 1)
            for layer in model.layers
        )
        entry = _OP_MODELS[key] = (model, per, model.output_size, model.layout == "batch_major")
    return entry


def _op_plan(key, device, training):
    plan = _OP_PLANS.get((key, device, training))
    if plan is None:
        model = _op_model(key)[0]
        plan = _OP_PLANS[(key, device, training)] = _make_plan(
            model, key.split("|", 1)[0], device, training, "rnnx.torch"
        )
    return plan


def _op_stream(x):
    return torch.cuda.current_stream(x.device) if x.device.type == "cuda" else None


def _fake_outputs(key, x):
    _, per, out, batch_major = _op_model(key)
    n, m = x.shape[0], x.shape[1]
    return x.new_empty((n, m, out)), x.new_empty((per * (n if batch_major else m),))


def _register_ops():
    if not hasattr(torch.library, "custom_op"):  # torch < 2.4: compile graph-breaks instead
        return False
    from typing import Optional

    Tensor = torch.Tensor

    @torch.library.custom_op("rnnx::forward", mutates_args=())
    def forward(
        key: str, weights: Tensor, x: Tensor, init: Optional[Tensor], lengths: Optional[Tensor]
    ) -> tuple[Tensor, Tensor]:
        plan = _op_plan(key, x.device, False)
        return plan.forward(x, weights, lengths=lengths, init=init, stream=_op_stream(x))

    @forward.register_fake
    def _(key, weights, x, init, lengths):
        return _fake_outputs(key, x)

    @torch.library.custom_op("rnnx::forward_train", mutates_args=())
    def forward_train(
        key: str, weights: Tensor, x: Tensor, init: Optional[Tensor], lengths: Optional[Tensor]
    ) -> tuple[Tensor, Tensor, Tensor]:
        plan = _op_plan(key, x.device, True)
        y, final, reserve = plan.forward_train(
            x, weights, lengths=lengths, init=init, stream=_op_stream(x)
        )
        return y, final, reserve

    @forward_train.register_fake
    def _(key, weights, x, init, lengths):
        y, final = _fake_outputs(key, x)
        batch_major = _op_model(key)[3]
        steps, batch = (x.shape[1], x.shape[0]) if batch_major else (x.shape[0], x.shape[1])
        if isinstance(steps, int) and isinstance(batch, int):
            size = _op_plan(key, torch.device("cpu"), True).reserve_bytes(steps, batch)
        else:
            size = torch.library.get_ctx().new_dynamic_size()
        return y, final, x.new_empty((size,), dtype=torch.uint8)

    @torch.library.custom_op("rnnx::backward", mutates_args=())
    def backward(
        key: str,
        weights: Tensor,
        x: Tensor,
        y: Tensor,
        dy: Tensor,
        reserve: Tensor,
        init: Optional[Tensor],
        dfinal: Tensor,
        lengths: Optional[Tensor],
    ) -> tuple[Tensor, Tensor, Tensor]:
        plan = _op_plan(key, x.device, True)
        dx, dweights, dinit = plan.backward(
            x,
            weights,
            y,
            dy,
            reserve,
            lengths=lengths,
            init=init,
            dfinal=dfinal,
            dinit=None if init is not None else False,
            stream=_op_stream(x),
        )
        return dx, dweights, dinit if dinit is not None else x.new_empty((0,))

    @backward.register_fake
    def _(key, weights, x, y, dy, reserve, init, dfinal, lengths):
        dinit = torch.empty_like(init) if init is not None else x.new_empty((0,))
        return torch.empty_like(x), torch.empty_like(weights), dinit

    def setup_context(ctx, inputs, output):
        key, weights, x, init, lengths = inputs
        y, _, reserve = output
        ctx.key, ctx.has_init = key, init is not None
        ctx.save_for_backward(weights, x, y, reserve, init, lengths)

    def backward_rule(ctx, dy, dfinal, _dreserve):
        weights, x, y, reserve, init, lengths = ctx.saved_tensors
        dy = torch.zeros_like(y) if dy is None else dy.contiguous()
        if dfinal is None:
            _, per, _, batch_major = _op_model(ctx.key)
            dfinal = y.new_zeros((per * x.shape[0 if batch_major else 1],))
        dx, dweights, dinit = torch.ops.rnnx.backward(
            ctx.key, weights, x, y, dy, reserve, init, dfinal.contiguous(), lengths
        )
        return None, dweights, dx, dinit if ctx.has_init else None, None

    forward_train.register_autograd(backward_rule, setup_context=setup_context)
    return True


_OPS = _register_ops()
