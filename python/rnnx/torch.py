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
engine, on the tensor's device and torch's current stream. docs/PYTHON.md describes it.
"""

import math

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import rnnx

__all__ = ["LSTM", "GRU", "RNN", "RNNBase"]

_DTYPES = {torch.float32: "float32", torch.float64: "float64"}
_PARAMS = ("Wx", "Wh", "bx", "bh")


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


class RNNBase(torch.nn.Module):
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
        self._slots = []
        for k in range(num_layers):
            for d in dirs:
                suffix = "_reverse" if d == "bw" else ""
                for fmt, param in zip(names, _PARAMS):
                    shape = tuple(layout.shape(k, param))
                    self._slots.append((fmt.format(k, suffix), layout.offset(k, d, param), shape))
        self._flat_size = layout.size
        self._flat = None
        flat = torch.zeros(self._flat_size, device=device, dtype=dtype)
        for name_, offset, shape in self._slots:
            n = math.prod(shape)
            self.register_parameter(
                name_, torch.nn.Parameter(flat[offset : offset + n].view(shape))
            )
        self._flat = flat
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
                    f"rnnx.torch.{self.mode}: parameter {name}: expected {list(shape)} "
                    f"{first.dtype} on {first.device}, found {list(p.shape)} {p.dtype} on "
                    f"{p.device}"
                )
            flat[offset : offset + p.numel()].copy_(p.detach().reshape(-1))
        return flat

    def _split_gradients(self, dweights):
        return [
            dweights[offset : offset + math.prod(shape)].view(shape)
            for _, offset, shape in self._slots
        ]

    # --- plans ----------------------------------------------------------------------------------

    def _plan(self, device, dtype, training):
        key = (device, dtype, training)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        model = self._model(dtype)
        engine = self.engine
        if device.type == "cpu":
            if engine == "auto":
                engine = "cpu"
            plan = rnnx.Rnn(model, engine)
        elif device.type == "cuda":
            with torch.cuda.device(device):
                plan = rnnx.Rnn(model, engine, inference_only=not training and engine == "auto")
        else:
            _refuse(
                f"rnnx.torch.{self.mode}: device: expected a cpu or cuda tensor, found {device}"
            )
        self._plans[key] = plan
        return plan

    # --- the call -------------------------------------------------------------------------------

    def _state_shape(self, batch):
        return (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)

    def _init(self, hx, batch, x):
        """rnnx's init buffer from torch's hx (None: zeros)."""
        if hx is None:
            return None
        parts = hx if isinstance(hx, (tuple, list)) else (hx,)
        expected = 2 if self._cell == "lstm" else 1
        if len(parts) != expected:
            _refuse(
                f"rnnx.torch.{self.mode}: hx: expected {'(h_0, c_0)' if expected == 2 else 'h_0'}"
            )
        shape = self._state_shape(batch)
        for name, t in zip(("h_0", "c_0"), parts):
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
                found = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                _refuse(
                    f"rnnx.torch.{self.mode}: hx: {name}: expected {list(shape)}, found {found}"
                )
            if t.dtype != x.dtype or t.device != x.device:
                _refuse(
                    f"rnnx.torch.{self.mode}: hx: {name}: expected {x.dtype} on {x.device} as the "
                    f"input, found {t.dtype} on {t.device}"
                )
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
        packed = isinstance(input, PackedSequence)
        unbatched = False
        if packed:
            if lengths is not None:
                _refuse(f"rnnx.torch.{self.mode}: lengths: a PackedSequence carries its own")
            x, seq_lengths = pad_packed_sequence(input, batch_first=self.batch_first)
            lengths = seq_lengths.to(torch.int32)
        else:
            x = input
            if not isinstance(x, torch.Tensor):
                _refuse(f"rnnx.torch.{self.mode}: input: expected a tensor or a PackedSequence")
            if x.dim() == 2:  # unbatched [T, I], as torch.nn's layers take it
                unbatched = True
                x = x.unsqueeze(0 if self.batch_first else 1)
                if hx is not None:
                    hx = tuple(h.unsqueeze(1) for h in hx) if isinstance(hx, tuple) else hx
                    hx = hx.unsqueeze(1) if isinstance(hx, torch.Tensor) else hx
            elif x.dim() != 3:
                _refuse(
                    f"rnnx.torch.{self.mode}: input: expected 2 or 3 dimensions, found {x.dim()}"
                )
            if isinstance(lengths, torch.Tensor):
                if lengths.device.type != "cpu":
                    _refuse(f"rnnx.torch.{self.mode}: lengths: expected a cpu tensor or a list")
                lengths = lengths.to(torch.int32)
        batch = x.shape[0] if self.batch_first else x.shape[1]
        init = self._init(hx, batch, x)
        params = list(self._parameters.values())  # registration order: self._slots
        if x.dtype not in _DTYPES:
            _refuse(
                f"rnnx.torch.{self.mode}: input: expected torch.float32 or torch.float64, "
                f"found {x.dtype}"
            )
        if params[0].dtype != x.dtype or params[0].device != x.device:
            _refuse(
                f"rnnx.torch.{self.mode}: input: expected {params[0].dtype} on "
                f"{params[0].device} as the parameters, found {x.dtype} on {x.device}"
            )
        stream = torch.cuda.current_stream(x.device) if x.device.type == "cuda" else None
        grad = torch.is_grad_enabled() and (
            x.requires_grad
            or (init is not None and init.requires_grad)
            or any(p.requires_grad for p in params)
        )
        if grad:
            plan = self._plan(x.device, x.dtype, True)
            y, final = _RnnxFunction.apply(self, plan, x, init, lengths, stream, *params)
        else:
            plan = self._plan(x.device, x.dtype, False)
            y, final = plan.forward(
                x, self._flat_weights(params), lengths=lengths, init=init, stream=stream
            )
        state = self._final(final, batch)
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

